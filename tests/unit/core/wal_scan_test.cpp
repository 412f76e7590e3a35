#include "pgha/wal_scan.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_page.hpp"
#include "wal_builder.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::ScanWalFiles;
using pgha::WalScanOptions;
using pgha::WalScanResult;
using pgha::test::AddMixed;
using pgha::test::TempDir;
using pgha::test::WalBuilder;
using pgha::test::WalBuilderOptions;

namespace {

constexpr std::uint64_t kSeg = 1u << 20;

WalScanResult Scan(const WalBuilder& b, const TempDir& dir, WalScanOptions options = {}) {
  return ScanWalFiles(b.WriteTo(dir.path()), options);
}

std::string ZeroLength(Lsn at) {
  return "invalid record length at " + at.ToString() + ": wanted 24, got 0";
}

// Start of the first record with bytes at or after `page`.
Lsn FirstReaching(const WalBuilder& b, Lsn page) {
  for (const auto& [start, end] : b.extents()) {
    if (end > page) return start;
  }
  return Lsn();
}

void CheckBadInput(const std::vector<std::string>& files, const WalScanOptions& options) {
  try {
    ScanWalFiles(files, options);
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
  }
}

}  // namespace

TEST_CASE("ScanWalFiles stops at a clean tail of zeros") {
  WalBuilder b;
  AddMixed(b, 40);
  TempDir dir;
  WalScanResult r = Scan(b, dir);
  CHECK(r.start == Lsn(kSeg + 40));
  CHECK(r.start == b.records().front());
  CHECK(r.end == b.insert());
  CHECK(r.last_record == b.records().back());
  CHECK(r.records == 40);
  CHECK(r.stop_reason == ZeroLength(b.insert()));
  CHECK(r.timeline == 1);
  CHECK(r.page_magic == 0xD110);
  CHECK(r.postgres_major == 15);
  CHECK(r.system_identifier == b.system_identifier());
  CHECK(r.segment_size == kSeg);
  CHECK(r.bytes_read > 0);
  CHECK(r.bytes_read <= kSeg);
}

TEST_CASE("records crossing pages, split headers and segments are read whole") {
  WalBuilder b;
  b.AddRecord(100);
  Lsn crossing = b.AddRecord(12000);  // crosses one page boundary
  b.AddRecordLeaving(16);             // 16 bytes left: the next header is split 16 + 8
  Lsn split = b.AddRecord(200);
  b.AddRecordEndingAt(Lsn(2 * kSeg - 64));  // leave 64 bytes in segment 1
  Lsn across = b.AddRecord(3000);           // crosses into segment 2
  b.AddRecord(500);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  REQUIRE(files.size() == 2);
  WalScanResult r = ScanWalFiles(files);
  CHECK(r.records == b.records().size());
  CHECK(r.end == b.insert());
  CHECK(r.stop_reason == ZeroLength(b.insert()));
  CHECK(split.value() % 8192 == 8192 - 16);
  // Segment 2 starts with the rest of `across`: XLP_FIRST_IS_CONTRECORD and xlp_rem_len.
  std::vector<std::uint8_t>& seg2 = b.Segment(2);
  CHECK(seg2[2] == (pgha::kXlpLongHeader | pgha::kXlpFirstIsContRecord));
  CHECK((seg2[16] | seg2[17] << 8) == 3000 - 64);

  SUBCASE("a byte changed in the second page of a crossing record breaks its CRC") {
    b.At(Lsn(b.extents()[1].second.value() - 1)) ^= 0x01;  // its last byte, on page 2
    r = Scan(b, dir);
    CHECK(r.end == crossing);
    CHECK(r.stop_reason ==
          "incorrect resource manager data checksum in record at " + crossing.ToString());
  }
  SUBCASE("the half of a split header on the next page is checked too") {
    b.At(Lsn(split.value() + 16 + 24 + 1)) = 50;  // xl_rmid, after the next page's header
    r = Scan(b, dir);
    CHECK(r.end == split);
    CHECK(r.stop_reason == "invalid resource manager ID 50 at " + split.ToString());
  }
  SUBCASE("a wrong xlp_rem_len on the continuation page") {
    seg2[16] ^= 0x08;
    r = Scan(b, dir);
    CHECK(r.end == across);
    CHECK(r.stop_reason.rfind("invalid contrecord length", 0) == 0);
  }
  SUBCASE("a continuation page without XLP_FIRST_IS_CONTRECORD") {
    seg2[2] = pgha::kXlpLongHeader;
    r = Scan(b, dir);
    CHECK(r.end == across);
    CHECK(r.stop_reason == "there is no contrecord flag at " + across.ToString());
  }
  SUBCASE("without a start, the scan of segment 2 skips the continuation") {
    r = ScanWalFiles({files[1]});
    CHECK(r.start == Lsn(2 * kSeg + 40 + (3000 - 64 + 7) / 8 * 8));
    CHECK(r.records == 1);
    CHECK(r.end == b.insert());
  }
}

