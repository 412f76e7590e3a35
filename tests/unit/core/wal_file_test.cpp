#include <doctest/doctest.h>

#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/wal_file.hpp"
#include "test_support.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::WalFileKind;
using pgha::WalFileName;
using pgha::test::FixturePath;
using pgha::test::ListFiles;
using pgha::test::ReadText;
using pgha::test::ReadTsv;

namespace {

constexpr std::uint32_t kMiB = 1u << 20;
constexpr std::uint32_t k16MiB = 16 * kMiB;
constexpr std::uint32_t k64MiB = 64 * kMiB;
constexpr std::uint32_t k1GiB = 1024 * kMiB;
const std::uint32_t kAllSizes[] = {kMiB,   2 * kMiB,   4 * kMiB,   8 * kMiB,   k16MiB, 32 * kMiB,
                                   k64MiB, 128 * kMiB, 256 * kMiB, 512 * kMiB, k1GiB};

std::uint32_t SegmentSizeOf(const std::string& setting) {  // "16MB", "1GB"
  auto n = static_cast<std::uint32_t>(std::stoul(setting));
  return setting.substr(setting.size() - 2) == "GB" ? n << 30 : n << 20;
}

WalFileKind KindBySuffix(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".history")) return WalFileKind::kHistory;
  if (ends_with(".partial")) return WalFileKind::kPartial;
  if (ends_with(".backup")) return WalFileKind::kBackup;
  return WalFileKind::kSegment;
}

ErrorCode ParseCode(const std::string& name, std::uint32_t size) {
  auto r = WalFileName::TryParse(name, size);
  return r.ok() ? ErrorCode::kOk : r.error().code();
}

}  // namespace

TEST_CASE("WAL segment names agree with PostgreSQL's pg_walfile_name") {
  auto rows = ReadTsv(FixturePath("pg15/wal-names/pg_walfile_name.tsv"));
  REQUIRE(rows.size() >= 15);
  int boundary_rows = 0;
  for (const auto& row : rows) {
    CAPTURE(row.at("wal_segment_size"));
    CAPTURE(row.at("timeline"));
    CAPTURE(row.at("lsn"));
    std::uint32_t size = SegmentSizeOf(row.at("wal_segment_size"));
    auto tli = static_cast<pgha::TimelineId>(std::stoul(row.at("timeline")));
    Lsn lsn = Lsn::Parse(row.at("lsn"));
    int major = std::stoi(row.at("server_version"));
    std::uint32_t offset = pgha::SegmentOffsetOf(lsn, size);
    CHECK(std::to_string(offset) == row.at("pg_walfile_name_offset.file_offset"));
    // 10-16 name a segment-boundary LSN after the previous segment (XLByteToPrevSeg), and
    // 0/0 after the last segment of all.
    Lsn named = lsn;
    if (major <= 16 && offset == 0) {
      named = Lsn(lsn.value() - 1);  // wraps for 0/0, like PostgreSQL's uint64
      ++boundary_rows;
    }
    std::string ours = pgha::WalSegmentFileName(tli, named, size);
    CHECK(ours == row.at("pg_walfile_name"));
    CHECK(ours == row.at("pg_walfile_name_offset.file_name"));
    WalFileName parsed = WalFileName::Parse(row.at("pg_walfile_name"), size);
    CHECK(parsed == WalFileName::ForLsn(tli, named, size));
    CHECK(parsed.StartLsn() <= named);
    CHECK(pgha::SegmentNumberOf(named, size) == parsed.segment);
  }
  CHECK(boundary_rows > 0);
}

