// WalCatalog uploads: every refused upload leaves pg_wal exactly as it was; accepted ones are
// placed with mode 0600, never over different WAL.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "md5.hpp"
#include "pg_wal_dir.hpp"
#include "pgha/error.hpp"
#include "pgha/wal_catalog.hpp"
#include "wal_builder.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::WalCatalog;
using pgha::test::PgWalDir;
using pgha::test::WalBuilder;
using pgha::test::WalBuilderOptions;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint32_t kSeg = 1u << 20;
constexpr std::uint64_t kSysid = 7'300'000'000'000'000'001ull;

std::string_view View(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Segments 1 and 2 of timeline 1 of a 1 MiB-segment cluster (PostgreSQL 15 by default).
WalBuilder Cluster(WalBuilderOptions options = {}) {
  WalBuilder b(options);
  pgha::test::AddMixed(b, 40);
  b.AddRecord(kSeg);  // into segment 2
  pgha::test::AddMixed(b, 5);
  return b;
}

template <typename T>
void Patch(Bytes& b, std::size_t offset, T value) {
  std::memcpy(b.data() + offset, &value, sizeof value);
}

template <typename Fn>
ErrorCode CodeOf(Fn&& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

// pg_wal with segment 1 of the cluster, and a catalogue told the cluster's identity.
struct Fixture {
  WalBuilder wal = Cluster();
  PgWalDir dir;
  WalCatalog catalog{dir.path(), kSeg, kSysid, 15};
  Fixture() { dir.Put(wal.SegmentName(1), wal.Segment(1)); }
};

}  // namespace

TEST_CASE("Uploads that fail a check are refused and leave pg_wal as it was") {
  Fixture f;
  const Bytes seg2 = f.wal.Segment(2);
  const std::string name2 = f.wal.SegmentName(2);
  auto patched = [&](std::size_t offset, auto value) {
    Bytes b = seg2;
    Patch(b, offset, value);
    return b;
  };
  Bytes other_major = Cluster(WalBuilderOptions{16, kSeg, kSysid, 1, 1, 1}).Segment(2);
  Bytes other_cluster = Cluster(WalBuilderOptions{15, kSeg, kSysid + 1, 1, 1, 1}).Segment(2);
  struct Case {
    const char* what;
    std::string name;
    Bytes bytes;
    std::optional<std::string> md5;
    const char* message;  // part of the error
  };
  const std::string too_long(WalCatalog::kMaxHistoryFileSize + 1, '#');
  const Case cases[] = {
      {"path", "../x", seg2, {}, "../x"},
      {"lower case", "00000001000000000000000a", seg2, {}, "0000000a"},
      {"not hex", "00000001000000000000000G", seg2, {}, "000G"},
      {"backup file", name2 + ".00000028.backup", seg2, {}, "backup"},
      {"md5", name2, seg2, std::string(32, '0'), "MD5"},
      {"md5 text", name2, seg2, std::string("xyz"), "32 hex"},
      {"too many bytes",
       name2,
       [&] {
         Bytes b = seg2;
         b.push_back(0);
         return b;
       }(),
       {},
       "more than 1048576 bytes"},
      {"short segment", name2, Bytes(seg2.begin(), seg2.begin() + kSeg / 2), {}, "exactly"},
      {"header only", name2, Bytes(seg2.begin(), seg2.begin() + 40), {}, "exactly"},
      {"page address", "000000010000000000000003", seg2, {}, "page address 0/200000"},
      {"timeline above the name's", name2, patched(4, std::uint32_t{2}), {}, "page timeline 2"},
      {"system identifier", name2, other_cluster, {}, "system identifier"},
      {"magic", name2, other_major, {}, "0xD113 (PostgreSQL 16)"},
      {"segment size", name2, patched(32, std::uint32_t{2u << 20}), {}, "segment size"},
      {"block size", name2, patched(36, std::uint32_t{4096}), {}, "block size"},
      {"short header", name2, patched(2, std::uint16_t{0}), {}, "long header"},
      {"info bits", name2, patched(2, std::uint16_t{0x0012}), {}, "info bits"},
      {"zeros", name2, Bytes(kSeg, 0), {}, "magic"},
      {"history text", "00000002.history", Bytes{'x', 'y', '\n'}, {}, "line 1"},
      {"history timeline",
       "00000002.history",
       Bytes{'2', '\t', '0', '/', '5', '\t', 'x', '\n'},
       {},
       "history"},
      {"empty history", "00000002.history", Bytes{}, {}, "no switch point"},
      {"history too long",
       "00000002.history",
       Bytes(too_long.begin(), too_long.end()),
       {},
       "history file limit"},
  };
  const std::vector<std::string> before = f.dir.Snapshot();
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::string message;
    CHECK(CodeOf([&] { f.catalog.Install(c.name, View(c.bytes), c.md5); }, &message) ==
          ErrorCode::kBadInput);
    CHECK(message.find(c.message) != std::string::npos);
    CHECK(message.find(c.name.substr(0, 8)) != std::string::npos);
    CHECK(f.dir.Snapshot() == before);
  }
}

