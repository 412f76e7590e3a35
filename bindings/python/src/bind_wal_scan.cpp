#include <pybind11/stl.h>

#include <variant>

#include "bindings.hpp"
#include "pgha/wal_scan.hpp"

namespace pgha::py {

namespace {

WalScanOptions MakeOptions(std::optional<Lsn> start, std::uint32_t segment_size,
                           std::optional<std::uint64_t> system_identifier,
                           std::uint64_t max_records) {
  WalScanOptions o;
  o.max_records = max_records;
  o.start = start.value_or(Lsn());
  o.segment_size = segment_size;
  o.system_identifier = system_identifier;
  return o;
}

}  // namespace

void BindWalScan(pb::module_& m) {
  pb::class_<WalScanResult>(m, "WalScanResult", "Where valid WAL ends, and what was read.")
      .def_readonly("start", &WalScanResult::start)
      .def_readonly("end", &WalScanResult::end)
      .def_property_readonly("last_record",
                             [](const WalScanResult& r) { return LsnOrNone(r.last_record); })
      .def_readonly("last_record_crc", &WalScanResult::last_record_crc)
      .def_readonly("records", &WalScanResult::records)
      .def_readonly("timeline", &WalScanResult::timeline)
      .def_readonly("page_magic", &WalScanResult::page_magic)
      .def_readonly("postgres_major", &WalScanResult::postgres_major)
      .def_readonly("system_identifier", &WalScanResult::system_identifier)
      .def_readonly("segment_size", &WalScanResult::segment_size)
      .def_readonly("bytes_read", &WalScanResult::bytes_read)
      .def_readonly("stop_reason", &WalScanResult::stop_reason)
      .def("__repr__", [](const WalScanResult& r) {
        return "WalScanResult(end='" + r.end.ToString() +
               "', records=" + std::to_string(r.records) + ")";
      });
  m.def(
      "scan_wal_files",
      [](const std::vector<std::string>& paths, std::optional<Lsn> start,
         std::uint32_t segment_size, std::optional<std::uint64_t> sysid,
         std::uint64_t max_records) {
        WalScanOptions o = MakeOptions(start, segment_size, sysid, max_records);
        pb::gil_scoped_release release;
        return ScanWalFiles(paths, o);
      },
      pb::arg("paths"), pb::arg("start") = pb::none(), pb::arg("segment_size") = 0,
      pb::arg("system_identifier") = pb::none(), pb::arg("max_records") = 0,
      "Finds the end of valid WAL in consecutive segment files.");
  m.def(
      "scan_wal_directory",
      [](const std::string& dir, std::variant<TimelineHistory, TimelineId> history,
         std::optional<Lsn> start, std::uint32_t segment_size, std::optional<std::uint64_t> sysid,
         std::uint64_t max_records) {
        WalScanOptions o = MakeOptions(start, segment_size, sysid, max_records);
        TimelineHistory h = std::holds_alternative<TimelineId>(history)
                                ? TimelineHistory(std::get<TimelineId>(history))
                                : std::get<TimelineHistory>(history);
        pb::gil_scoped_release release;
        return ScanWalDirectory(dir, h, o);
      },
      pb::arg("dir"), pb::arg("history") = 1, pb::arg("start") = pb::none(),
      pb::arg("segment_size") = 0, pb::arg("system_identifier") = pb::none(),
      pb::arg("max_records") = 0,
      "Finds the end of valid WAL in a pg_wal directory along a timeline history.");
}

}  // namespace pgha::py
