// The input format of fuzz_wal_scan, shared with the seed generator (wal_seed_main.cpp):
//   byte 0      control: bits 0-3 pick the PostgreSQL major (10 + value % 9) whose magic the
//               first page headers get; kTwoSegments, kStartGiven, kRawHeaders, kStrictOptions
//   bytes 1-4   scan start: the first segment's start + (value % (segment size / 8)) * 8, used
//               when kStartGiven (little-endian, like the rest)
//   bytes 5-8   with kTwoSegments: how many payload bytes end the first segment
//   byte 9      files: kPadFirst, kPadLast
//   bytes 10-   payload. One segment: the payload is the segment from offset 0. Two segments:
//               the first `split` bytes are the end of the first segment (whose long header
//               the target writes), the rest is the second segment from offset 0.
// A segment file ends with the page its data ends in (a segment cut short, as by an
// interrupted copy) unless padded with zeros to the full 1 MiB: always for the first of two
// segments, else with kPadFirst / kPadLast. (Reading a full segment costs more than the scan: most
// seeds do not.) Unless kRawHeaders, the long header at the start of a segment taken from the
// payload is patched to be valid for the segment (magic, xlp_info long-header bit, pageaddr, system
// identifier, segment and block size); xlp_tli, xlp_rem_len and the other xlp_info bits stay
// the fuzzer's.
#ifndef PGHA_TESTS_FUZZ_WAL_FUZZ_INPUT_HPP
#define PGHA_TESTS_FUZZ_WAL_FUZZ_INPUT_HPP

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pgha::fuzz {

inline constexpr std::uint32_t kWalFuzzSegmentSize = 1u << 20;
inline constexpr std::uint64_t kWalFuzzFirstSegment = 1;  // files ...0001 and ...0002, TLI 1
inline constexpr std::uint64_t kWalFuzzSystemId = 7'300'000'000'000'000'001ull;
inline constexpr std::size_t kWalFuzzPrefixSize = 10;

inline constexpr std::uint8_t kTwoSegments = 0x10;
inline constexpr std::uint8_t kStartGiven = 0x20;
inline constexpr std::uint8_t kRawHeaders = 0x40;
/// WalScanOptions carry the segment size and system identifier instead of leaving them to
/// the first long header.
inline constexpr std::uint8_t kStrictOptions = 0x80;

/// Bits of byte 9: pad the first (only or first of two) / the second segment file.
inline constexpr std::uint8_t kPadFirst = 0x01;
inline constexpr std::uint8_t kPadLast = 0x02;

/// The control byte's major for `major` (10..18).
constexpr std::uint8_t ControlForMajor(int major) {
  return static_cast<std::uint8_t>(major - 10);
}

/// A fuzz input: the 10-byte prefix, then `payload`.
inline std::vector<std::uint8_t> EncodeWalFuzzInput(std::uint8_t control, std::uint32_t start,
                                                    std::uint32_t split, std::uint8_t files,
                                                    const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out{control};
  for (std::uint32_t v : {start, split}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  out.push_back(files);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace pgha::fuzz

#endif  // PGHA_TESTS_FUZZ_WAL_FUZZ_INPUT_HPP