TEST_CASE("An upload is placed with mode 0600, and only over identical WAL") {
  Fixture f;
  const Bytes seg2 = f.wal.Segment(2);
  const std::string name2 = f.wal.SegmentName(2);
  const std::string md5 = pgha::Md5Hex(View(seg2));
  std::string upper = md5;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  pgha::InstallResult r = f.catalog.Install(name2, View(seg2), upper);
  CHECK_FALSE(r.already_present);
  CHECK(r.path == f.dir.File(name2));
  CHECK(r.file.md5 == md5);
  CHECK(r.file.size == kSeg);
  struct stat st {};
  REQUIRE(::stat(r.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::vector<std::string> placed = f.dir.Snapshot();
  CHECK(std::count(placed.begin(), placed.end(),
                   "/" + name2 + " " + std::to_string(kSeg) + " " + md5) == 1);

  r = f.catalog.Install(name2, View(seg2));  // the same again: fine, nothing written
  CHECK(r.already_present);
  CHECK(r.file.md5 == md5);
  CHECK(f.dir.Snapshot() == placed);

  // Different WAL under an existing name: a conflict, the existing file untouched.
  Bytes changed = seg2;
  changed[kSeg - 1] ^= 1;
  std::string message;
  CHECK(CodeOf([&] { f.catalog.Install(name2, View(changed)); }, &message) == ErrorCode::kConflict);
  CHECK(message.find(name2) != std::string::npos);
  CHECK(f.dir.Snapshot() == placed);

  // A history file of timeline 2, and the first segment of timeline 2: a copy of timeline 1's
  // segment, whose first page still says timeline 1.
  const std::string history = "1\t0/1FFF00\tno recovery target specified\n";
  CHECK_FALSE(f.catalog.Install("00000002.history", history).already_present);
  CHECK_FALSE(
      f.catalog.Install("000000020000000000000001", View(f.wal.Segment(1))).already_present);
  const pgha::WalPosition end{pgha::TimelineHistory::Parse(history, 2), Lsn(0x1FFF80)};
  CHECK(pgha::test::Names(f.catalog.List(end)) ==
        std::vector<std::string>{"000000010000000000000001", "00000002.history",
                                 "000000020000000000000001"});
}

TEST_CASE("A streamed upload: chunks, the announced size, aborts") {
  Fixture f;
  const Bytes seg2 = f.wal.Segment(2);
  const std::string name2 = f.wal.SegmentName(2);
  const std::vector<std::string> before = f.dir.Snapshot();
  {
    auto upload = f.catalog.BeginInstall(name2);
    upload->Write(seg2.data(), 1000);
    CHECK(upload->bytes_written() == 1000);
    CHECK(f.dir.Snapshot() != before);  // the temporary file
  }                                     // destroyed without Commit
  CHECK(f.dir.Snapshot() == before);

  auto upload = f.catalog.BeginInstall(name2);
  upload->Write(seg2.data(), 10);
  upload->Abort();
  CHECK(CodeOf([&] { upload->Write(seg2.data(), 10); }) == ErrorCode::kWrongState);
  CHECK(CodeOf([&] { upload->Commit(); }) == ErrorCode::kWrongState);
  CHECK(f.dir.Snapshot() == before);

  // The header is checked as soon as it is complete, long before the last byte.
  Bytes wrong = f.wal.Segment(1);
  upload = f.catalog.BeginInstall(name2);
  CHECK(CodeOf([&] { upload->Write(wrong.data(), 4096); }) == ErrorCode::kBadInput);
  CHECK(f.dir.Snapshot() == before);

  pgha::UploadOptions options;
  options.expected_size = kSeg - 1;
  CHECK(CodeOf([&] { f.catalog.BeginInstall(name2, options); }) == ErrorCode::kBadInput);
  options.expected_size = 100;
  const std::string text(101, 'x');
  CHECK(CodeOf([&] {
          f.catalog.BeginInstall("00000002.history", options)->Write(text.data(), text.size());
        }) == ErrorCode::kBadInput);
  CHECK(f.dir.Snapshot() == before);

  options.expected_size = kSeg;
  options.expected_md5 = pgha::Md5Hex(View(seg2));
  upload = f.catalog.BeginInstall(name2, options);
  for (std::size_t at = 0; at < seg2.size(); at += 65536) upload->Write(seg2.data() + at, 65536);
  CHECK(upload->Commit().file.md5 == *options.expected_md5);
  CHECK(CodeOf([&] { upload->Commit(); }) == ErrorCode::kWrongState);
  upload.reset();
  CHECK(f.dir.Snapshot().size() == before.size() + 1);
}

TEST_CASE("Without configured identity, uploads must match an existing segment's header") {
  PgWalDir dir;
  WalBuilder wal = Cluster();
  Bytes foreign = Cluster(WalBuilderOptions{15, kSeg, kSysid + 1, 1, 1, 1}).Segment(2);
  {
    WalCatalog empty(dir.path(), kSeg);  // nothing to learn from: header math checks only
    CHECK(empty.Install(wal.SegmentName(2), View(foreign)).file.size == kSeg);
    std::filesystem::remove(dir.File(wal.SegmentName(2)));
  }
  dir.Put(wal.SegmentName(1), wal.Segment(1));
  WalCatalog catalog(dir.path(), kSeg);
  const std::vector<std::string> before = dir.Snapshot();
  std::string message;
  CHECK(CodeOf([&] { catalog.Install(wal.SegmentName(2), View(foreign)); }, &message) ==
        ErrorCode::kBadInput);
  CHECK(message.find(std::to_string(kSysid)) != std::string::npos);
  Bytes other_major = Cluster(WalBuilderOptions{14, kSeg, kSysid, 1, 1, 1}).Segment(2);
  CHECK(CodeOf([&] { catalog.Install(wal.SegmentName(2), View(other_major)); }) ==
        ErrorCode::kBadInput);
  CHECK(dir.Snapshot() == before);
  CHECK_FALSE(catalog.Install(wal.SegmentName(2), View(wal.Segment(2))).already_present);
}

TEST_CASE("A history file uploaded for a node must fit that node's history") {
  using pgha::TimelineHistory;
  using pgha::WalPosition;
  auto upload = [](const std::string& name, const std::string& text, const WalPosition& at) {
    PgWalDir dir;
    WalCatalog catalog{dir.path(), kSeg, kSysid, 15};
    pgha::UploadOptions options;
    options.node_position = at;
    std::string message;
    ErrorCode code = CodeOf(
        [&] {
          auto u = catalog.BeginInstall(name, options);
          u->Write(text.data(), text.size());
          u->Commit();
        },
        &message);
    CHECK(std::filesystem::exists(dir.File(name)) == (code == ErrorCode::kOk));
    return std::make_pair(code, message);
  };
  const std::string tl2 = "1\t0/3000000\tno recovery target specified\n";
  const std::string tl3 = tl2 + "2\t0/5000000\tno recovery target specified\n";
  const WalPosition on1_before{TimelineHistory(1), Lsn(0x2000000)};
  const WalPosition on1_past{TimelineHistory(1), Lsn(0x3000100)};
  const WalPosition on2{TimelineHistory::Parse(tl2, 2), Lsn(0x4000000)};
  const WalPosition on2_elsewhere{
      TimelineHistory::Parse("1\t0/2800000\tno recovery target specified\n", 2), Lsn(0x4000000)};

  // A newer timeline this node can follow, and its own timelines' histories as it has them.
  CHECK(upload("00000002.history", tl2, on1_before).first == ErrorCode::kOk);
  CHECK(upload("00000003.history", tl3, on1_before).first == ErrorCode::kOk);
  CHECK(upload("00000003.history", tl3, on2).first == ErrorCode::kOk);
  CHECK(upload("00000002.history", tl2, on2).first == ErrorCode::kOk);

  // Refused: this node wrote past the switch point, or its timeline 1 ended elsewhere, or the
  // history names a timeline this node never had.
  auto past = upload("00000002.history", tl2, on1_past);
  CHECK(past.first == ErrorCode::kBadInput);
  CHECK(past.second.find("does not fit this node") != std::string::npos);
  CHECK(upload("00000003.history", tl3, on2_elsewhere).first == ErrorCode::kBadInput);
  CHECK(upload("00000002.history", tl2, on2_elsewhere).first == ErrorCode::kBadInput);
  const WalPosition on3{TimelineHistory::Parse(tl3, 3), Lsn(0x6000000)};
  CHECK(upload("00000002.history", "1\t0/1000000\tother\n", on3).first == ErrorCode::kBadInput);
  // Without a node position only the text is checked, as before.
  PgWalDir dir;
  WalCatalog catalog{dir.path(), kSeg, kSysid, 15};
  CHECK_FALSE(catalog.Install("00000002.history", tl2).already_present);
}
