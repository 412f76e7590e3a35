// Timeline history files: the reader follows readTimeLineHistory(), the helpers
// tliOfPointInHistory() / tliSwitchPoint() and the writer writeTimeLineHistory() of
// PostgreSQL's src/backend/access/transam/timeline.c (unchanged in 10-18).
#include "pgha/timeline.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "text.hpp"

namespace pgha {

namespace {

// isspace() in the C locale, which is what readTimeLineHistory() skips.
bool IsCSpace(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsFieldSeparator(char c) noexcept {
  return c == ' ' || c == '\t';
}

[[noreturn]] void BadLine(std::uint64_t line_no, std::string_view line, const std::string& why) {
  throw Error(
      ErrorCode::kBadInput,
      "history file line " + std::to_string(line_no) + " \"" + QuoteForMessage(line) + "\": " + why,
      line_no);
}

// The text up to the first blank (or the end) and what follows it.
std::string_view NextField(std::string_view* rest) {
  std::size_t n = 0;
  while (n < rest->size() && !IsFieldSeparator((*rest)[n])) ++n;
  std::string_view field = rest->substr(0, n);
  rest->remove_prefix(n);
  return field;
}

std::string_view SkipSeparators(std::string_view text) {
  while (!text.empty() && IsFieldSeparator(text.front())) text.remove_prefix(1);
  return text;
}

// One "parent<TAB>X/Y<TAB>reason" line, already known not to be blank or a comment.
struct HistoryLine {
  TimelineId parent = 0;
  Lsn switch_point;
  std::string reason;
};

HistoryLine ParseHistoryLine(std::string_view line, std::uint64_t line_no) {
  std::string_view rest = line;
  while (!rest.empty() && IsCSpace(rest.front())) rest.remove_prefix(1);
  HistoryLine out;
  std::string_view tli_text = NextField(&rest);
  auto tli = ParseDecimalU64(tli_text);
  if (!tli) BadLine(line_no, line, "expected a numeric timeline ID");
  if (*tli == 0 || *tli > UINT32_MAX) {
    BadLine(line_no, line, "timeline ID " + std::string(tli_text) + " is out of range");
  }
  out.parent = static_cast<TimelineId>(*tli);
  rest = SkipSeparators(rest);
  if (rest.empty()) BadLine(line_no, line, "expected a switch point location after the timeline");
  std::string_view lsn_text = NextField(&rest);
  auto lsn = Lsn::TryParse(lsn_text);
  if (!lsn) {
    BadLine(line_no, line, "switch point \"" + QuoteForMessage(lsn_text) + "\" is not an LSN X/Y");
  }
  if (!lsn->IsValid()) BadLine(line_no, line, "switch point 0/0 is not a WAL position");
  out.switch_point = *lsn;
  out.reason = std::string(SkipSeparators(rest));
  return out;
}

// Checks one line against the lines before it and the child timeline `target`.
void CheckOrder(const HistoryLine& h, const std::vector<TimelineHistoryEntry>& entries,
                TimelineId target, std::string_view line, std::uint64_t line_no) {
  if (!entries.empty() && h.parent <= entries.back().timeline) {
    BadLine(line_no, line,
            "timeline IDs must be in increasing sequence (" + std::to_string(h.parent) +
                " follows " + std::to_string(entries.back().timeline) + ")");
  }
  if (h.parent >= target) {
    BadLine(line_no, line,
            "timeline IDs must be less than the child timeline's ID " + std::to_string(target));
  }
  if (!entries.empty() && h.switch_point < entries.back().end) {
    BadLine(line_no, line,
            "switch point " + h.switch_point.ToString() + " goes back from " +
                entries.back().end.ToString());
  }
}

// PostgreSQL's getRecoveryStopReason() ends the reasons of time and LSN recovery targets
// ("before <timestamp>", "after LSN X/X") with their own '\n'; the others have none.
bool ReasonHasOwnNewline(std::string_view reason) {
  for (std::string_view prefix : {"before ", "after "}) {
    if (reason.substr(0, prefix.size()) == prefix) {
      return reason.substr(prefix.size(), 12) != "transaction ";
    }
  }
  return false;
}

std::string FormatTimelineList(const std::vector<TimelineHistoryEntry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    if (!out.empty()) out += ", ";
    out += std::to_string(e.timeline);
  }
  return out;
}

}  // namespace

std::string_view FollowVerdictName(FollowVerdict verdict) noexcept {
  switch (verdict) {
    case FollowVerdict::kValid: return "valid";
    case FollowVerdict::kDiverged: return "diverged";
    case FollowVerdict::kUnknownTimeline: return "unknown_timeline";
    case FollowVerdict::kAheadOfPrimary: return "ahead_of_primary";
  }
  return "unknown";
}

TimelineHistory::TimelineHistory(TimelineId timeline) {
  if (timeline == 0) throw Error(ErrorCode::kBadInput, "timeline 0 does not exist");
  entries_.push_back({timeline, Lsn(), Lsn(), ""});
}

TimelineHistory TimelineHistory::Parse(std::string_view text, TimelineId timeline) {
  TimelineHistory out(timeline);
  std::vector<TimelineHistoryEntry> entries;
  ForEachLine(text, [&](std::string_view line, std::uint64_t line_no) {
    // Every CR before the LF: a reason ending in one would not survive ToText and Parse.
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t first = 0;
    while (first < line.size() && IsCSpace(line[first])) ++first;
    if (first == line.size() || line[first] == '#') return;
    HistoryLine h = ParseHistoryLine(line, line_no);
    CheckOrder(h, entries, timeline, line, line_no);
    Lsn begin = entries.empty() ? Lsn() : entries.back().end;
    entries.push_back({h.parent, begin, h.switch_point, std::move(h.reason)});
  });
  Lsn tip_begin = entries.empty() ? Lsn() : entries.back().end;
  entries.push_back({timeline, tip_begin, Lsn(), ""});
  out.entries_ = std::move(entries);
  return out;
}

Result<TimelineHistory> TimelineHistory::TryParse(std::string_view text, TimelineId timeline) {
  return Capture([&] { return Parse(text, timeline); });
}

TimelineHistory TimelineHistory::Read(const std::string& path, TimelineId timeline) {
  if (timeline == 0) {
    std::size_t slash = path.rfind('/');
    std::string_view name(path);
    if (slash != std::string::npos) name.remove_prefix(slash + 1);
    auto parsed = WalFileName::TryParse(name);
    if (!parsed || parsed.value().kind != WalFileKind::kHistory) {
      throw Error(ErrorCode::kBadInput, "cannot tell the timeline from the file name \"" +
                                            QuoteForMessage(name) + "\": expected %08X.history");
    }
    timeline = parsed.value().timeline;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "could not open history file \"" + path + "\": " + std::strerror(err));
  }
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, file.get())) > 0) text.append(buf, n);
  if (std::ferror(file.get())) {
    throw Error(ErrorCode::kIo, "could not read history file \"" + path + "\"");
  }
  return Parse(text, timeline);
}

