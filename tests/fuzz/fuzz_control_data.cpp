// libFuzzer target: pg_controldata output (ControlData::TryParse). Invariants: a refusal is
// kBadInput; a parsed output keeps every line in `fields`, its derived values are consistent,
// and the text rebuilt from `fields` ("label: value" lines) parses to the same values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "pgha/control_data.hpp"

namespace {

using pgha::ControlData;

bool SameValues(const ControlData& a, const ControlData& b) {
  return a.control_version == b.control_version && a.catalog_version == b.catalog_version &&
         a.system_identifier == b.system_identifier && a.state == b.state &&
         a.checkpoint == b.checkpoint && a.prior_checkpoint == b.prior_checkpoint &&
         a.redo == b.redo && a.redo_wal_file == b.redo_wal_file && a.timeline == b.timeline &&
         a.prev_timeline == b.prev_timeline && a.next_xid == b.next_xid &&
         a.min_recovery_end == b.min_recovery_end &&
         a.min_recovery_end_timeline == b.min_recovery_end_timeline && a.wal_level == b.wal_level &&
         a.wal_log_hints == b.wal_log_hints && a.wal_segment_size == b.wal_segment_size &&
         a.wal_block_size == b.wal_block_size &&
         a.data_checksum_version == b.data_checksum_version && a.fields == b.fields;
}

void CheckDerived(const ControlData& c) {
  const int major = c.MajorVersionLowerBound();
  PGHA_FUZZ_CHECK(major == 0 || (major >= 10 && major <= 18));
  PGHA_FUZZ_CHECK(c.timeline != 0);
  PGHA_FUZZ_CHECK(c.CurrentTimeline() >= c.timeline);
  PGHA_FUZZ_CHECK(c.CurrentTimeline() >= c.min_recovery_end_timeline);
  PGHA_FUZZ_CHECK(pgha::IsValidWalSegmentSize(c.wal_segment_size));
  PGHA_FUZZ_CHECK(c.CleanlyShutDown() == (c.state == pgha::ClusterState::kShutDown ||
                                          c.state == pgha::ClusterState::kShutDownInRecovery));
  PGHA_FUZZ_CHECK(!pgha::ClusterStateName(c.state).empty());
  PGHA_FUZZ_CHECK(c.fields.count("Latest checkpoint's REDO WAL file") == 1);
  PGHA_FUZZ_CHECK(c.fields.at("Latest checkpoint's REDO WAL file") == c.redo_wal_file);
  for (const auto& [label, value] : c.fields) {
    PGHA_FUZZ_CHECK(!label.empty() && label.find(':') == std::string::npos);
    PGHA_FUZZ_CHECK(label.find('\n') == std::string::npos && value.find('\n') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pgha::Result<ControlData> r = ControlData::TryParse(pgha::fuzz::AsText(data, size));
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    return 0;
  }
  const ControlData& c = r.value();
  CheckDerived(c);
  std::string rebuilt;
  for (const auto& [label, value] : c.fields)
    rebuilt.append(label).append(": ").append(value) += '\n';
  pgha::Result<ControlData> again = ControlData::TryParse(rebuilt);
  PGHA_FUZZ_CHECK(again.ok());
  PGHA_FUZZ_CHECK(SameValues(c, again.value()));
  return 0;
}
