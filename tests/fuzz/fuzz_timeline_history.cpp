// libFuzzer target: timeline history files (TimelineHistory::TryParse). The first input byte
// is the timeline whose history the rest is. Invariants: a refusal is kBadInput; a parsed
// history is contiguous and increasing, ends with the tip, and Parse(ToText()) gives equal
// entries; the lookups answer for every entry.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "pgha/timeline.hpp"

namespace {

using pgha::Lsn;
using pgha::TimelineHistory;
using pgha::TimelineHistoryEntry;

void CheckShape(const TimelineHistory& h, pgha::TimelineId timeline) {
  const std::vector<TimelineHistoryEntry>& entries = h.entries();
  PGHA_FUZZ_CHECK(!entries.empty());
  PGHA_FUZZ_CHECK(h.timeline() == timeline);
  PGHA_FUZZ_CHECK(!entries.back().end.IsValid() && entries.back().reason.empty());
  PGHA_FUZZ_CHECK(!entries.front().begin.IsValid());
  for (std::size_t i = 0; i + 1 < entries.size(); ++i) {
    PGHA_FUZZ_CHECK(entries[i].timeline < entries[i + 1].timeline);
    PGHA_FUZZ_CHECK(entries[i].end.IsValid() && entries[i].end == entries[i + 1].begin);
  }
}

void CheckLookups(const TimelineHistory& h) {
  for (const TimelineHistoryEntry& e : h.entries()) {
    PGHA_FUZZ_CHECK(h.Contains(e.timeline));
    PGHA_FUZZ_CHECK(h.SwitchPoint(e.timeline) == e.end);
    PGHA_FUZZ_CHECK(h.TimelineOf(e.begin) != 0);
    // The follow rule on either side of the switch point.
    pgha::FollowCheck at = h.CanFollow(e.timeline, e.end);
    PGHA_FUZZ_CHECK(at.verdict == pgha::FollowVerdict::kValid && !at.detail.empty());
    if (e.end.IsValid() && e.end.value() != UINT64_MAX) {
      pgha::FollowCheck past = h.CanFollow(e.timeline, Lsn(e.end.value() + 1));
      PGHA_FUZZ_CHECK(past.verdict == pgha::FollowVerdict::kDiverged);
      PGHA_FUZZ_CHECK(h.TimelineOf(e.end) != e.timeline);
    }
  }
  if (h.timeline() != UINT32_MAX) {
    PGHA_FUZZ_CHECK(h.CanFollow(h.timeline() + 1, Lsn(1)).verdict ==
                    pgha::FollowVerdict::kUnknownTimeline);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const pgha::TimelineId timeline = data[0];
  const std::string_view text = pgha::fuzz::AsText(data + 1, size - 1);
  pgha::Result<TimelineHistory> r = TimelineHistory::TryParse(text, timeline);
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    return 0;
  }
  const TimelineHistory& h = r.value();
  CheckShape(h, timeline);
  CheckLookups(h);
  const std::string written = h.ToText();
  pgha::Result<TimelineHistory> again = TimelineHistory::TryParse(written, timeline);
  PGHA_FUZZ_CHECK(again.ok());
  PGHA_FUZZ_CHECK(again.value().entries() == h.entries());
  PGHA_FUZZ_CHECK(again.value().ToText() == written);
  return 0;
}