bool TimelineHistory::Contains(TimelineId timeline) const noexcept {
  for (const auto& e : entries_) {
    if (e.timeline == timeline) return true;
  }
  return false;
}

Lsn TimelineHistory::SwitchPoint(TimelineId timeline) const {
  for (const auto& e : entries_) {
    if (e.timeline == timeline) return e.end;
  }
  throw Error(ErrorCode::kNotFound, "timeline " + std::to_string(timeline) +
                                        " is not in the history of timeline " +
                                        std::to_string(this->timeline()) + " (timelines " +
                                        FormatTimelineList(entries_) + ")");
}

TimelineId TimelineHistory::TimelineOf(Lsn lsn) const {
  // Newest first, as tliOfPointInHistory() walks the list; a switch point belongs to the
  // child. Parse guarantees the entries are contiguous, so the loop always answers.
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if ((!it->begin.IsValid() || it->begin <= lsn) && (!it->end.IsValid() || lsn < it->end)) {
      return it->timeline;
    }
  }
  throw Error(ErrorCode::kInternal, "timeline history was not contiguous");
}

FollowCheck TimelineHistory::CanFollow(TimelineId timeline, Lsn lsn, Lsn primary_flush) const {
  const std::string at = "server at " + lsn.ToString() + " on timeline " + std::to_string(timeline);
  const std::string tip = std::to_string(this->timeline());
  FollowCheck out;
  if (timeline == this->timeline()) {
    if (primary_flush.IsValid() && lsn > primary_flush) {
      out.verdict = FollowVerdict::kAheadOfPrimary;
      out.detail = at + " is ahead of the primary's flush position " + primary_flush.ToString() +
                   " on the same timeline";
    } else {
      out.detail = at + " can follow: it is on the primary's current timeline";
    }
    return out;
  }
  if (!Contains(timeline)) {
    out.verdict = FollowVerdict::kUnknownTimeline;
    out.detail = at + " cannot follow: timeline " + std::to_string(timeline) +
                 " is not in the history of the primary's timeline " + tip + " (timelines " +
                 FormatTimelineList(entries_) + ")";
    return out;
  }
  out.switch_point = SwitchPoint(timeline);
  const std::string sp = out.switch_point.ToString();
  if (lsn <= out.switch_point) {
    out.detail = at + " can follow: the primary's timeline " + tip + " forked from timeline " +
                 std::to_string(timeline) + " at " + sp + ", not before the server's position";
  } else {
    out.verdict = FollowVerdict::kDiverged;
    out.detail = at + " has diverged: the primary's timeline " + tip + " forked from timeline " +
                 std::to_string(timeline) + " at " + sp + ", before the server's position " +
                 "(HINT: rewind it with pg_rewind)";
  }
  return out;
}

std::string TimelineHistory::ToText() const {
  std::string out;
  char buf[48];
  for (std::size_t i = 0; i + 1 < entries_.size(); ++i) {
    const TimelineHistoryEntry& e = entries_[i];
    // writeTimeLineHistory() puts "\n" before the line it appends to a parent's file.
    if (i > 0) out += '\n';
    std::snprintf(buf, sizeof buf, "%u\t%X/%X\t", e.timeline, e.end.high(), e.end.low());
    out += buf;
    out += e.reason;
    if (ReasonHasOwnNewline(e.reason)) out += '\n';
    out += '\n';
  }
  return out;
}

}  // namespace pgha
