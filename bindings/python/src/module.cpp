// The pgha Python module (_pgha; the pgha package re-exports it).
#include <pybind11/stl.h>

#include <map>

#include "bindings.hpp"
#include "pgha/crc32c.hpp"
#include "pgha/error.hpp"
#include "pgha/version.hpp"

namespace pgha::py {

namespace {

// Python exception classes by ErrorCode, registered by pgha/__init__.py.
std::map<int, pb::object>& ErrorClasses() {
  static auto* classes = new std::map<int, pb::object>();  // never destroyed: outlives the module
  return *classes;
}

void SetErrorClasses(const pb::dict& classes) {
  for (auto item : classes)
    ErrorClasses()[item.first.cast<int>()] = pb::reinterpret_borrow<pb::object>(item.second);
}

void Translate(const Error& e) {
  auto& classes = ErrorClasses();
  auto it = classes.find(static_cast<int>(e.code()));
  if (it == classes.end()) it = classes.find(static_cast<int>(ErrorCode::kInternal));
  if (it == classes.end()) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return;
  }
  pb::object exc = it->second(e.what());
  exc.attr("position") = e.position() ? pb::cast(*e.position()) : pb::none();
  PyErr_SetObject(it->second.ptr(), exc.ptr());
}

}  // namespace

void BindErrors(pb::module_& m) {
  m.def("_set_error_classes", &SetErrorClasses,
        "Registers the exception class of each ErrorCode (called by pgha/__init__.py).");
  pb::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      Translate(e);
    }
  });
  m.def(
      "error_code_name",
      [](int code) { return std::string(ErrorCodeName(static_cast<ErrorCode>(code))); },
      "The stable name of an error code, e.g. 1 -> 'bad_input'.");
}

}  // namespace pgha::py

PYBIND11_MODULE(_pgha, m) {
  using namespace pgha::py;
  m.doc() = "pgha: PostgreSQL high availability (LSNs, WAL files, timelines, slots).";
  m.attr("__version__") = pgha::kVersion;
  BindErrors(m);
  BindLsn(m);
  BindWalFile(m);
  BindTimeline(m);
  BindControlData(m);
  BindSlotState(m);
  BindWalScan(m);
  BindNodeState(m);
  BindInstance(m);
  BindLogicalSlots(m);
  BindWalCatalog(m);
  m.def(
      "crc32c",
      [](const pb::bytes& data) {
        std::string_view v = data;
        return pgha::Crc32c(v.data(), v.size());
      },
      pb::arg("data"), "CRC-32C (Castagnoli) of `data`, as PostgreSQL computes it.");
}