TEST_CASE("The names of the fixture's pg_wal and archive listing parse with their kind") {
  std::istringstream in(ReadText(FixturePath("pg15/wal-names/wal-file-listing.txt")));
  std::string line;
  int names = 0;
  std::map<WalFileKind, int> kinds;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    std::string name = line;
    if (name.find_first_not_of(' ') != 0) {  // "    archive_status/<name>.done"
      name = name.substr(name.find_first_not_of(' '));
      CHECK(ParseCode(name, k16MiB) == ErrorCode::kBadInput);  // a path, not a name
      const std::string dir = "archive_status/";
      REQUIRE(name.compare(0, dir.size(), dir) == 0);
      name = name.substr(dir.size(), name.rfind('.') - dir.size());
    }
    CAPTURE(name);
    auto r = WalFileName::TryParse(name);
    REQUIRE(r.ok());
    CHECK(r.value().kind == KindBySuffix(name));
    CHECK(r.value().ToString() == name);
    ++names;
    ++kinds[r.value().kind];
  }
  CHECK(names > 20);
  CHECK(kinds.size() == 4);
}

TEST_CASE("A backup history file's name gives the backup start it records") {
  // The one that make-fixtures archived; its name depends on the run that made the fixtures.
  std::vector<std::string> backups = ListFiles(FixturePath("pg15/wal-names"), ".backup");
  REQUIRE(backups.size() == 1);
  const std::string name = backups.front();
  WalFileName f = WalFileName::Parse(name);
  CHECK(f.kind == WalFileKind::kBackup);
  std::string text = ReadText(FixturePath("pg15/wal-names/" + name));
  const std::string key = "START WAL LOCATION: ";
  std::size_t at = text.find(key);
  REQUIRE(at != std::string::npos);
  std::size_t end = text.find(' ', at + key.size());
  Lsn start = Lsn::Parse(text.substr(at + key.size(), end - at - key.size()));
  CHECK(f.StartLsn() == start);
  CHECK(text.find("(file " + f.SegmentName() + ")") != std::string::npos);
}

TEST_CASE("WAL segment names: the examples of reference section 3") {
  struct Case {
    const char* lsn;
    const char* name16;
    const char* name64;
  };
  for (const Case& c : {
           Case{"0/1000000", "000000010000000000000001", "000000010000000000000000"},
           Case{"0/4000000", "000000010000000000000004", "000000010000000000000001"},
           Case{"A/B2C3D4E5", "000000010000000A000000B2", "000000010000000A0000002C"},
           Case{"1/0", "000000010000000100000000", "000000010000000100000000"},
           Case{"FFFFFFFF/FFFFFFFF", "00000001FFFFFFFF000000FF", "00000001FFFFFFFF0000003F"},
       }) {
    CAPTURE(c.lsn);
    Lsn lsn = Lsn::Parse(c.lsn);
    CHECK(pgha::WalSegmentFileName(1, lsn) == c.name16);
    CHECK(pgha::WalSegmentFileName(1, lsn, k64MiB) == c.name64);
  }
  CHECK(pgha::SegmentOffsetOf(Lsn::Parse("A/B2C3D4E5"), k16MiB) == 0xC3D4E5u);
  CHECK(pgha::SegmentOffsetOf(Lsn::Parse("A/B2C3D4E5"), k64MiB) == 0x2C3D4E5u);
  // After ...FF the middle field increments; no segment is skipped.
  WalFileName last = WalFileName::Parse("0000000100000000000000FF");
  CHECK(WalFileName::ForLsn(1, last.EndLsn()).ToString() == "000000010000000100000000");
  CHECK(WalFileName::Parse("000000010000000100000000").segment == last.segment + 1);
}

