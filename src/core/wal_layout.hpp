// WAL layouts copied from PostgreSQL's headers, in one place (private to src/core).
//
// Followed, REL_10_STABLE .. REL_18_STABLE:
//   src/include/access/xlog_internal.h  XLogPageHeaderData, XLogLongPageHeaderData,
//                                       XLOG_PAGE_MAGIC, XLP_* flags, XLP_ALL_FLAGS
//   src/include/access/xlogrecord.h     XLogRecord (unchanged 10..18), XLogRecordMaxSize (16+)
//   src/include/access/rmgrlist.h       22 built-in resource managers (XLOG .. LogicalMessage)
//   src/include/access/rmgr.h           RM_MIN_CUSTOM_ID / RM_MAX_CUSTOM_ID (15+)
//   src/include/utils/memutils.h        MaxAllocSize (what bounds a record before 16)
// All multi-byte fields are in the byte order of the server that wrote them; pgha reads them
// in native order, as PostgreSQL does.
#ifndef PGHA_CORE_WAL_LAYOUT_HPP
#define PGHA_CORE_WAL_LAYOUT_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pgha/wal_page.hpp"

namespace pgha::wal {

// --- Page header (XLogPageHeaderData / XLogLongPageHeaderData) ---------------------------
inline constexpr std::size_t kXlpMagicOffset = 0;     // uint16 xlp_magic
inline constexpr std::size_t kXlpInfoOffset = 2;      // uint16 xlp_info
inline constexpr std::size_t kXlpTliOffset = 4;       // uint32 xlp_tli
inline constexpr std::size_t kXlpPageAddrOffset = 8;  // uint64 xlp_pageaddr
inline constexpr std::size_t kXlpRemLenOffset = 16;   // uint32 xlp_rem_len (+4 padding)
inline constexpr std::size_t kXlpSysidOffset = 24;    // uint64 xlp_sysid (long header)
inline constexpr std::size_t kXlpSegSizeOffset = 32;  // uint32 xlp_seg_size
inline constexpr std::size_t kXlpBlckszOffset = 36;   // uint32 xlp_xlog_blcksz
/// XLP_ALL_FLAGS. 0x0007 before XLP_FIRST_IS_OVERWRITE_CONTRECORD (14, back-patched into later
/// minors of 10-13: present in 10.20, absent in 11.2 / 12.5 / 13.1, reference section 4.1).
/// The minor cannot be known from the WAL, so 0x000F for all.
inline constexpr std::uint16_t kXlpAllFlags = 0x000F;
inline constexpr std::uint64_t kPageMask = kWalPageSize - 1;

/// XLOG_PAGE_MAGIC of each major (xlog_internal.h of each REL_nn_STABLE).
struct MagicEntry {
  int major;
  std::uint16_t magic;
};
inline constexpr MagicEntry kMagicTable[] = {
    {10, 0xD097}, {11, 0xD098}, {12, 0xD101}, {13, 0xD106}, {14, 0xD10D},
    {15, 0xD110}, {16, 0xD113}, {17, 0xD116}, {18, 0xD118},
};

// --- Record header (XLogRecord) -----------------------------------------------------------
inline constexpr std::size_t kRecordHeaderSize = 24;  // SizeOfXLogRecord
inline constexpr std::size_t kXlTotLenOffset = 0;     // uint32 xl_tot_len
inline constexpr std::size_t kXlXidOffset = 4;        // uint32 xl_xid
inline constexpr std::size_t kXlPrevOffset = 8;       // uint64 xl_prev
inline constexpr std::size_t kXlInfoOffset = 16;      // uint8 xl_info
inline constexpr std::size_t kXlRmidOffset = 17;      // uint8 xl_rmid (+2 padding)
inline constexpr std::size_t kXlCrcOffset = 20;       // uint32 xl_crc; the CRC covers bytes 0..19
inline constexpr std::uint8_t kRmXlogId = 0;          // RM_XLOG_ID
inline constexpr std::uint8_t kXlogSwitch = 0x40;     // XLOG_SWITCH
inline constexpr std::uint8_t kXlrInfoMask = 0x0F;    // XLR_INFO_MASK
inline constexpr std::uint8_t kRmMaxBuiltinId = 21;   // RM_LOGICALMSG_ID, 10..18
inline constexpr int kRmMinCustomId = 128;            // 15+
/// XLogRecordMaxSize (16+): 1020 MiB.
inline constexpr std::uint32_t kXLogRecordMaxSize = 1020u * 1024u * 1024u;
/// MaxAllocSize: before 16, readRecordBuf (xl_tot_len rounded up to the next page) had to fit.
inline constexpr std::uint32_t kMaxAllocSize = 0x3FFFFFFFu;

/// RmgrIdIsValid of `major`: built-ins, plus custom ids 128..255 from 15 on.
constexpr bool RmgrIdIsValid(int major, std::uint8_t rmid) noexcept {
  return rmid <= kRmMaxBuiltinId || (major >= 15 && rmid >= kRmMinCustomId);
}

/// The largest xl_tot_len a reader of `major` accepts.
constexpr std::uint32_t MaxRecordLength(int major) noexcept {
  // Before 16: allocate_recordbuf(total) needs total + (8192 - total % 8192) <= MaxAllocSize.
  return major >= 16 ? kXLogRecordMaxSize : kMaxAllocSize - kWalPageSize;
}

/// MAXALIGN (8 on every supported platform).
constexpr std::uint64_t MaxAlign(std::uint64_t n) noexcept {
  return (n + 7u) & ~std::uint64_t{7};
}

inline std::uint16_t Load16(const std::uint8_t* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint32_t Load32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint64_t Load64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Header size of the page at `page` (which holds at least a short header).
inline std::size_t PageHeaderSize(const std::uint8_t* page) noexcept {
  return (Load16(page + kXlpInfoOffset) & kXlpLongHeader) != 0 ? kWalLongPageHeaderSize
                                                               : kWalShortPageHeaderSize;
}

}  // namespace pgha::wal

#endif  // PGHA_CORE_WAL_LAYOUT_HPP
