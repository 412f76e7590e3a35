#include "wal_segment_check.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace pgha::catalog {

namespace {

// XLP_ALL_FLAGS of PostgreSQL 14+ (xlog_internal.h); older majors use a subset.
constexpr std::uint16_t kXlpAllFlags = 0x000F;

std::string Hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", v);
  return buf;
}

std::string MagicText(std::uint16_t magic) {
  int major = PostgresMajorForWalMagic(magic);
  return Hex16(magic) + (major != 0 ? " (PostgreSQL " + std::to_string(major) + ")" : "");
}

}  // namespace

SegmentPageCheck::SegmentPageCheck(WalFileName name, std::uint32_t segment_size, WalIdentity id,
                                   std::optional<TimelineHistory> history)
    : name_(std::move(name)), segment_size_(segment_size), id_(id), history_(std::move(history)) {}

std::string SegmentPageCheck::Feed(std::uint64_t offset, const std::uint8_t* data,
                                   std::size_t size) {
  const std::uint64_t end = offset + size;
  // Each page header is checked once its bytes are in, wherever the chunks split them.
  for (std::uint64_t page = offset / kWalPageSize; page * kWalPageSize < end; ++page) {
    const std::uint64_t start = page * kWalPageSize;
    const std::size_t header_size = page == 0 ? kWalLongPageHeaderSize : kWalShortPageHeaderSize;
    if (offset >= start + header_size) continue;
    const std::uint64_t from = std::max(offset, start);
    const std::uint64_t to = std::min<std::uint64_t>(end, start + header_size);
    std::memcpy(header_ + (from - start), data + (from - offset),
                static_cast<std::size_t>(to - from));
    if (to == start + header_size) {
      std::string failed = CheckPage(page);
      if (!failed.empty()) return failed;
    }
  }
  return {};
}

std::string SegmentPageCheck::CheckPage(std::uint64_t page) {
  // All 40 bytes, so a stray long-header bit on a later page decodes (its long fields are
  // leftovers, never read).
  WalPageHeader h = DecodeWalPageHeader(header_, sizeof header_);
  const Lsn address = name_.StartLsn().Plus(page * kWalPageSize);
  const std::string at = "page " + std::to_string(page) + " (" + address.ToString() + "): ";
  if (page == 0) {
    std::string failed = CheckFirst(h);
    if (!failed.empty()) return failed;
    id_.magic = h.magic;  // the pages that follow must carry the first one's
  } else {
    if (h.page_address != address) {
      if (!end_page_) end_page_ = page;
      return {};
    }
    if (end_page_) {
      return at + "WAL after its end at page " + std::to_string(*end_page_) +
             " (a page whose address is not its position)";
    }
    if (h.magic != *id_.magic) {
      return at + "page magic " + MagicText(h.magic) + " is not the segment's " +
             MagicText(*id_.magic);
    }
    if ((h.info & ~kXlpAllFlags) != 0) return at + "invalid info bits " + Hex16(h.info);
    if (h.is_long) return at + "a long header on a page that is not a segment's first";
  }
  std::string failed = CheckTimeline(h, address);
  return failed.empty() ? failed : at + failed;
}

// The long page header checks (XLogReaderValidatePageHeader's, plus the name).
std::string SegmentPageCheck::CheckFirst(const WalPageHeader& h) const {
  if (id_.magic && h.magic != *id_.magic) {
    return "page magic " + MagicText(h.magic) + " is not this cluster's " + MagicText(*id_.magic);
  }
  if (PostgresMajorForWalMagic(h.magic) == 0) return "unknown page magic " + Hex16(h.magic);
  if (!h.is_long) return "the first page has no long header (xlp_info " + Hex16(h.info) + ")";
  if ((h.info & ~kXlpAllFlags) != 0) return "invalid info bits " + Hex16(h.info);
  if (h.page_address != name_.StartLsn()) {
    return "page address " + h.page_address.ToString() + " is not the segment's start " +
           name_.StartLsn().ToString();
  }
  if (h.segment_size != segment_size_) {
    return "segment size " + std::to_string(h.segment_size) + " is not " +
           std::to_string(segment_size_);
  }
  if (h.block_size != kWalPageSize) return "WAL block size " + std::to_string(h.block_size);
  if (id_.system_identifier && h.system_identifier != *id_.system_identifier) {
    return "system identifier " + std::to_string(h.system_identifier) + " is not this cluster's " +
           std::to_string(*id_.system_identifier);
  }
  return {};
}

std::string SegmentPageCheck::CheckTimeline(const WalPageHeader& h, Lsn address) {
  if (h.timeline == 0 || h.timeline > name_.timeline) {
    return "page timeline " + std::to_string(h.timeline) + " is not in 1.." +
           std::to_string(name_.timeline);
  }
  if (h.timeline < last_timeline_) {
    return "page timeline " + std::to_string(h.timeline) + " after timeline " +
           std::to_string(last_timeline_) + " (out of sequence)";
  }
  last_timeline_ = h.timeline;
  if (!history_) return {};
  const TimelineId expected = history_->TimelineOf(address);
  if (h.timeline == expected) return {};
  const Lsn named_end = history_->SwitchPoint(name_.timeline);
  if (h.timeline == name_.timeline && named_end.IsValid() && address >= named_end) return {};
  return "page timeline " + std::to_string(h.timeline) + " is not timeline " +
         std::to_string(expected) + ", which this node's history has at " + address.ToString() +
         " (WAL of another branch)";
}

}  // namespace pgha::catalog
