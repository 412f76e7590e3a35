// libFuzzer target: global/pg_control (ControlData::TryDecode). The input is decoded twice:
// with the CRC-32C check, and without it so that the fuzzer reaches the checks behind it.
// Invariants: a refusal is kBadInput; a file that decodes with the check decodes the same
// without it; decoded values are consistent (the REDO WAL file names the REDO segment, the
// layout's major, the derived timeline and state), and `fields` holds pg_controldata's lines.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "pgha/control_data.hpp"
#include "pgha/wal_file.hpp"

namespace {

using pgha::ControlData;

void CheckDecoded(const ControlData& c) {
  PGHA_FUZZ_CHECK(c.MajorVersionLowerBound() >= 10);
  PGHA_FUZZ_CHECK(pgha::IsValidWalSegmentSize(c.wal_segment_size));
  PGHA_FUZZ_CHECK(c.wal_level == "minimal" || c.wal_level == "replica" || c.wal_level == "logical");
  PGHA_FUZZ_CHECK(c.redo_wal_file.size() == 24);
  PGHA_FUZZ_CHECK(c.timeline != 0);
  PGHA_FUZZ_CHECK(c.redo_wal_file ==
                  pgha::WalFileName::ForLsn(c.timeline, c.redo, c.wal_segment_size).ToString());
  PGHA_FUZZ_CHECK(c.CurrentTimeline() >= c.timeline);
  PGHA_FUZZ_CHECK(c.CurrentTimeline() >= c.min_recovery_end_timeline);
  PGHA_FUZZ_CHECK(c.last_modified.has_value() && c.checkpoint_time.has_value());
  PGHA_FUZZ_CHECK(c.fields.count("Latest checkpoint location") == 1);
  PGHA_FUZZ_CHECK(c.fields.at("Latest checkpoint location") == c.checkpoint.ToString());
  PGHA_FUZZ_CHECK(c.prior_checkpoint.has_value() == (c.control_version == 1002));
  (void)c.CleanlyShutDown();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto checked = ControlData::TryDecode(data, size, /*verify_checksum=*/true);
  auto unchecked = ControlData::TryDecode(data, size, /*verify_checksum=*/false);
  if (!unchecked.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(unchecked.error());
    PGHA_FUZZ_CHECK(!checked.ok());
    PGHA_FUZZ_CHECK_REFUSAL(checked.error());
    return 0;
  }
  CheckDecoded(unchecked.value());
  if (checked.ok()) {
    PGHA_FUZZ_CHECK(checked.value().fields == unchecked.value().fields);
  } else {
    PGHA_FUZZ_CHECK_REFUSAL(checked.error());
  }
  return 0;
}
