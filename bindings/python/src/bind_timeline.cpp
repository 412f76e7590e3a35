#include <pybind11/stl.h>

#include <cstdint>
#include <string_view>
#include <variant>

#include "bindings.hpp"
#include "pgha/control_data.hpp"
#include "pgha/timeline.hpp"

namespace pgha::py {

void BindTimeline(pb::module_& m) {
  pb::class_<TimelineHistoryEntry>(m, "TimelineHistoryEntry")
      .def_readonly("timeline", &TimelineHistoryEntry::timeline)
      .def_property_readonly("begin",
                             [](const TimelineHistoryEntry& e) { return LsnOrNone(e.begin); })
      .def_property_readonly("end", [](const TimelineHistoryEntry& e) { return LsnOrNone(e.end); })
      .def_readonly("reason", &TimelineHistoryEntry::reason)
      .def("__repr__", [](const TimelineHistoryEntry& e) {
        return "TimelineHistoryEntry(timeline=" + std::to_string(e.timeline) + ", begin='" +
               e.begin.ToString() + "', end='" + e.end.ToString() + "')";
      });
  pb::class_<FollowCheck>(m, "FollowCheck")
      .def_property_readonly(
          "verdict", [](const FollowCheck& c) { return std::string(FollowVerdictName(c.verdict)); })
      .def_property_readonly(
          "ok", [](const FollowCheck& c) { return c.verdict == FollowVerdict::kValid; })
      .def_property_readonly("switch_point",
                             [](const FollowCheck& c) { return LsnOrNone(c.switch_point); })
      .def_readonly("detail", &FollowCheck::detail)
      .def("__repr__", [](const FollowCheck& c) {
        return "FollowCheck(verdict='" + std::string(FollowVerdictName(c.verdict)) + "')";
      });
  pb::class_<TimelineHistory>(m, "TimelineHistory", "The parsed history of one timeline.")
      .def(pb::init<TimelineId>(), pb::arg("timeline") = 1)
      .def_static("parse", &TimelineHistory::Parse, pb::arg("text"), pb::arg("timeline"))
      .def_static("read", &TimelineHistory::Read, pb::arg("path"), pb::arg("timeline") = 0,
                  pb::call_guard<pb::gil_scoped_release>())
      .def_property_readonly("timeline", &TimelineHistory::timeline)
      .def_property_readonly("entries", &TimelineHistory::entries)
      .def("contains", &TimelineHistory::Contains, pb::arg("timeline"))
      .def(
          "switch_point",
          [](const TimelineHistory& h, TimelineId t) { return LsnOrNone(h.SwitchPoint(t)); },
          pb::arg("timeline"), "Where `timeline` ended; None for the tip.")
      .def("timeline_of", &TimelineHistory::TimelineOf, pb::arg("lsn"))
      .def(
          "can_follow",
          [](const TimelineHistory& h, TimelineId t, Lsn lsn, std::optional<Lsn> flush) {
            return h.CanFollow(t, lsn, flush.value_or(Lsn()));
          },
          pb::arg("timeline"), pb::arg("lsn"), pb::arg("primary_flush") = pb::none())
      .def("to_text", &TimelineHistory::ToText)
      .def("__repr__", [](const TimelineHistory& h) {
        return "TimelineHistory(timeline=" + std::to_string(h.timeline()) + ")";
      });
}

void BindControlData(pb::module_& m) {
  pb::class_<ControlData>(m, "ControlData",
                          "global/pg_control decoded, or pg_controldata output parsed.")
      .def_static("parse", &ControlData::Parse, pb::arg("text"))
      .def_static(
          "from_bytes",
          [](const pb::bytes& data, bool verify) {
            std::string_view v = data;
            return ControlData::Decode(reinterpret_cast<const std::uint8_t*>(v.data()), v.size(),
                                       verify);
          },
          pb::arg("data"), pb::arg("verify_checksum") = true)
      .def_static("read", &ControlData::Read, pb::arg("path"), pb::arg("verify_checksum") = true,
                  pb::call_guard<pb::gil_scoped_release>())
      .def_static("read_data_directory", &ControlData::ReadDataDirectory, pb::arg("data_dir"),
                  pb::arg("verify_checksum") = true, pb::call_guard<pb::gil_scoped_release>())
      .def_readonly("control_version", &ControlData::control_version)
      .def_readonly("catalog_version", &ControlData::catalog_version)
      .def_readonly("system_identifier", &ControlData::system_identifier)
      .def_property_readonly(
          "state", [](const ControlData& c) { return std::string(ClusterStateName(c.state)); })
      .def_readonly("last_modified", &ControlData::last_modified)
      .def_readonly("checkpoint", &ControlData::checkpoint)
      .def_readonly("prior_checkpoint", &ControlData::prior_checkpoint)
      .def_readonly("redo", &ControlData::redo)
      .def_readonly("redo_wal_file", &ControlData::redo_wal_file)
      .def_readonly("timeline", &ControlData::timeline)
      .def_readonly("prev_timeline", &ControlData::prev_timeline)
      .def_readonly("full_page_writes", &ControlData::full_page_writes)
      .def_readonly("next_xid", &ControlData::next_xid)
      .def_readonly("checkpoint_time", &ControlData::checkpoint_time)
      .def_readonly("min_recovery_end", &ControlData::min_recovery_end)
      .def_readonly("min_recovery_end_timeline", &ControlData::min_recovery_end_timeline)
      .def_readonly("backup_start", &ControlData::backup_start)
      .def_readonly("backup_end", &ControlData::backup_end)
      .def_readonly("end_of_backup_required", &ControlData::end_of_backup_required)
      .def_readonly("wal_level", &ControlData::wal_level)
      .def_readonly("wal_log_hints", &ControlData::wal_log_hints)
      .def_readonly("block_size", &ControlData::block_size)
      .def_readonly("wal_segment_size", &ControlData::wal_segment_size)
      .def_readonly("wal_block_size", &ControlData::wal_block_size)
      .def_readonly("data_checksum_version", &ControlData::data_checksum_version)
      .def_readonly("fields", &ControlData::fields)
      .def_property_readonly("current_timeline", &ControlData::CurrentTimeline)
      .def_property_readonly("cleanly_shut_down", &ControlData::CleanlyShutDown)
      .def_property_readonly("major_version_lower_bound", &ControlData::MajorVersionLowerBound);
}

}  // namespace pgha::py
