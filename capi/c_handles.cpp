#include "c_handles.hpp"

#include "c_guard.hpp"

namespace pgha::capi {

void FillControlData(const ControlData& cd, pgha_control_data* out) {
  out->control_version = cd.control_version;
  out->system_identifier = cd.system_identifier;
  out->cluster_state = static_cast<int>(cd.state);
  out->checkpoint = cd.checkpoint.value();
  out->redo = cd.redo.value();
  CopyOut(cd.redo_wal_file, out->redo_wal_file, sizeof out->redo_wal_file);
  out->timeline = cd.timeline;
  out->prev_timeline = cd.prev_timeline;
  out->min_recovery_end = cd.min_recovery_end.value();
  out->min_recovery_end_timeline = cd.min_recovery_end_timeline;
  out->wal_segment_size = cd.wal_segment_size;
  out->data_checksum_version = cd.data_checksum_version;
  out->current_timeline = cd.CurrentTimeline();
}

}  // namespace pgha::capi
