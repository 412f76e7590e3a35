// The page headers of an uploaded segment, checked as its bytes arrive (private).
#ifndef PGHA_POSTGRES_WAL_SEGMENT_CHECK_HPP
#define PGHA_POSTGRES_WAL_SEGMENT_CHECK_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_page.hpp"
#include "wal_catalog_state.hpp"

namespace pgha::catalog {

/// Checks every page header of one segment (or partial) named `name`, the way a server
/// reading it would (XLogReaderValidatePageHeader, and recovery's "unexpected timeline ID"):
///  - the first page: a long header with this cluster's magic, system identifier (when
///    known), segment size and block size, the segment's start as page address;
///  - every page whose address is its own position (WAL written there): the same magic,
///    valid info bits, no long header, a timeline not above the name's and not below the
///    previous page's;
///  - the first page whose address is not its position ends the WAL (a zero-filled or
///    recycled tail); a page of WAL after that end is refused;
///  - with a `history` (the node's timeline history, or the name's timeline's history for a
///    timeline newer than the node's): each page's timeline is the one that history has at
///    the page's address. Pages of an older timeline's own file past that timeline's switch
///    point may keep its timeline (a server reads the next timeline's file there).
/// Not thread-safe: one upload.
class SegmentPageCheck {
 public:
  SegmentPageCheck(WalFileName name, std::uint32_t segment_size, WalIdentity id,
                   std::optional<TimelineHistory> history);

  /// Takes the `size` bytes at `offset` (offsets strictly sequential). Returns the first
  /// failed check, "" while the pages are fine.
  std::string Feed(std::uint64_t offset, const std::uint8_t* data, std::size_t size);

 private:
  std::string CheckPage(std::uint64_t page);
  std::string CheckFirst(const WalPageHeader& h) const;
  std::string CheckTimeline(const WalPageHeader& h, Lsn address);

  WalFileName name_;
  std::uint32_t segment_size_;
  WalIdentity id_;
  std::optional<TimelineHistory> history_;
  std::uint8_t header_[kWalLongPageHeaderSize] = {};
  TimelineId last_timeline_ = 0;
  std::optional<std::uint64_t> end_page_;  // the first page that is not WAL
};

}  // namespace pgha::catalog

#endif  // PGHA_POSTGRES_WAL_SEGMENT_CHECK_HPP
