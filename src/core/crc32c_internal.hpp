#ifndef PGHA_CORE_CRC32C_INTERNAL_HPP
#define PGHA_CORE_CRC32C_INTERNAL_HPP

#include <cstddef>
#include <cstdint>

namespace pgha {

/// The table implementation of Crc32cExtend, whatever the CPU (for tests and benchmarks).
std::uint32_t Crc32cExtendPortable(std::uint32_t crc, const void* data, std::size_t size) noexcept;

}  // namespace pgha

#endif  // PGHA_CORE_CRC32C_INTERNAL_HPP
