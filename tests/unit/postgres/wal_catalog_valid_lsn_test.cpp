// WalCatalog::ValidLsn: the seed's codes on synthetic WAL with a timeline fork.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "pg_wal_dir.hpp"
#include "pgha/wal_catalog.hpp"
#include "pgha/wal_page.hpp"
#include "wal_builder.hpp"

using pgha::Lsn;
using pgha::ValidLsnCode;
using pgha::ValidLsnResult;
using pgha::WalCatalog;
using pgha::test::AddMixed;
using pgha::test::PgWalDir;
using pgha::test::WalBuilder;

namespace {

constexpr std::uint32_t kSeg = 1u << 20;

// Timeline 1 forks into 2 inside segment 2; timeline 1 went on (an old primary's WAL).
struct Forked {
  WalBuilder b1;
  WalBuilder b2;
  Lsn switch_point;
  PgWalDir dir;
  pgha::WalPosition end;

  Forked() {
    AddMixed(b1, 30);
    b1.AddRecord(kSeg);  // into segment 2
    AddMixed(b1, 10);
    switch_point = b1.insert();
    b2 = b1;
    AddMixed(b1, 20);
    b2.set_timeline(2);
    AddMixed(b2, 30);
    b2.AddRecord(kSeg);  // into segment 3
    AddMixed(b2, 7);
    REQUIRE(b1.Segments() == std::vector<std::uint64_t>{1, 2});
    REQUIRE(b2.Segments() == std::vector<std::uint64_t>{1, 2, 3});
    dir.Put(b1.SegmentName(1), b1.Segment(1));
    dir.Put(b1.SegmentName(2), b1.Segment(2));
    dir.Put("000000020000000000000002", b2.Segment(2));
    dir.Put("000000020000000000000003", b2.Segment(3));
    const std::string history =
        "1\t" + switch_point.ToString() + "\tno recovery target specified\n";
    dir.Put("00000002.history", history);
    end = {pgha::TimelineHistory::Parse(history, 2), b2.insert()};
  }

  // Records of timeline 2's WAL from `lsn` (a record start) to its end.
  std::uint64_t RecordsFrom(Lsn lsn) const {
    const auto& r = b2.records();
    return static_cast<std::uint64_t>(r.end() - std::find(r.begin(), r.end(), lsn));
  }
};

}  // namespace

TEST_CASE("ValidLsn: record boundaries on this node's history are valid, with the count") {
  Forked f;
  WalCatalog catalog(f.dir.path(), kSeg);
  const auto& records = f.b2.records();
  REQUIRE(std::find(records.begin(), records.end(), f.switch_point) != records.end());
  for (std::size_t k : {std::size_t{0}, std::size_t{7}, std::size_t{31}, std::size_t{40},
                        std::size_t{41}, records.size() - 9, records.size() - 1}) {
    const Lsn lsn = records[k];
    const pgha::TimelineId tli = lsn < f.switch_point ? 1 : 2;
    CAPTURE(k);
    ValidLsnResult r = catalog.ValidLsn(tli, lsn, f.end);
    CHECK(r.code == ValidLsnCode::kValid);
    CHECK(r.msg == "Valid lsn");
    CHECK(r.cnt == records.size() - k);
    if (lsn > f.switch_point) {
      CHECK(catalog.ValidLsn(1, lsn, f.end).code == ValidLsnCode::kDiverged);
    }
  }
  ValidLsnResult at_switch = catalog.ValidLsn(1, f.switch_point, f.end);
  CHECK(at_switch.code == ValidLsnCode::kValid);
  CHECK(at_switch.cnt == f.RecordsFrom(f.switch_point));
  ValidLsnResult at_end = catalog.ValidLsn(2, f.end.end_of_wal, f.end);
  CHECK(at_end.code == ValidLsnCode::kValid);
  CHECK(at_end.cnt == 0);
}

TEST_CASE("ValidLsn: mid-record, no entry, diverged, missing file") {
  Forked f;
  WalCatalog catalog(f.dir.path(), kSeg);
  const auto& extents = f.b2.extents();
  // A record longer than a page: 8 bytes in, and the next page, which continues it.
  auto big = std::find_if(extents.begin(), extents.end(), [](const auto& e) {
    return e.second.value() - e.first.value() > 3 * pgha::kWalPageSize &&
           e.first > Lsn(std::uint64_t{2} * kSeg);
  });
  REQUIRE(big != extents.end());
  const Lsn next_page = Lsn((big->first.value() / pgha::kWalPageSize + 1) * pgha::kWalPageSize);
  struct Case {
    pgha::TimelineId tli;
    Lsn lsn;
    ValidLsnCode code;
    std::string in_msg;
  };
  const Case cases[] = {
      {2, big->first + 8, ValidLsnCode::kMidRecord, (big->first + 8).ToString()},
      {2, big->first + 4, ValidLsnCode::kMidRecord, "aligned"},
      {2, next_page, ValidLsnCode::kMidRecord, "contrecord"},
      {1, Lsn(kSeg + 16), ValidLsnCode::kMidRecord, "record"},
      {2, f.end.end_of_wal + 8, ValidLsnCode::kNoEntry, f.end.end_of_wal.ToString()},
      {3, Lsn(kSeg + 40), ValidLsnCode::kNoEntry, "timeline 3"},
      {0, Lsn(kSeg + 40), ValidLsnCode::kNoEntry, "timeline 0"},
      {1, f.switch_point + 8, ValidLsnCode::kDiverged, f.switch_point.ToString()},
      {1, f.b1.records().back(), ValidLsnCode::kDiverged, f.switch_point.ToString()},
  };
  for (const Case& c : cases) {
    CAPTURE(c.tli);
    CAPTURE(c.lsn.ToString());
    ValidLsnResult r = catalog.ValidLsn(c.tli, c.lsn, f.end);
    CHECK(r.code == c.code);
    CHECK(r.cnt == 0);
    CHECK(r.msg.find(c.in_msg) != std::string::npos);
  }

  // The segment holding the LSN, or one on the way to the end of WAL, is gone.
  std::filesystem::remove(f.dir.File("000000020000000000000003"));
  ValidLsnResult r = catalog.ValidLsn(2, f.b2.records()[5], f.end);
  CHECK(r.code == ValidLsnCode::kFileMissing);
  CHECK_MESSAGE(r.msg.find("000000020000000000000003") != std::string::npos, r.msg);
  std::filesystem::remove(f.dir.File("000000010000000000000001"));
  r = catalog.ValidLsn(1, f.b2.records()[3], f.end);
  CHECK(r.code == ValidLsnCode::kFileMissing);
  CHECK(r.msg.find("000000010000000000000001") != std::string::npos);
  CHECK(pgha::ValidLsnCodeName(r.code) == "file_missing");
}