TEST_CASE("a continuation longer than the first page is skipped page by page") {
  WalBuilder b;
  b.AddRecord(64);
  b.AddRecord(static_cast<std::uint32_t>(2 * kSeg));  // covers all of segment 2
  Lsn first_in_3 = b.AddRecord(80);
  b.AddRecord(90);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  REQUIRE(files.size() == 3);
  WalScanResult r = ScanWalFiles({files[1], files[2]});
  CHECK(r.start == first_in_3);
  CHECK(r.records == 2);
  CHECK(r.end == b.insert());
  r = ScanWalFiles(files);
  CHECK(r.records == 4);
  CHECK(r.end == b.insert());
}

TEST_CASE("XLOG_SWITCH continues at the next segment's first record") {
  WalBuilder b;
  AddMixed(b, 7);
  Lsn sw = b.AddSwitch();
  CHECK(b.insert() == Lsn(2 * kSeg));
  AddMixed(b, 5);
  TempDir dir;
  WalScanResult r = Scan(b, dir);
  CHECK(r.records == 13);
  CHECK(r.end == b.insert());
  CHECK(r.stop_reason == ZeroLength(b.insert()));

  SUBCASE("a switch as the last record with the next segment missing") {
    WalBuilder c;
    AddMixed(c, 3);
    c.AddSwitch();
    TempDir d2;
    r = Scan(c, d2);
    CHECK(r.records == 4);
    CHECK(r.end == Lsn(2 * kSeg));
    CHECK(r.stop_reason == "no segment file for 0/200000");
  }
  SUBCASE("a switch as the last record with a zeroed next segment") {
    WalBuilder c;
    AddMixed(c, 3);
    c.AddSwitch();
    c.AddEmptySegment(2);
    TempDir d2;
    r = Scan(c, d2);
    CHECK(r.end == Lsn(2 * kSeg));
    CHECK(r.stop_reason ==
          "invalid magic number 0000 in log segment 000000010000000000000002, offset 0");
  }
  CHECK(sw < Lsn(2 * kSeg));
}

TEST_CASE("a torn tail ends the WAL at the torn record") {
  WalBuilder b;
  AddMixed(b, 12);
  Lsn last = b.AddRecord(5000);
  b.At(Lsn(b.extents().back().second.value() - 1)) ^= 0xFF;
  TempDir dir;
  WalScanResult r = Scan(b, dir);
  CHECK(r.records == 12);
  CHECK(r.end == last);
  CHECK(r.last_record == b.records()[11]);
  CHECK(r.stop_reason ==
        "incorrect resource manager data checksum in record at " + last.ToString());
}

