#include "pgha/wal_page.hpp"

#include <cstdio>
#include <string>

#include "pgha/error.hpp"
#include "wal_layout.hpp"

namespace pgha {

namespace {

std::string Hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", static_cast<unsigned>(v));
  return buf;
}

}  // namespace

WalPageHeader DecodeWalPageHeader(const std::uint8_t* data, std::size_t size) {
  if (data == nullptr || size < kWalShortPageHeaderSize) {
    throw Error(ErrorCode::kBadInput,
                "truncated WAL page header: " + std::to_string(kWalShortPageHeaderSize) +
                    " bytes needed at offset 0, only " + std::to_string(data ? size : 0) +
                    " available",
                data ? size : 0);
  }
  WalPageHeader h;
  h.magic = wal::Load16(data + wal::kXlpMagicOffset);
  h.info = wal::Load16(data + wal::kXlpInfoOffset);
  h.timeline = wal::Load32(data + wal::kXlpTliOffset);
  h.page_address = Lsn(wal::Load64(data + wal::kXlpPageAddrOffset));
  h.rem_len = wal::Load32(data + wal::kXlpRemLenOffset);
  h.is_long = (h.info & kXlpLongHeader) != 0;
  if (!h.is_long) return h;
  if (size < kWalLongPageHeaderSize) {
    throw Error(ErrorCode::kBadInput,
                "truncated WAL page header: xlp_info " + Hex16(h.info) +
                    " announces a long header of " + std::to_string(kWalLongPageHeaderSize) +
                    " bytes at offset 0, only " + std::to_string(size) + " available",
                size);
  }
  h.system_identifier = wal::Load64(data + wal::kXlpSysidOffset);
  h.segment_size = wal::Load32(data + wal::kXlpSegSizeOffset);
  h.block_size = wal::Load32(data + wal::kXlpBlckszOffset);
  return h;
}

int PostgresMajorForWalMagic(std::uint16_t magic) noexcept {
  for (const wal::MagicEntry& e : wal::kMagicTable) {
    if (e.magic == magic) return e.major;
  }
  return 0;
}

std::uint16_t WalMagicForMajor(int major) {
  for (const wal::MagicEntry& e : wal::kMagicTable) {
    if (e.major == major) return e.magic;
  }
  throw Error(ErrorCode::kBadInput, "no XLOG_PAGE_MAGIC known for PostgreSQL major " +
                                        std::to_string(major) + ": supported are 10 to 18");
}

}  // namespace pgha
