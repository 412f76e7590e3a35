// Hostile and damaged WAL: the scan never crashes, never reads out of bounds (run these under
// ASan) and never reports an end beyond the damage.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "pgha/wal_scan.hpp"
#include "wal_builder.hpp"

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

bool InPageHeader(std::uint64_t lsn) {
  return lsn % 8192 < (lsn % kSeg < 8192 ? 40u : 24u);
}

}  // namespace

TEST_CASE("hostile record lengths stop the scan without reading them") {
  struct Case {
    int major;
    std::uint32_t tot_len;
    const char* reason_prefix;
  };
  for (const Case& c : {Case{15, 0xFFFFFFFFu, "record length 4294967295 at"},
                        Case{15, 0x40000000u, "record length 1073741824 at"},
                        Case{15, 0x3FFFD000u, ""},  // allowed: fails on the next page
                        Case{16, 0x3FC00001u, "record length 1069547521 at"},
                        Case{16, 0x3FC00000u, ""}, Case{15, 23u, "invalid record length"}}) {
    CAPTURE(c.tot_len);
    WalBuilderOptions o;
    o.major = c.major;
    WalBuilder b(o);
    AddMixed(b, 4);
    Lsn last = b.AddRecord(300);
    for (int i = 0; i < 4; ++i) {
      b.At(Lsn(last.value() + static_cast<std::uint64_t>(i))) =
          static_cast<std::uint8_t>(c.tot_len >> (8 * i));
    }
    TempDir dir;
    WalScanResult r = ScanWalFiles(b.WriteTo(dir.path()));
    CHECK(r.records == 4);
    CHECK(r.end == last);
    CHECK_FALSE(r.stop_reason.empty());
    CHECK(r.stop_reason.rfind(c.reason_prefix, 0) == 0);
  }
}

TEST_CASE("random byte flips never crash nor move the end past the damaged record") {
  WalBuilder b;
  AddMixed(b, 120);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  const WalScanResult clean = ScanWalFiles(files);
  REQUIRE(clean.records == 120);
  const std::vector<std::uint8_t> pristine = b.Segment(1);
  const std::uint64_t span = b.insert().value() - kSeg + 64;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 400; ++i) {
    std::vector<std::uint8_t> bytes = pristine;
    std::uint64_t off = rng() % span;
    bytes[off] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    pgha::test::WriteFile(files[0], bytes);
    WalScanResult r = ScanWalFiles(files);
    CAPTURE(off);
    CHECK(r.end <= clean.end);
    CHECK(r.records <= clean.records);
    std::uint64_t at = kSeg + off;
    if (InPageHeader(at)) continue;
    for (const auto& [s, e] : b.extents()) {
      if (s.value() <= at && at < e.value()) {
        CHECK(r.end <= s);
        break;
      }
    }
  }
}

TEST_CASE("truncated and garbage segments never crash nor end past the data") {
  WalBuilder b;
  AddMixed(b, 60);
  b.AddRecord(static_cast<std::uint32_t>(kSeg));  // into segment 2
  AddMixed(b, 5);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  const std::vector<std::uint8_t> pristine = b.Segment(1);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 150; ++i) {
    std::uint64_t keep = i < 50 ? rng() % 200 : rng() % kSeg;
    CAPTURE(keep);
    std::vector<std::uint8_t> bytes(pristine.begin(), pristine.begin() + static_cast<long>(keep));
    pgha::test::WriteFile(files[0], bytes);
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.end.value() <= kSeg + keep);
  }
  for (int i = 0; i < 40; ++i) {
    std::vector<std::uint8_t> bytes = pristine;
    // Keep the long header (or not), fill the rest with noise that looks like lengths.
    std::size_t from = i % 2 == 0 ? 40 : 0;
    for (std::size_t k = from; k < bytes.size(); ++k) {
      bytes[k] = static_cast<std::uint8_t>(i % 4 < 2 ? rng() : (k % 4 == 3 ? 0xFF : rng() % 3));
    }
    pgha::test::WriteFile(files[0], bytes);
    WalScanResult r = ScanWalFiles(files);
    CHECK(r.records == 0);
  }
}

TEST_CASE("without a readable long header there is no segment size and nothing is scanned") {
  WalBuilder b;
  AddMixed(b, 3);
  TempDir dir;
  std::vector<std::string> files = b.WriteTo(dir.path());
  std::vector<std::uint8_t>& seg = b.Segment(1);
  seg[34] = 0x30;  // xlp_seg_size 3 MiB
  pgha::test::WriteFile(files[0], seg);
  WalScanResult r = ScanWalFiles(files);
  CHECK(r.records == 0);
  CHECK_FALSE(r.end.IsValid());
  CHECK(r.stop_reason.rfind("WAL segment size must be a power of two", 0) == 0);
  pgha::test::WriteFile(files[0], std::vector<std::uint8_t>(seg.begin(), seg.begin() + 30));
  r = ScanWalFiles(files);
  CHECK(r.records == 0);
  CHECK(r.stop_reason == "could not read file \"000000010000000000000001\": read 30 of 40");
  WalScanOptions options;  // a given size does not need the header; the page check fails
  options.segment_size = kSeg;
  options.start = b.records()[1];
  r = ScanWalFiles(files, options);
  CHECK(r.records == 0);
  CHECK(r.end == b.records()[1]);
  CHECK(r.stop_reason.rfind("could not read from file 000000010000000000000001, offset 0", 0) == 0);
}