TEST_CASE("a recycled segment ends the WAL at its old pageaddr") {
  WalBuilderOptions old_options;
  old_options.seed = 9;
  old_options.first_segment = 0;
  WalBuilder old(old_options);  // an older segment 1, recycled under a newer name
  AddMixed(old, 200);

  SUBCASE("the next segment file is recycled") {
    WalBuilder b;
    AddMixed(b, 20);
    b.AddRecordEndingAt(Lsn(2 * kSeg));
    TempDir dir;
    std::vector<std::string> files = b.WriteTo(dir.path());
    files.push_back(dir.File("000000010000000000000002"));
    pgha::test::WriteFile(files.back(), old.Segment(0));
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.records == 21);
    CHECK(r.end == Lsn(2 * kSeg));
    CHECK(r.stop_reason ==
          "unexpected pageaddr 0/0 in log segment 000000010000000000000002, offset 0");
  }
  SUBCASE("the current segment is recycled past its last written page") {
    WalBuilder b;
    AddMixed(b, 10);
    b.AddRecordLeaving(0);
    Lsn page = b.insert();
    REQUIRE(page.value() % 8192 == 0);
    std::vector<std::uint8_t>& seg = b.Segment(1);
    std::vector<std::uint8_t>& stale = old.Segment(0);
    std::copy(stale.begin() + static_cast<long>(page.value() - kSeg), stale.end(),
              seg.begin() + static_cast<long>(page.value() - kSeg));
    TempDir dir;
    WalScanResult r = Scan(b, dir);
    CHECK(r.records == 11);
    CHECK(r.end == page);
    CHECK(r.stop_reason.rfind("unexpected pageaddr 0/", 0) == 0);
  }
}

TEST_CASE("the system identifier, magic and segment size must match") {
  WalBuilder b;
  AddMixed(b, 30);
  b.AddRecord(static_cast<std::uint32_t>(kSeg));  // into segment 2
  b.AddRecord(100);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  WalScanOptions options;

  SUBCASE("options.system_identifier") {
    options.system_identifier = b.system_identifier();
    CHECK(ScanWalFiles(files, options).records == 32);
    options.system_identifier = b.system_identifier() + 1;
    WalScanResult r = ScanWalFiles(files, options);
    CHECK(r.records == 0);
    CHECK(r.end == Lsn(kSeg));
    CHECK(r.stop_reason.rfind("WAL file is from different database system", 0) == 0);
  }
  SUBCASE("a later segment of another system") {
    b.Segment(2)[24] ^= 1;
    pgha::test::WriteFile(files[1], b.Segment(2));
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.records == 30);
    CHECK(r.end == b.records()[30]);
    CHECK(r.stop_reason.find("different database system") != std::string::npos);
  }
  SUBCASE("a later segment with the magic of another major") {
    b.Segment(2)[0] = 0x13;  // 0xD113: PostgreSQL 16
    pgha::test::WriteFile(files[1], b.Segment(2));
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.end == b.records()[30]);
    CHECK(r.stop_reason ==
          "invalid magic number D113 in log segment 000000010000000000000002, offset 0");
  }
  SUBCASE("an unknown magic on the first page") {
    b.Segment(1)[0] = 0x34;
    b.Segment(1)[1] = 0x12;
    pgha::test::WriteFile(files[0], b.Segment(1));
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.records == 0);
    CHECK(r.start == Lsn(kSeg));
    CHECK(r.end == Lsn(kSeg));
    CHECK(r.page_magic == 0);
    CHECK(r.stop_reason.rfind("invalid magic number 1234", 0) == 0);
  }
  SUBCASE("a segment size that is not the header's") {
    options.segment_size = 2u << 20;
    WalScanResult r = ScanWalFiles({files[0]}, options);
    CHECK(r.records == 0);
    CHECK(r.stop_reason.find("incorrect segment size in page header") != std::string::npos);
  }
  SUBCASE("a page timeline that goes back") {
    b.Segment(1)[2 * 8192 + 4] = 2;  // page 2 on timeline 2, page 3 back on 1
    pgha::test::WriteFile(files[0], b.Segment(1));
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.stop_reason ==
          "out-of-sequence timeline ID 1 (after 2) in log segment "
          "000000010000000000000001, offset 24576");
    CHECK(r.end == FirstReaching(b, Lsn(kSeg + 3 * 8192)));
  }
  SUBCASE("page timelines outside the history of a directory scan") {
    for (std::uint64_t segno : {1u, 2u}) {
      std::vector<std::uint8_t>& seg = b.Segment(segno);
      for (std::size_t page = segno == 1 ? 2 : 0; page < kSeg / 8192; ++page) {
        seg[page * 8192 + 4] = 3;
      }
    }
    b.WriteTo(dir.path());
    CHECK(ScanWalFiles(files).records == 32);  // a file list has no history to check
    WalScanResult r = pgha::ScanWalDirectory(dir.path(), pgha::TimelineHistory(1));
    CHECK(r.stop_reason.rfind(
              "unexpected timeline ID 3 in log segment 000000010000000000000001, offset ", 0) == 0);
    CHECK(r.end == FirstReaching(b, Lsn(kSeg + 2 * 8192)));
    pgha::TimelineHistory three = pgha::TimelineHistory::Parse("1\t0/104000\tpromoted\n", 3);
    r = pgha::ScanWalDirectory(dir.path(), three);
    CHECK(r.records == 32);
    CHECK(r.timeline == 3);
  }
  SUBCASE("unknown xlp_info bits") {
    b.Segment(1)[8192 + 2] |= 0x10;
    pgha::test::WriteFile(files[0], b.Segment(1));
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.end <= Lsn(kSeg + 8192));
    CHECK(r.stop_reason.rfind("invalid info bits 001", 0) == 0);
    CHECK(r.stop_reason.find("in log segment 000000010000000000000001, offset 8192") !=
          std::string::npos);
  }
}

