// Which segments of which timelines are WAL content at a WalPosition (private).
#ifndef PGHA_POSTGRES_WAL_CONTENT_HPP
#define PGHA_POSTGRES_WAL_CONTENT_HPP

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pgha/wal_catalog.hpp"

namespace pgha::catalog {

/// One timeline's WAL [begin, end) and the segments that hold it.
struct TimelineSpan {
  TimelineId timeline = 0;
  /// Position in the history, 0 for the oldest.
  std::size_t index = 0;
  /// Invalid for the first timeline (from the start).
  Lsn begin;
  /// The switch point, or the end of WAL on the tip (exclusive).
  Lsn end;
  /// Segments holding [begin, end): XLByteToSeg(begin) through XLByteToPrevSeg(end), as
  /// XLogInitNewTimeline computes them; none when `empty`.
  std::uint64_t first_segment = 0;
  std::uint64_t last_segment = 0;
  bool empty = true;
  /// The switch point is inside last_segment, so the next timeline's first segment is a copy
  /// of it up to the switch point.
  bool shares_last_segment = false;

  bool HoldsSegment(std::uint64_t segno) const {
    return !empty && segno >= first_segment && segno <= last_segment;
  }
};

/// The spans of `position`, oldest first. Throws kBadInput for an invalid end of WAL (0/0, or
/// before the tip began).
std::vector<TimelineSpan> ContentSpans(const WalPosition& position, std::uint32_t segment_size);

/// The span of `timeline`, or nullptr.
const TimelineSpan* FindSpan(const std::vector<TimelineSpan>& spans, TimelineId timeline);

/// True when `name` (segment, partial or history file) is WAL content of these spans.
bool IsContent(const std::vector<TimelineSpan>& spans, const WalFileName& name);

/// The timeline whose file PostgreSQL reads for segment `segno` (XLogFileReadAnyTLI: the
/// newest timeline that had begun by that segment).
TimelineId TimelineForSegment(const std::vector<TimelineSpan>& spans, std::uint64_t segno);

}  // namespace pgha::catalog

#endif  // PGHA_POSTGRES_WAL_CONTENT_HPP
