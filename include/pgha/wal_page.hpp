// WAL page headers (XLogPageHeaderData / XLogLongPageHeaderData in xlog_internal.h).
#ifndef PGHA_WAL_PAGE_HPP
#define PGHA_WAL_PAGE_HPP

#include <cstddef>
#include <cstdint>

#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

namespace pgha {

/// XLOG_BLCKSZ, the WAL page size of every supported build.
inline constexpr std::uint32_t kWalPageSize = 8192;
/// Sizes of the short and long page headers (MAXALIGNed).
inline constexpr std::size_t kWalShortPageHeaderSize = 24;
inline constexpr std::size_t kWalLongPageHeaderSize = 40;

/// xlp_info bits.
inline constexpr std::uint16_t kXlpFirstIsContRecord = 0x0001;
inline constexpr std::uint16_t kXlpLongHeader = 0x0002;
inline constexpr std::uint16_t kXlpBkpRemovable = 0x0004;
inline constexpr std::uint16_t kXlpFirstIsOverwriteContRecord = 0x0008;

/// A decoded page header. The long-header fields are zero on a short header.
struct WalPageHeader {
  std::uint16_t magic = 0;
  std::uint16_t info = 0;
  TimelineId timeline = 0;
  Lsn page_address;
  std::uint32_t rem_len = 0;
  bool is_long = false;
  std::uint64_t system_identifier = 0;
  std::uint32_t segment_size = 0;
  std::uint32_t block_size = 0;

  /// The header's size on the page (24 or 40).
  std::size_t size() const noexcept {
    return is_long ? kWalLongPageHeaderSize : kWalShortPageHeaderSize;
  }
};

/// Decodes the page header at `data` (native byte order). Throws Error(kBadInput) with the
/// offset when `size` is too small for the header its info bits announce. Does not validate
/// the values: see CheckWalPageHeader.
PGHA_API WalPageHeader DecodeWalPageHeader(const std::uint8_t* data, std::size_t size);

/// The PostgreSQL major (10..18) whose XLOG_PAGE_MAGIC this is; 0 when unknown.
PGHA_API int PostgresMajorForWalMagic(std::uint16_t magic) noexcept;
/// XLOG_PAGE_MAGIC of PostgreSQL `major` (10..18); throws Error(kBadInput) for others.
PGHA_API std::uint16_t WalMagicForMajor(int major);

}  // namespace pgha

#endif  // PGHA_WAL_PAGE_HPP