TEST_CASE("wording and resource managers follow the WAL's major") {
  for (int major : {10, 14, 15, 16, 18}) {
    CAPTURE(major);
    WalBuilderOptions o;
    o.major = major;
    WalBuilder b(o);
    AddMixed(b, 5);
    Lsn custom = b.AddRecord(40, 130);  // a custom rmgr id: valid from 15 on
    TempDir dir;
    WalScanResult r = Scan(b, dir);
    CHECK(r.postgres_major == major);
    if (major < 15) {
      CHECK(r.end == custom);
      CHECK(r.stop_reason == "invalid resource manager ID 130 at " + custom.ToString());
    } else if (major == 15) {
      CHECK(r.stop_reason == ZeroLength(b.insert()));
    } else {
      CHECK(r.stop_reason ==
            "invalid record length at " + b.insert().ToString() + ": expected at least 24, got 0");
    }
  }
}

TEST_CASE("a start LSN: a record, a page boundary, the middle of a record") {
  WalBuilder b;
  AddMixed(b, 25);
  b.AddRecordLeaving(0);
  Lsn at_page = b.AddRecord(100);  // starts right after a short page header
  AddMixed(b, 10);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  const std::vector<Lsn>& recs = b.records();
  WalScanOptions options;
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{13}, recs.size() - 1}) {
    CAPTURE(k);
    options.start = recs[k];
    WalScanResult r = ScanWalFiles(files, options);
    CHECK(r.start == recs[k]);
    CHECK(r.records == recs.size() - k);
    CHECK(r.end == b.insert());
  }
  options.start = Lsn(at_page.value() - 24);
  WalScanResult r = ScanWalFiles(files, options);
  CHECK(r.start == at_page);
  CHECK(r.records == 11);

  for (std::uint64_t into : {8u, 16u, 64u}) {
    CAPTURE(into);
    options.start = Lsn(recs[18].value() + into);  // inside a record of 20000 bytes
    r = ScanWalFiles(files, options);
    CHECK(r.records == 0);
    CHECK(r.end == options.start);
    CHECK_FALSE(r.last_record.IsValid());
    CHECK_FALSE(r.stop_reason.empty());
  }
  options.start = Lsn(kSeg + 8);  // inside the long header
  r = ScanWalFiles(files, options);
  CHECK(r.records == 0);
  CHECK(r.stop_reason == "invalid record offset at 0/100008");
  options.start = b.insert();  // nothing there
  r = ScanWalFiles(files, options);
  CHECK(r.records == 0);
  CHECK(r.end == b.insert());
}

