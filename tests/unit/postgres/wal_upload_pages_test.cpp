// WalCatalog uploads: every page header of a segment is checked, and with the node's history
// each page's timeline, so WAL of another branch under a timeline's name is refused. Every
// refusal leaves pg_wal as it was.
#include <doctest/doctest.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "pg_wal_dir.hpp"
#include "pgha/error.hpp"
#include "pgha/wal_catalog.hpp"
#include "pgha/wal_page.hpp"
#include "wal_builder.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::TimelineHistory;
using pgha::UploadOptions;
using pgha::WalCatalog;
using pgha::test::PgWalDir;
using pgha::test::WalBuilder;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint32_t kSeg = 1u << 20;
constexpr std::uint64_t kSysid = 7'300'000'000'000'000'001ull;
constexpr std::size_t kPage = pgha::kWalPageSize;
// Timeline 1 ends here, inside segment 2's page 20 (0/228000 + 0x100).
constexpr std::uint64_t kSwitch = 2 * kSeg + 20 * kPage + 0x100;
const char* const kName1 = "000000010000000000000002";
const char* const kName2 = "000000020000000000000002";
const std::string kHistory2 = "1\t0/228100\tno recovery target specified\n";

template <typename T>
void Patch(Bytes& b, std::size_t offset, T value) {
  std::memcpy(b.data() + offset, &value, sizeof value);
}

// WAL of timeline 1 up to the switch point, then `timeline` for about 40 more pages of
// segment 2 (1: the old master that went on writing; 2: the promoted standby).
WalBuilder Branch(pgha::TimelineId timeline) {
  WalBuilder b;  // 1 MiB segments from segment 1, PostgreSQL 15, system identifier kSysid
  while (b.insert().value() + 2000 < kSwitch) b.AddRecord(1000);
  b.AddRecordEndingAt(Lsn(kSwitch));
  b.set_timeline(timeline);
  while (b.insert().value() < 2 * kSeg + 60 * kPage) b.AddRecord(3000);
  return b;
}

template <typename Fn>
ErrorCode CodeOf(Fn&& fn, std::string* message) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    *message = e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

struct Fixture {
  PgWalDir dir;
  WalCatalog catalog{dir.path(), kSeg, kSysid, 15};

  // Uploads `bytes` as `name` in chunks of `chunk` bytes (so headers split across writes).
  pgha::InstallResult Upload(const std::string& name, const Bytes& bytes,
                             const UploadOptions& options = {}, std::size_t chunk = 1000) {
    auto upload = catalog.BeginInstall(name, options);
    for (std::size_t at = 0; at < bytes.size(); at += chunk) {
      upload->Write(bytes.data() + at, std::min(chunk, bytes.size() - at));
    }
    return upload->Commit();
  }
  // Expects the upload refused with kBadInput and `text` in the message, pg_wal unchanged.
  void Refused(const std::string& name, const Bytes& bytes, const std::string& text,
               const UploadOptions& options = {}) {
    const std::vector<std::string> before = dir.Snapshot();
    std::string message;
    CHECK(CodeOf([&] { Upload(name, bytes, options); }, &message) == ErrorCode::kBadInput);
    CHECK_MESSAGE(message.find(text) != std::string::npos, message);
    CHECK(dir.Snapshot() == before);
  }
};

UploadOptions WithHistory(const TimelineHistory& history) {
  UploadOptions o;
  o.node_history = history;
  return o;
}

}  // namespace

