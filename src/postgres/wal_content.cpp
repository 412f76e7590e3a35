#include "wal_content.hpp"

#include "pgha/error.hpp"

namespace pgha::catalog {

namespace {

TimelineSpan MakeSpan(const TimelineHistoryEntry& e, std::size_t index, Lsn end,
                      std::uint32_t segment_size) {
  TimelineSpan s;
  s.timeline = e.timeline;
  s.index = index;
  s.begin = e.begin;
  s.end = end;
  s.first_segment = e.begin.IsValid() ? SegmentNumberOf(e.begin, segment_size) : 0;
  if (!end.IsValid()) return s;
  // XLByteToPrevSeg: a switch point on a segment boundary ends the previous segment.
  s.last_segment = SegmentNumberOf(end.Minus(1), segment_size);
  s.empty = s.last_segment < s.first_segment || (e.begin.IsValid() && end <= e.begin);
  s.shares_last_segment = SegmentOffsetOf(end, segment_size) != 0;
  return s;
}

}  // namespace

std::vector<TimelineSpan> ContentSpans(const WalPosition& position, std::uint32_t segment_size) {
  const auto& entries = position.history.entries();
  const TimelineHistoryEntry& tip = entries.back();
  const Lsn end = position.end_of_wal;
  if (!end.IsValid()) {
    throw Error(ErrorCode::kBadInput, "end of WAL 0/0 is not a WAL position");
  }
  if (tip.begin.IsValid() && end < tip.begin) {
    throw Error(ErrorCode::kBadInput, "end of WAL " + end.ToString() + " is before timeline " +
                                          std::to_string(tip.timeline) + " began at " +
                                          tip.begin.ToString());
  }
  std::vector<TimelineSpan> spans;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    bool is_tip = i + 1 == entries.size();
    spans.push_back(MakeSpan(entries[i], i, is_tip ? end : entries[i].end, segment_size));
  }
  spans.back().shares_last_segment = false;
  return spans;
}

const TimelineSpan* FindSpan(const std::vector<TimelineSpan>& spans, TimelineId timeline) {
  for (const TimelineSpan& s : spans) {
    if (s.timeline == timeline) return &s;
  }
  return nullptr;
}

bool IsContent(const std::vector<TimelineSpan>& spans, const WalFileName& name) {
  const TimelineSpan* span = FindSpan(spans, name.timeline);
  if (span == nullptr) return false;
  switch (name.kind) {
    case WalFileKind::kHistory: return true;
    case WalFileKind::kSegment:
    case WalFileKind::kPartial: return span->HoldsSegment(name.segment);
    case WalFileKind::kBackup: return false;
  }
  return false;
}

TimelineId TimelineForSegment(const std::vector<TimelineSpan>& spans, std::uint64_t segno) {
  for (auto s = spans.rbegin(); s != spans.rend(); ++s) {
    if (!s->begin.IsValid() || s->first_segment <= segno) return s->timeline;
  }
  return spans.front().timeline;
}

}  // namespace pgha::catalog
