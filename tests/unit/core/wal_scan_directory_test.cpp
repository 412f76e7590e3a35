// ScanWalDirectory: segments chosen along a timeline history, as PostgreSQL's recovery does.
#include <doctest/doctest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_scan.hpp"
#include "wal_builder.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::WalScanOptions;
using pgha::WalScanResult;
using pgha::test::AddMixed;
using pgha::test::TempDir;
using pgha::test::WalBuilder;

namespace {

constexpr std::uint64_t kSeg = 1u << 20;

}  // namespace

TEST_CASE("ScanWalDirectory follows the history like XLogFileReadAnyTLI") {
  WalBuilder b1;  // timeline 1
  b1.AddRecord(static_cast<std::uint32_t>(kSeg * 3 / 2));
  AddMixed(b1, 20);
  b1.AddRecordEndingAt(Lsn(3 * kSeg + 4096));
  AddMixed(b1, 3);
  const Lsn switch_point = b1.insert();
  WalBuilder b2 = b1;  // timeline 2 forks at switch_point; timeline 1 goes on and diverges
  AddMixed(b1, 40);
  b1.AddRecord(static_cast<std::uint32_t>(kSeg));
  b2.set_timeline(2);
  AddMixed(b2, 30);
  b2.AddRecord(static_cast<std::uint32_t>(kSeg));
  b2.AddRecord(77);
  REQUIRE(b1.Segments() == std::vector<std::uint64_t>{1, 2, 3, 4});
  REQUIRE(b2.Segments() == std::vector<std::uint64_t>{1, 2, 3, 4});
  TempDir dir;
  b1.WriteTo(dir.path());
  for (std::uint64_t segno : {3u, 4u}) {
    pgha::test::WriteFile(dir.File(pgha::WalSegmentFileName(2, Lsn(segno * kSeg), kSeg)),
                          b2.Segment(segno));
  }
  pgha::test::WriteFile(dir.File("000000020000000000000005.partial"), b1.Segment(4));
  pgha::test::WriteFile(dir.File("00000002.history"), {});
  const pgha::TimelineHistory history = pgha::TimelineHistory::Parse(
      "1\t" + switch_point.ToString() + "\tno recovery target specified\n", 2);

  WalScanResult r = pgha::ScanWalDirectory(dir.path(), history);
  CHECK(r.start == Lsn(kSeg + 40));
  CHECK(r.records == b2.records().size());
  CHECK(r.end == b2.insert());
  CHECK(r.timeline == 2);
  CHECK(r.stop_reason ==
        "invalid record length at " + b2.insert().ToString() + ": wanted 24, got 0");

  r = pgha::ScanWalDirectory(dir.path(), pgha::TimelineHistory(1));
  CHECK(r.records == b1.records().size());
  CHECK(r.end == b1.insert());

  WalScanOptions options;
  options.start = b2.records()[10];
  r = pgha::ScanWalDirectory(dir.path(), history, options);
  CHECK(r.records == b2.records().size() - 10);

  // Without timeline 2's segment 4, timeline 1's is not used: it is older than segment 3's.
  ::unlink(dir.File("000000020000000000000004").c_str());
  r = pgha::ScanWalDirectory(dir.path(), history);
  CHECK(r.stop_reason == "no segment file for 0/400000");
  CHECK(r.end <= Lsn(4 * kSeg));

  options.start = Lsn(6 * kSeg + 40);
  CHECK_THROWS_AS(pgha::ScanWalDirectory(dir.path(), history, options), pgha::Error);
  TempDir empty;
  try {
    pgha::ScanWalDirectory(empty.path(), history);
    FAIL("accepted an empty directory");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
  }
}