TEST_CASE("Every page header of an uploaded segment is checked, not only the first") {
  Fixture f;
  const Bytes seg = Branch(1).Segment(2);
  auto patched = [&](std::size_t page, std::size_t field, auto value) {
    Bytes b = seg;
    Patch(b, page * kPage + field, value);
    return b;
  };
  f.Refused(kName1, patched(7, 0, std::uint16_t{0xD113}), "page 7 (0/20E000): page magic 0xD113");
  f.Refused(kName1, patched(9, 2, std::uint16_t{0x0012}), "page 9 (0/212000): invalid info bits");
  f.Refused(kName1, patched(11, 2, std::uint16_t{0x0002}), "long header on a page");
  f.Refused(kName1, patched(13, 4, std::uint32_t{2}), "page 13 (0/21A000): page timeline 2");
  f.Refused(kName1, patched(15, 4, std::uint32_t{0}), "page timeline 0");
  // A page that is not WAL (zeros) ends it: WAL after that is not PostgreSQL's.
  Bytes gap = seg;
  std::memset(gap.data() + 5 * kPage, 0, kPage);
  f.Refused(kName1, gap, "page 6 (0/20C000): WAL after its end at page 5");
  // Timelines never go back: page 31 of timeline 2's copy says 1 after page 30's 2.
  const Bytes seg2 = Branch(2).Segment(2);
  Bytes back = seg2;
  Patch(back, 31 * kPage + 4, std::uint32_t{1});
  f.Refused(kName2, back, "page timeline 1 after timeline 2 (out of sequence)");
}

TEST_CASE("A segment with a zero-filled or recycled tail is accepted") {
  Fixture f;
  const Bytes seg = Branch(1).Segment(2);  // pages after ~60 are zeros
  CHECK_FALSE(f.Upload(kName1, seg).already_present);
  // A recycled file: the tail still holds an older segment's pages (their addresses are not
  // their position), as PostgreSQL leaves a renamed old segment.
  Bytes recycled = Branch(2).Segment(2);
  const Bytes old = Branch(1).Segment(1);
  std::memcpy(recycled.data() + 70 * kPage, old.data() + 70 * kPage, kSeg - 70 * kPage);
  CHECK_FALSE(f.Upload(kName2, recycled).already_present);
}

TEST_CASE("Page timelines must be the node's history at each page") {
  Fixture f;
  const TimelineHistory history2 = TimelineHistory::Parse(kHistory2, 2);
  const Bytes promoted = Branch(2).Segment(2);
  const Bytes diverged = Branch(1).Segment(2);  // went on writing timeline 1 past 0/228100

  // The old master's timeline-1 WAL past the switch point, renamed to timeline 2's name:
  // the page timelines are fine for the name (1 <= 2), but not for the node's history.
  f.Refused(kName2, diverged, "page 21 (0/22A000): page timeline 1 is not timeline 2",
            WithHistory(history2));
  CHECK_FALSE(f.Upload(kName2, promoted, WithHistory(history2)).already_present);
  // Timeline 1's own file past its switch point is never read (timeline 2's is): accepted.
  CHECK_FALSE(f.Upload(kName1, diverged, WithHistory(history2)).already_present);

  // A timeline the node's history does not have (history 1 -> 3): refused before any byte.
  PgWalDir other;
  WalCatalog catalog3(other.path(), kSeg, kSysid, 15);
  const TimelineHistory history3 = TimelineHistory::Parse("1\t0/228100\tx\n", 3);
  std::string message;
  CHECK(CodeOf([&] { catalog3.BeginInstall(kName2, WithHistory(history3)); }, &message) ==
        ErrorCode::kBadInput);
  CHECK(message.find("timeline 2 is not in this node's history") != std::string::npos);
}

TEST_CASE("A segment of a timeline newer than the node's needs that timeline's history") {
  Fixture f;
  const Bytes promoted = Branch(2).Segment(2);
  const Bytes diverged = Branch(1).Segment(2);
  const UploadOptions on1 = WithHistory(TimelineHistory(1));
  f.Refused(kName2, promoted, "pg_wal has no 00000002.history", on1);
  f.catalog.Install("00000002.history", kHistory2);
  f.Refused(kName2, diverged, "page timeline 1 is not timeline 2", on1);
  CHECK_FALSE(f.Upload(kName2, promoted, on1).already_present);
}
