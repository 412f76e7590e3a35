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

namespace {

// Two nodes on timeline 1: the same WAL up to `fork`, then records of the same lengths with
// different contents (an old master's WAL nobody received, and the new master's after a
// failover by restart). Record boundaries coincide; only the records' CRCs tell them apart.
struct SameTimelineFork {
  WalBuilder master;
  WalBuilder old_master;
  Lsn fork;
  PgWalDir dir;  // the master's pg_wal
  pgha::WalPosition end;

  SameTimelineFork() {
    AddMixed(master, 25);
    fork = master.insert();
    old_master = master;
    for (int i = 0; i < 6; ++i) {
      old_master.AddRecord(130, 10, 0x10);
      master.AddRecord(130, 10, 0x20);
    }
    AddMixed(master, 12);  // the master went on
    REQUIRE(master.Segments() == std::vector<std::uint64_t>{1});
    dir.Put(master.SegmentName(1), master.Segment(1));
    end = {pgha::TimelineHistory::Parse("", 1), master.insert()};
  }

  // What the old master's own scan of its pg_wal says of its last record.
  pgha::WalRecordRef OldMastersLast() const {
    pgha::test::TempDir tmp;
    pgha::WalScanResult scan = pgha::ScanWalFiles(old_master.WriteTo(tmp.path()));
    REQUIRE(scan.last_record == old_master.records().back());
    return {scan.last_record, scan.last_record_crc};
  }
};

}  // namespace

TEST_CASE("ValidLsn with the asker's last record sees different WAL on the same timeline") {
  SameTimelineFork f;
  WalCatalog catalog(f.dir.path(), kSeg);
  const Lsn old_end = f.old_master.insert();
  // Timeline and boundaries alone: valid. This is what let a diverged node start.
  REQUIRE(catalog.ValidLsn(1, old_end, f.end).code == ValidLsnCode::kValid);
  const pgha::WalRecordRef last = f.OldMastersLast();
  ValidLsnResult r = catalog.ValidLsn(1, old_end, f.end, last);
  CHECK(r.code == ValidLsnCode::kRecordDiffers);
  CHECK(pgha::ValidLsnCodeName(r.code) == "record_differs");
  CHECK_MESSAGE(r.msg.find(last.start.ToString()) != std::string::npos, r.msg);
  CHECK(r.cnt == 0);

  // A node that has the master's own records up to a boundary is valid, with the count.
  pgha::test::TempDir tmp;
  const auto& records = f.master.records();
  const std::size_t k = records.size() - 10;  // past the fork
  REQUIRE(records[k - 1] >= f.fork);
  pgha::WalScanOptions one;
  one.start = records[k - 1];
  one.max_records = 1;
  pgha::WalScanResult mine = pgha::ScanWalFiles(f.master.WriteTo(tmp.path()), one);
  REQUIRE(mine.records == 1);
  CHECK(mine.last_record == records[k - 1]);
  CHECK(mine.end == records[k]);
  ValidLsnResult ok =
      catalog.ValidLsn(1, records[k], f.end, {{mine.last_record, mine.last_record_crc}});
  CHECK(ok.code == ValidLsnCode::kValid);
  CHECK(ok.cnt == 10);

  // Before the fork both have the same records.
  const Lsn before = f.fork;
  auto it = std::find(records.begin(), records.end(), before);
  REQUIRE(it != records.begin());
  one.start = *(it - 1);
  pgha::WalScanResult shared = pgha::ScanWalFiles(f.master.WriteTo(tmp.path()), one);
  CHECK(catalog.ValidLsn(1, before, f.end, {{shared.last_record, shared.last_record_crc}}).code ==
        ValidLsnCode::kValid);

  // A record position that is no record start here, and a wrong CRC, differ too.
  CHECK(catalog.ValidLsn(1, old_end, f.end, {{last.start + 8, last.crc}}).code ==
        ValidLsnCode::kRecordDiffers);
  CHECK(
      catalog.ValidLsn(1, records[k], f.end, {{mine.last_record, mine.last_record_crc ^ 1}}).code ==
      ValidLsnCode::kRecordDiffers);
  // Boundaries that do not coincide: mid-record alone, and the record says why.
  {
    WalBuilder other;
    AddMixed(other, 25);
    REQUIRE(other.insert() == f.fork);
    other.AddRecord(200, 10, 0x30);  // not a boundary of the master's WAL
    pgha::test::TempDir odir;
    pgha::WalScanResult o = pgha::ScanWalFiles(other.WriteTo(odir.path()));
    REQUIRE(o.last_record == f.fork);
    REQUIRE(catalog.ValidLsn(1, o.end, f.end).code == ValidLsnCode::kMidRecord);
    CHECK(catalog.ValidLsn(1, o.end, f.end, {{o.last_record, o.last_record_crc}}).code ==
          ValidLsnCode::kRecordDiffers);
  }
  // Answers other than valid are kept as they are.
  CHECK(catalog.ValidLsn(2, old_end, f.end, last).code == ValidLsnCode::kNoEntry);
  // A misaligned record start is bad input.
  CHECK_THROWS_AS(catalog.ValidLsn(1, old_end, f.end, {{last.start + 4, last.crc}}), pgha::Error);
}