TEST_CASE("ScanWalFiles rejects bad arguments") {
  WalBuilder b;
  AddMixed(b, 3);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  WalScanOptions options;
  CheckBadInput({}, options);
  CheckBadInput({dir.File("00000001.history")}, options);
  CheckBadInput({dir.File("not-a-segment")}, options);
  CheckBadInput({files[0], dir.File("000000010000000000000002.00000028.backup")}, options);
  options.start = Lsn(3 * kSeg);  // not in the first file
  CheckBadInput(files, options);
  options.start = Lsn(kSeg + 44);  // not 8-byte aligned
  CheckBadInput(files, options);
  options = {};
  options.segment_size = 3u << 20;
  CheckBadInput(files, options);
  try {
    ScanWalFiles({dir.File("000000010000000000000009")});
    FAIL("accepted a missing file");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
  }
}

TEST_CASE("a gap in the file list is the end of the WAL") {
  WalBuilder b;
  for (int i = 0; i < 4; ++i) b.AddRecord(static_cast<std::uint32_t>(kSeg / 3));
  b.AddRecord(static_cast<std::uint32_t>(kSeg * 2));
  b.AddRecord(100);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  REQUIRE(files.size() == 4);
  WalScanResult r = ScanWalFiles({files[0], files[1], files[3]});
  Lsn boundary(3 * kSeg);
  Lsn expected = boundary;
  std::uint64_t count = 0;
  for (const auto& [s, e] : b.extents()) {
    if (e <= boundary) {
      ++count;
    } else {
      expected = s < boundary ? s : boundary;
      break;
    }
  }
  CHECK(r.records == count);
  CHECK(r.end == expected);
  CHECK(r.stop_reason == "no segment file for 0/300000");
  CHECK(ScanWalFiles(files).records == b.records().size());
}

TEST_CASE("XLP_FIRST_IS_OVERWRITE_CONTRECORD replaces an aborted record") {
  WalBuilder b;
  AddMixed(b, 3);
  b.AddAbortedRecord(20000);
  b.AddRecord(40, 0, 0xD0);  // XLOG_OVERWRITE_CONTRECORD, xl_prev = the last whole record
  b.AddRecord(100);
  TempDir dir;
  WalScanResult r = Scan(b, dir);
  CHECK(r.records == 5);
  CHECK(r.end == b.insert());
}

TEST_CASE("the XLOG_SWITCH record of reference 4.3 scans like the real one") {
  WalBuilderOptions o;
  o.segment_size = 16u << 20;
  o.first_segment = 7;
  WalBuilder b(o);
  b.AddRecordEndingAt(Lsn::Parse("0/7041EE0"));
  b.AddRecord(0x78);
  Lsn sw = b.AddSwitch();
  REQUIRE(sw == Lsn::Parse("0/7041F58"));
  const std::uint8_t expected[24] = {0x18, 0, 0, 0, 0,    0, 0, 0, 0xE0, 0x1E, 0x04, 0x07,
                                     0,    0, 0, 0, 0x40, 0, 0, 0, 0x5C, 0xFA, 0x92, 0x25};
  for (std::size_t i = 0; i < 24; ++i) {
    CAPTURE(i);
    CHECK(b.At(Lsn(sw.value() + i)) == expected[i]);
  }
  TempDir dir;
  WalScanResult r = Scan(b, dir);
  CHECK(r.records == 3);
  CHECK(r.last_record == sw);
  CHECK(r.end == Lsn::Parse("0/8000000"));
  CHECK(r.stop_reason == "no segment file for 0/8000000");
}
