#include <pybind11/stl.h>

#include "bindings.hpp"
#include "pgha/slot_state.hpp"

namespace pgha::py {

namespace {

SlotState FromBytes(const pb::bytes& data, bool verify) {
  std::string_view v = data;
  return SlotState::Decode(reinterpret_cast<const std::uint8_t*>(v.data()), v.size(), verify);
}

pb::bytes ToBytes(const SlotState& s) {
  std::vector<std::uint8_t> b = s.Encode();
  return pb::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace

void BindSlotState(pb::module_& m) {
  pb::class_<SlotState>(m, "SlotState", "A pg_replslot/<slot>/state file (PostgreSQL 10-18).")
      .def_static("read", &SlotState::Read, pb::arg("path"), pb::arg("verify_checksum") = true,
                  pb::call_guard<pb::gil_scoped_release>())
      .def_static("from_bytes", &FromBytes, pb::arg("data"), pb::arg("verify_checksum") = true)
      .def_static(
          "create",
          [](int major, std::string_view name) {
            return SlotState::Create(SlotLayoutForMajor(major), name);
          },
          pb::arg("major"), pb::arg("name"), "A new persistent physical slot in `major`'s layout.")
      .def("to_bytes", &ToBytes, "The file bytes with a fresh CRC-32C.")
      .def_property_readonly(
          "layout", [](const SlotState& s) { return std::string(SlotLayoutName(s.layout())); })
      .def_property_readonly("version", &SlotState::version)
      .def_property_readonly("stored_checksum", &SlotState::stored_checksum)
      .def_property("name", &SlotState::name, &SlotState::set_name)
      .def_property("plugin", &SlotState::plugin, &SlotState::set_plugin)
      .def_property("database", &SlotState::database, &SlotState::set_database)
      .def_property_readonly("is_logical", &SlotState::is_logical)
      .def_property_readonly(
          "persistency",
          [](const SlotState& s) { return std::string(SlotPersistencyName(s.persistency())); })
      .def_property("xmin", &SlotState::xmin, &SlotState::set_xmin)
      .def_property("catalog_xmin", &SlotState::catalog_xmin, &SlotState::set_catalog_xmin)
      .def_property("restart_lsn", &SlotState::restart_lsn, &SlotState::set_restart_lsn)
      .def_property("confirmed_flush", &SlotState::confirmed_flush, &SlotState::set_confirmed_flush)
      .def_property_readonly("invalidated_at", &SlotState::invalidated_at)
      .def_property_readonly("invalidated", &SlotState::invalidated)
      .def("invalidation_reason", &SlotState::InvalidationReason, pb::arg("major") = 0)
      .def_property_readonly("two_phase_at", &SlotState::two_phase_at)
      .def_property("two_phase", &SlotState::two_phase, &SlotState::set_two_phase)
      .def_property_readonly("synced", &SlotState::synced)
      .def_property("failover", &SlotState::failover, &SlotState::set_failover)
      .def("__repr__", [](const SlotState& s) {
        return "SlotState(name='" + s.name() + "', layout='" +
               std::string(SlotLayoutName(s.layout())) + "')";
      });
}

}  // namespace pgha::py