TEST_CASE("WalFileName accepts PostgreSQL's names") {
  struct Case {
    const char* name;
    std::uint32_t size;
    WalFileKind kind;
    pgha::TimelineId tli;
    std::uint64_t segment;
    std::uint32_t backup_offset;
  };
  for (const Case& c : {
           Case{"000000010000000000000001", k16MiB, WalFileKind::kSegment, 1, 1, 0},
           Case{"FFFFFFFFFFFFFFFF000000FF", k16MiB, WalFileKind::kSegment, ~0u,
                0xFFFFFFFFull * 256 + 255, 0},
           Case{"00000001000000010000003F", k64MiB, WalFileKind::kSegment, 1, 64 + 63, 0},
           Case{"000000010000000100000FFF", kMiB, WalFileKind::kSegment, 1, 4096 + 4095, 0},
           Case{"000000010000000100000003", k1GiB, WalFileKind::kSegment, 1, 4 + 3, 0},
           Case{"00000002000000000000000A.partial", k16MiB, WalFileKind::kPartial, 2, 10, 0},
           Case{"0000000A.history", k16MiB, WalFileKind::kHistory, 10, 0, 0},
           Case{"0000000A.history", kMiB, WalFileKind::kHistory, 10, 0, 0},
           Case{"000000010000000000000006.00000028.backup", k16MiB, WalFileKind::kBackup, 1, 6,
                0x28},
           Case{"000000010000000000000006.00FFFFFF.backup", k16MiB, WalFileKind::kBackup, 1, 6,
                0xFFFFFF},
       }) {
    CAPTURE(c.name);
    WalFileName f = WalFileName::Parse(c.name, c.size);
    CHECK(f.kind == c.kind);
    CHECK(f.timeline == c.tli);
    CHECK(f.segment == c.segment);
    CHECK(f.backup_offset == c.backup_offset);
    CHECK(f.segment_size == c.size);
    CHECK(f.ToString() == c.name);
    CHECK(pgha::WalFileKindName(f.kind) == pgha::WalFileKindName(c.kind));
  }
  CHECK(WalFileName::History(3).ToString() == "00000003.history");
  CHECK(pgha::WalFileKindName(WalFileKind::kSegment) == "segment");
  CHECK(pgha::WalFileKindName(WalFileKind::kPartial) == "partial");
  CHECK(pgha::WalFileKindName(WalFileKind::kHistory) == "history");
  CHECK(pgha::WalFileKindName(WalFileKind::kBackup) == "backup");
}

TEST_CASE("WalFileName rejects everything else") {
  struct Case {
    const char* name;
    std::uint32_t size;
  };
  for (const Case& c : {
           Case{"", k16MiB},
           Case{"../x", k16MiB},
           Case{"../000000010000000000000001", k16MiB},
           Case{"pg_wal/000000010000000000000001", k16MiB},
           Case{"00000001000000000000000a", k16MiB},  // lower case
           Case{"0000000a.history", k16MiB},
           Case{"00000001000000000000001", k16MiB},    // 23 characters
           Case{"0000000100000000000000011", k16MiB},  // 25 characters
           Case{"000000010000000000000100", k16MiB},   // segment field >= 256
           Case{"000000010000000000000040", k64MiB},   // >= 64
           Case{"000000010000000000001000", kMiB},     // >= 4096
           Case{"000000010000000000000004", k1GiB},    // >= 4
           Case{"000000000000000000000001", k16MiB},   // timeline 0
           Case{"00000000.history", k16MiB},
           Case{"000000010000000000000001.partia", k16MiB},
           Case{"000000010000000000000001.partial.done", k16MiB},
           Case{"000000010000000000000001.ready", k16MiB},
           Case{"000000010000000000000001.0000028.backup", k16MiB},
           Case{"000000010000000000000001.00000028.backup.x", k16MiB},
           Case{"000000010000000000000001.01000000.backup", k16MiB},  // offset >= segment
           Case{"000000010000000000000001.0000002g.backup", k16MiB},
           Case{"0000001.history", k16MiB},
           Case{"000000001.history", k16MiB},
           Case{"00000001.HISTORY", k16MiB},
           Case{" 000000010000000000000001", k16MiB},
           Case{"000000010000000000000001 ", k16MiB},
           Case{"0000000100000000000000-1", k16MiB},
           Case{"xlogtemp.123", k16MiB},
           Case{"RECOVERYXLOG", k16MiB},
           Case{"000000010000000000000001", 1000000},  // bad segment size
       }) {
    CAPTURE(c.name);
    CAPTURE(c.size);
    CHECK(ParseCode(c.name, c.size) == ErrorCode::kBadInput);
    CHECK_THROWS_AS(WalFileName::Parse(c.name, c.size), pgha::Error);
  }
  std::string with_nul("000000010000000000000001", 24);
  with_nul[10] = '\0';
  CHECK(ParseCode(with_nul, k16MiB) == ErrorCode::kBadInput);
  CHECK_THROWS_AS(WalFileName::History(0), pgha::Error);
  CHECK_THROWS_AS(WalFileName::ForLsn(0, Lsn(1)), pgha::Error);
  CHECK_THROWS_AS(WalFileName::ForLsn(1, Lsn(1), 3 * kMiB), pgha::Error);
}

