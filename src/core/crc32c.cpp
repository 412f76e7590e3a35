// CRC-32C with SSE 4.2 where the CPU has it and slicing-by-8 tables otherwise. Debian 12 has
// no packaged C++ CRC-32C library, so this one is written here (see README, Dependencies).
#include "pgha/crc32c.hpp"

#include <array>
#include <cstring>

#include "crc32c_internal.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <nmmintrin.h>
#define PGHA_HAVE_SSE42_PATH 1
#endif

namespace pgha {

namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected 0x1EDC6F41

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s) {
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

std::uint32_t ExtendTable(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  while (n >= 8) {
    std::uint32_t lo;
    std::uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;  // little-endian: the CRC register lines up with the first four bytes
    crc = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
          kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
          kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFFu];
  return crc;
}

#ifdef PGHA_HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) std::uint32_t ExtendSse42(std::uint32_t crc,
                                                            const unsigned char* p,
                                                            std::size_t n) noexcept {
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

bool DetectSse42() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  return (c & bit_SSE4_2) != 0;
}
#endif

}  // namespace

bool Crc32cIsHardwareAccelerated() noexcept {
#ifdef PGHA_HAVE_SSE42_PATH
  static const bool has = DetectSse42();
  return has;
#else
  return false;
#endif
}

std::uint32_t Crc32cExtend(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
#ifdef PGHA_HAVE_SSE42_PATH
  if (Crc32cIsHardwareAccelerated()) return ExtendSse42(crc, p, size);
#endif
  return ExtendTable(crc, p, size);
}

// Exposed for the unit test that checks both paths agree.
std::uint32_t Crc32cExtendPortable(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  return ExtendTable(crc, static_cast<const unsigned char*>(data), size);
}

}  // namespace pgha
