// CRC-32C (Castagnoli), the checksum of PostgreSQL's WAL records and slot state files.
#ifndef PGHA_CRC32C_HPP
#define PGHA_CRC32C_HPP

#include <cstddef>
#include <cstdint>

#include "pgha/export.hpp"

namespace pgha {

/// Continues a CRC-32C over `size` bytes at `data`. Start with `crc = kCrc32cInit` and
/// finish with `Crc32cFinish`, as PostgreSQL's INIT_CRC32C / COMP_CRC32C / FIN_CRC32C.
/// Uses the CPU's crc32 instruction where present, a table otherwise. Thread-safe.
PGHA_API std::uint32_t Crc32cExtend(std::uint32_t crc, const void* data, std::size_t size) noexcept;

inline constexpr std::uint32_t kCrc32cInit = 0xFFFFFFFFu;
inline constexpr std::uint32_t Crc32cFinish(std::uint32_t crc) noexcept {
  return crc ^ 0xFFFFFFFFu;
}

/// The finished CRC-32C of one buffer: Crc32c("123456789", 9) == 0xE3069283.
inline std::uint32_t Crc32c(const void* data, std::size_t size) noexcept {
  return Crc32cFinish(Crc32cExtend(kCrc32cInit, data, size));
}

/// True when Crc32cExtend uses the CPU instruction (SSE 4.2 on x86-64).
PGHA_API bool Crc32cIsHardwareAccelerated() noexcept;

}  // namespace pgha

#endif  // PGHA_CRC32C_HPP