TEST_CASE("WalFileName built by hand with impossible fields throws instead of crashing") {
  WalFileName zero_size;
  zero_size.timeline = 1;
  zero_size.segment_size = 0;
  CHECK_THROWS_AS(zero_size.ToString(), pgha::Error);
  WalFileName huge = WalFileName::ForLsn(1, Lsn(~0ull));
  CHECK(huge.ToString() == "00000001FFFFFFFF000000FF");
  huge.segment += 1;
  CHECK_THROWS_AS(huge.ToString(), pgha::Error);
  CHECK_THROWS_AS(huge.StartLsn(), pgha::Error);
}

TEST_CASE("WalFileName round-trips random names for every segment size") {
  std::mt19937_64 rng(3);
  for (std::uint32_t size : kAllSizes) {
    CAPTURE(size);
    for (int i = 0; i < 2000; ++i) {
      auto tli = static_cast<pgha::TimelineId>(1 + rng() % 0xFFFFFFFFull);
      Lsn lsn(rng() >> (rng() % 64));
      WalFileName f = WalFileName::ForLsn(tli, lsn, size);
      f.kind = static_cast<WalFileKind>(rng() % 4);
      if (f.kind == WalFileKind::kHistory) f.segment = 0;
      if (f.kind == WalFileKind::kBackup) f.backup_offset = pgha::SegmentOffsetOf(lsn, size);
      CAPTURE(f.ToString());
      CHECK(WalFileName::Parse(f.ToString(), size) == f);
      if (f.HoldsWal()) {
        CHECK(f.StartLsn() <= lsn);
        CHECK(lsn.value() - f.StartLsn().value() < size);
      }
      if (f.kind == WalFileKind::kBackup) CHECK(f.StartLsn() == lsn);
    }
  }
}

TEST_CASE("IsValidWalSegmentSize takes powers of two from 1 MiB to 1 GiB") {
  for (std::uint32_t size : kAllSizes) {
    CAPTURE(size);
    CHECK(pgha::IsValidWalSegmentSize(size));
    CHECK_NOTHROW(pgha::CheckWalSegmentSize(size));
  }
  for (std::uint64_t size :
       {0ull, 1ull, 8192ull, 512ull * 1024, (1ull << 20) - 1, (1ull << 20) + 1, 3ull << 20,
        24ull << 20, 1ull << 31, 1ull << 32, 2ull << 30, (1ull << 30) + (1ull << 20), ~0ull}) {
    CAPTURE(size);
    CHECK_FALSE(pgha::IsValidWalSegmentSize(size));
    CHECK_THROWS_AS(pgha::CheckWalSegmentSize(size), pgha::Error);
  }
}

TEST_CASE("Segment math follows xlog_internal.h") {
  for (std::uint32_t size : kAllSizes) {
    CAPTURE(size);
    CHECK(pgha::SegmentNumberOf(Lsn(0), size) == 0);
    CHECK(pgha::SegmentNumberOf(Lsn(size - 1ull), size) == 0);
    CHECK(pgha::SegmentNumberOf(Lsn(size), size) == 1);
    CHECK(pgha::SegmentStart(1, size) == Lsn(size));
    CHECK(pgha::SegmentOffsetOf(Lsn(size + 5ull), size) == 5);
    std::uint64_t last = ~0ull / size;
    CHECK(pgha::SegmentNumberOf(Lsn(~0ull), size) == last);
    CHECK(pgha::SegmentStart(last, size) == Lsn(~0ull - (size - 1ull)));
    CHECK_THROWS_AS(pgha::SegmentStart(last + 1, size), pgha::Error);
  }
}
