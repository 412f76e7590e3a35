// Writes the seed inputs of fuzz_wal_scan (format: wal_fuzz_input.hpp) into a directory, from
// synthetic WAL made by the unit tests' WalBuilder: records of several majors, a scan from a
// given start, records crossing from one segment into the next, XLOG_SWITCH, an aborted
// record with XLP_FIRST_IS_OVERWRITE_CONTRECORD, a timeline change. Usage: OUTDIR.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "wal_builder.hpp"
#include "wal_fuzz_input.hpp"

namespace {

namespace fz = pgha::fuzz;
using pgha::test::AddMixed;
using pgha::test::WalBuilder;
using pgha::test::WalBuilderOptions;

constexpr std::uint32_t kSeg = fz::kWalFuzzSegmentSize;
constexpr std::uint64_t kFirstLsn = fz::kWalFuzzFirstSegment * kSeg;

WalBuilder Builder(int major) {
  WalBuilderOptions o;
  o.major = major;
  o.segment_size = kSeg;
  o.system_identifier = fz::kWalFuzzSystemId;
  o.first_segment = fz::kWalFuzzFirstSegment;
  return WalBuilder(o);
}

// The first segment's bytes up to the end of the last record (the rest is zeros).
std::vector<std::uint8_t> FirstSegment(WalBuilder& b) {
  std::vector<std::uint8_t>& seg = b.Segment(fz::kWalFuzzFirstSegment);
  std::uint64_t used = b.extents().back().second.value() - kFirstLsn;
  if (used > kSeg) used = kSeg;
  return {seg.begin(), seg.begin() + static_cast<std::ptrdiff_t>(used)};
}

std::uint32_t StartField(pgha::Lsn lsn) {
  return static_cast<std::uint32_t>((lsn.value() - kFirstLsn) / 8);
}

void Save(const std::string& dir, const std::string& name, const std::vector<std::uint8_t>& in) {
  pgha::test::WriteFile(dir + "/" + name, in);
}

void OneSegmentSeeds(const std::string& dir) {
  for (int major : {10, 13, 15, 16, 17, 18}) {
    WalBuilder b = Builder(major);
    AddMixed(b, 8);
    Save(dir, "mixed-pg" + std::to_string(major),
         fz::EncodeWalFuzzInput(fz::ControlForMajor(major), 0, 0, 0, FirstSegment(b)));
  }
  WalBuilder b = Builder(15);
  AddMixed(b, 8);
  const std::uint8_t c15 = fz::ControlForMajor(15);
  Save(dir, "start-given",
       fz::EncodeWalFuzzInput(c15 | fz::kStartGiven, StartField(b.records()[3]), 0, 0,
                              FirstSegment(b)));
  Save(dir, "strict-options",
       fz::EncodeWalFuzzInput(c15 | fz::kStrictOptions, 0, 0, fz::kPadFirst, FirstSegment(b)));
  Save(dir, "raw-headers", fz::EncodeWalFuzzInput(c15 | fz::kRawHeaders, 0, 0, 0, FirstSegment(b)));
}

void SpecialRecordSeeds(const std::string& dir) {
  const std::uint8_t c16 = fz::ControlForMajor(16);
  WalBuilder sw = Builder(16);
  AddMixed(sw, 3);
  sw.AddSwitch();
  Save(dir, "xlog-switch", fz::EncodeWalFuzzInput(c16, 0, 0, fz::kPadFirst, FirstSegment(sw)));
  WalBuilder ab = Builder(16);
  AddMixed(ab, 3);
  ab.AddAbortedRecord(20000);
  AddMixed(ab, 4);
  Save(dir, "overwrite-contrecord", fz::EncodeWalFuzzInput(c16, 0, 0, 0, FirstSegment(ab)));
  WalBuilder tl = Builder(16);
  AddMixed(tl, 7);
  tl.set_timeline(2);
  AddMixed(tl, 7);
  Save(dir, "timeline-change", fz::EncodeWalFuzzInput(c16, 0, 0, 0, FirstSegment(tl)));
}

// Records that cross from the first segment into the second: the payload is the first
// segment's last three pages, then the second segment's start.
void TwoSegmentSeed(const std::string& dir) {
  WalBuilder b = Builder(15);
  while (b.insert().value() < kFirstLsn + kSeg - 30000) b.AddRecord(20000);
  AddMixed(b, 12);
  constexpr std::uint32_t kTail = 3 * 8192;
  const pgha::Lsn tail_start(kFirstLsn + kSeg - kTail);
  pgha::Lsn start;
  for (pgha::Lsn r : b.records()) {
    if (r >= tail_start) {
      start = r;
      break;
    }
  }
  const std::vector<std::uint8_t>& seg1 = b.Segment(fz::kWalFuzzFirstSegment);
  const std::vector<std::uint8_t>& seg2 = b.Segment(fz::kWalFuzzFirstSegment + 1);
  std::vector<std::uint8_t> payload(seg1.end() - kTail, seg1.end());
  const std::uint64_t used = b.insert().value() - kFirstLsn - kSeg;
  payload.insert(payload.end(), seg2.begin(), seg2.begin() + static_cast<std::ptrdiff_t>(used));
  Save(dir, "two-segments",
       fz::EncodeWalFuzzInput(fz::ControlForMajor(15) | fz::kTwoSegments | fz::kStartGiven,
                              StartField(start), kTail, 0, payload));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  try {
    OneSegmentSeeds(argv[1]);
    SpecialRecordSeeds(argv[1]);
    TwoSegmentSeed(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
