// pgha.WalCatalog and its value types. The GIL is released around hashing and file I/O.
#include <pybind11/stl.h>

#include <memory>
#include <variant>

#include "bindings.hpp"
#include "pgha/wal_catalog.hpp"

namespace pgha::py {

namespace {

TimelineHistory HistoryOf(const std::variant<TimelineHistory, TimelineId>& history) {
  if (std::holds_alternative<TimelineId>(history)) {
    return TimelineHistory(std::get<TimelineId>(history));
  }
  return std::get<TimelineHistory>(history);
}

void BindValues(pb::module_& m) {
  pb::class_<WalPosition>(m, "WalPosition",
                          "A node's timeline history and its end of WAL on the tip.")
      .def(pb::init([](const std::variant<TimelineHistory, TimelineId>& history, Lsn end) {
             return WalPosition{HistoryOf(history), end};
           }),
           pb::arg("history"), pb::arg("end_of_wal"))
      .def_readwrite("history", &WalPosition::history)
      .def_readwrite("end_of_wal", &WalPosition::end_of_wal)
      .def("__repr__", [](const WalPosition& p) {
        return "WalPosition(timeline=" + std::to_string(p.history.timeline()) + ", end_of_wal='" +
               p.end_of_wal.ToString() + "')";
      });
  pb::class_<WalFileInfo>(m, "WalFileInfo", "A file of the WAL catalogue.")
      .def_readonly("name", &WalFileInfo::name)
      .def_readonly("parsed", &WalFileInfo::parsed)
      .def_property_readonly(
          "kind", [](const WalFileInfo& f) { return std::string(WalFileKindName(f.parsed.kind)); })
      .def_property_readonly("timeline", [](const WalFileInfo& f) { return f.parsed.timeline; })
      .def_property_readonly("segment", [](const WalFileInfo& f) { return f.parsed.segment; })
      .def_readonly("size", &WalFileInfo::size)
      .def_readonly("mtime_ns", &WalFileInfo::mtime_ns)
      .def_readonly("md5", &WalFileInfo::md5)
      .def("__repr__", [](const WalFileInfo& f) {
        return "WalFileInfo('" + f.name + "', size=" + std::to_string(f.size) + ", md5='" + f.md5 +
               "')";
      });
  pb::class_<ValidLsnResult>(m, "ValidLsnResult", "The seed's validLsn answer {code, msg, cnt}.")
      .def_property_readonly("code",
                             [](const ValidLsnResult& r) { return static_cast<int>(r.code); })
      .def_property_readonly(
          "code_name",
          [](const ValidLsnResult& r) { return std::string(ValidLsnCodeName(r.code)); })
      .def_readonly("msg", &ValidLsnResult::msg)
      .def_readonly("cnt", &ValidLsnResult::cnt)
      .def("__repr__", [](const ValidLsnResult& r) {
        return "ValidLsnResult(code=" + std::to_string(static_cast<int>(r.code)) + ", msg='" +
               r.msg + "', cnt=" + std::to_string(r.cnt) + ")";
      });
  pb::class_<InstallResult>(m, "InstallResult", "A file placed in pg_wal by an upload.")
      .def_readonly("file", &InstallResult::file)
      .def_readonly("path", &InstallResult::path)
      .def_readonly("already_present", &InstallResult::already_present);
}

void BindUpload(pb::module_& m) {
  pb::class_<WalUpload>(m, "WalUpload",
                        "A streamed upload into pg_wal; aborted unless committed (also as a "
                        "context manager, on leaving the block without commit()).")
      .def(
          "write",
          [](WalUpload& u, const pb::bytes& data) {
            std::string_view v = data;
            pb::gil_scoped_release release;
            u.Write(v.data(), v.size());
          },
          pb::arg("data"))
      .def("commit",
           [](WalUpload& u) {
             pb::gil_scoped_release release;
             return u.Commit();
           })
      .def("abort", &WalUpload::Abort)
      .def_property_readonly("name", &WalUpload::name)
      .def_property_readonly("bytes_written", &WalUpload::bytes_written)
      .def(
          "__enter__", [](WalUpload& u) -> WalUpload& { return u; },
          pb::return_value_policy::reference)
      .def("__exit__", [](WalUpload& u, const pb::args&) {
        u.Abort();  // no-op after commit()
        return false;
      });
}

template <typename Fn>
auto Unlocked(Fn&& fn) {
  pb::gil_scoped_release release;
  return fn();
}

void BindCatalog(pb::module_& m) {
  pb::class_<WalCatalog>(m, "WalCatalog",
                         "The WAL catalogue of one pg_wal directory (docs/wal-catalogue.md).")
      .def(pb::init<std::string, std::uint32_t, std::optional<std::uint64_t>, int>(),
           pb::arg("pg_wal_dir"), pb::arg("segment_size") = kDefaultWalSegmentSize,
           pb::arg("system_identifier") = pb::none(), pb::arg("expected_major") = 0)
      .def(
          "list",
          [](const WalCatalog& c, const WalPosition& end, bool with_md5) {
            return Unlocked([&] { return c.List(end, with_md5); });
          },
          pb::arg("end"), pb::arg("with_md5") = true)
      .def(
          "from_position",
          [](const WalCatalog& c, TimelineId tli, Lsn lsn, const WalPosition& end) {
            return Unlocked([&] { return c.From(tli, lsn, end); });
          },
          pb::arg("timeline"), pb::arg("lsn"), pb::arg("end"))
      .def(
          "from_file",
          [](const WalCatalog& c, const std::string& name, const WalPosition& end) {
            return Unlocked([&] { return c.From(name, end); });
          },
          pb::arg("name"), pb::arg("end"))
      .def(
          "path_for",
          [](const WalCatalog& c, const std::string& name) {
            return Unlocked([&] { return c.PathFor(name); });
          },
          pb::arg("name"))
      .def(
          "install",
          [](WalCatalog& c, const std::string& name, const pb::bytes& data,
             std::optional<std::string> md5) {
            std::string_view v = data;
            return Unlocked([&] { return c.Install(name, v, md5); });
          },
          pb::arg("name"), pb::arg("data"), pb::arg("md5") = pb::none())
      .def(
          "begin_install",
          [](WalCatalog& c, const std::string& name, std::optional<std::string> md5,
             std::optional<std::uint64_t> size) {
            UploadOptions o{std::move(md5), size};
            return Unlocked([&] { return c.BeginInstall(name, o); });
          },
          pb::arg("name"), pb::arg("md5") = pb::none(), pb::arg("size") = pb::none())
      .def(
          "valid_lsn",
          [](const WalCatalog& c, TimelineId tli, Lsn lsn, const WalPosition& end,
             std::optional<Lsn> record, std::optional<std::uint32_t> crc) {
            if (record.has_value() != crc.has_value())
              throw Error(ErrorCode::kBadInput, "valid_lsn: give both record and crc, or neither");
            std::optional<WalRecordRef> last;
            if (record) last = WalRecordRef{*record, *crc};
            return Unlocked([&] { return c.ValidLsn(tli, lsn, end, last); });
          },
          pb::arg("timeline"), pb::arg("lsn"), pb::arg("end"), pb::kw_only(),
          pb::arg("record") = pb::none(), pb::arg("crc") = pb::none(),
          "The seed's validLsn; with the asking node's last record before `lsn` (its start and "
          "xl_crc), code 5 when that record is not this node's.")
      .def_property_readonly("hashes_computed", &WalCatalog::HashesComputed)
      .def_property_readonly("dir", &WalCatalog::dir)
      .def_property_readonly("segment_size", &WalCatalog::segment_size);
}

}  // namespace

void BindWalCatalog(pb::module_& m) {
  BindValues(m);
  BindUpload(m);
  BindCatalog(m);
}

}  // namespace pgha::py
