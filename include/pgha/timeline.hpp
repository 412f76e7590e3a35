// Timeline history files (pg_wal/TTTTTTTT.history) and the rule for following a primary.
#ifndef PGHA_TIMELINE_HPP
#define PGHA_TIMELINE_HPP

#include <string>
#include <string_view>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

namespace pgha {

/// One timeline of a history: WAL in [begin, end) belongs to `timeline`. An invalid `begin`
/// means "from the start", an invalid `end` means "still current" (the tip).
struct TimelineHistoryEntry {
  TimelineId timeline = 0;
  Lsn begin;
  Lsn end;
  /// The reason text of the history line that ended this timeline ("" for the tip).
  std::string reason;

  friend bool operator==(const TimelineHistoryEntry& a, const TimelineHistoryEntry& b) {
    return a.timeline == b.timeline && a.begin == b.begin && a.end == b.end && a.reason == b.reason;
  }
};

/// What a server at (timeline T, LSN X) can do with a primary whose history this is.
enum class FollowVerdict {
  kValid,            ///< it can stream from the primary without pg_rewind
  kDiverged,         ///< it wrote WAL on T past the switch point: needs pg_rewind
  kUnknownTimeline,  ///< T is not in the primary's history (e.g. T is newer): cannot follow
  kAheadOfPrimary,   ///< same timeline, X beyond the primary's flush position
};

/// The stable lower-case name: "valid", "diverged", "unknown_timeline", "ahead_of_primary".
PGHA_API std::string_view FollowVerdictName(FollowVerdict verdict) noexcept;

/// The answer of TimelineHistory::CanFollow, with the switch point that decided it.
struct FollowCheck {
  FollowVerdict verdict = FollowVerdict::kValid;
  /// The end of T in the primary's history (invalid when T is the primary's tip or unknown).
  Lsn switch_point;
  /// One line for an operator, naming T, X and the switch point.
  std::string detail;
};

/// The parsed history of one timeline, PostgreSQL's readTimeLineHistory() in value form.
/// Immutable after construction; thread-safe to share.
class PGHA_API TimelineHistory {
 public:
  /// The history of a timeline without a history file: one entry {timeline, 0/0, 0/0}.
  explicit TimelineHistory(TimelineId timeline = 1);

  /// Parses the text of `timeline`'s history file the way PostgreSQL does: blank lines and
  /// `#` comments skipped, each line "parent<TAB>X/Y<TAB>reason". Rejects, with the 1-based
  /// line number and the bad text, a line without a numeric timeline or a switch point,
  /// timelines that do not strictly increase or are not below `timeline`, and switch points
  /// that go backwards. Throws Error(kBadInput).
  static TimelineHistory Parse(std::string_view text, TimelineId timeline);
  /// Non-throwing Parse.
  static Result<TimelineHistory> TryParse(std::string_view text, TimelineId timeline);
  /// Reads and parses the file at `path`; the timeline comes from its name (`%08X.history`),
  /// or from `timeline` when that is non-zero. Throws kIo / kNotFound / kBadInput.
  static TimelineHistory Read(const std::string& path, TimelineId timeline = 0);

  /// The timeline this is the history of (the tip).
  TimelineId timeline() const noexcept { return entries_.back().timeline; }
  /// Entries oldest first; the last one is the tip, with an invalid `end`.
  const std::vector<TimelineHistoryEntry>& entries() const noexcept { return entries_; }

  /// True when `timeline` is in this history.
  bool Contains(TimelineId timeline) const noexcept;
  /// Where `timeline` ended (tliSwitchPoint): invalid for the tip. Throws Error(kNotFound)
  /// when `timeline` is not in this history.
  Lsn SwitchPoint(TimelineId timeline) const;
  /// The timeline `lsn` belongs to (tliOfPointInHistory): a switch point belongs to the
  /// child timeline.
  TimelineId TimelineOf(Lsn lsn) const;

  /// The follow rule (reference §2.3): can a server at (`timeline`, `lsn`) stream from a
  /// primary with this history? `primary_flush`, when valid, also checks that a server on
  /// the primary's own timeline is not ahead of it.
  FollowCheck CanFollow(TimelineId timeline, Lsn lsn, Lsn primary_flush = Lsn()) const;

  /// The file text PostgreSQL would write for this history ("%u\t%X/%X\t%s\n" lines).
  std::string ToText() const;

 private:
  std::vector<TimelineHistoryEntry> entries_;
};

}  // namespace pgha

#endif  // PGHA_TIMELINE_HPP
