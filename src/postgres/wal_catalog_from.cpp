// WalCatalog::From (the files a node needs to catch up) and WalCatalog::ValidLsn.
#include <map>
#include <optional>
#include <set>

#include "pgha/error.hpp"
#include "pgha/wal_catalog.hpp"
#include "pgha/wal_scan.hpp"
#include "text.hpp"
#include "wal_catalog_impl.hpp"
#include "wal_content.hpp"

namespace pgha {

namespace {

using catalog::DirEntry;
using catalog::TimelineSpan;

std::string TimelineList(const TimelineHistory& history) {
  std::string out;
  for (const TimelineHistoryEntry& e : history.entries()) {
    out += (out.empty() ? "" : ", ") + std::to_string(e.timeline);
  }
  return out;
}

std::string At(TimelineId tli, Lsn lsn) {
  return "(timeline " + std::to_string(tli) + ", " + lsn.ToString() + ")";
}

// Picks the files of From in order from a listing of pg_wal.
class FromPlan {
 public:
  FromPlan(const std::vector<DirEntry>& entries, std::uint32_t segment_size, std::string where)
      : segment_size_(segment_size), where_(std::move(where)) {
    for (const DirEntry& e : entries) by_name_.emplace(e.name, &e);
  }

  void AddHistory(TimelineId tli) {
    std::string name = WalFileName::History(tli).ToString();
    if (!Add(name)) Missing(name);
  }

  // Segments lo..last of `span`; its last one may be a partial, or absent when the next
  // timeline has a copy of it.
  void AddSegments(const TimelineSpan& span, std::uint64_t lo) {
    if (span.empty) return;
    for (std::uint64_t segno = lo; segno <= span.last_segment; ++segno) {
      WalFileName n;
      n.kind = WalFileKind::kSegment;
      n.timeline = span.timeline;
      n.segment = segno;
      n.segment_size = segment_size_;
      const std::string segment = n.ToString();
      if (segno < span.last_segment) {
        if (!Add(segment)) Missing(segment);
        continue;
      }
      n.kind = WalFileKind::kPartial;
      if (!Add(segment) && !Add(n.ToString()) && !span.shares_last_segment) {
        Missing(segment, n.ToString());
      }
    }
  }

  const std::vector<DirEntry>& files() const { return chosen_; }

 private:
  // Adds `name` when present.
  bool Add(const std::string& name) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return false;
    chosen_.push_back(*it->second);
    return true;
  }

  [[noreturn]] void Missing(const std::string& name, const std::string& alternative = "") const {
    std::string also = alternative.empty() ? "" : " (or \"" + alternative + "\")";
    throw Error(ErrorCode::kNotFound, "WAL file \"" + name + "\"" + also + " needed " + where_ +
                                          " is not in pg_wal (removed, or never received)");
  }

  std::uint32_t segment_size_;
  std::string where_;
  std::map<std::string, const DirEntry*> by_name_;
  std::vector<DirEntry> chosen_;
};

// Where a node at (tli, lsn) stands on `spans`: the span its WAL continues in. Throws as
// From documents.
const TimelineSpan& StartSpan(const std::vector<TimelineSpan>& spans, const WalPosition& end,
                              TimelineId tli, Lsn lsn) {
  if (tli == 0) throw Error(ErrorCode::kBadInput, "timeline 0 does not exist");
  const TimelineSpan* span = FindSpan(spans, tli);
  if (span == nullptr) {
    throw Error(ErrorCode::kNotFound, "timeline " + std::to_string(tli) +
                                          " is not in this node's history (timelines " +
                                          TimelineList(end.history) + ")");
  }
  const bool tip = span->index + 1 == spans.size();
  if (!tip && lsn > span->end) {
    throw Error(ErrorCode::kWrongState,
                At(tli, lsn) + " has diverged: this node's timeline " +
                    std::to_string(spans[span->index + 1].timeline) + " forked from timeline " +
                    std::to_string(tli) + " at " + span->end.ToString() +
                    " HINT: rewind that node (pg_rewind) before it follows this one");
  }
  if (tip && lsn > end.end_of_wal) {
    throw Error(ErrorCode::kWrongState,
                At(tli, lsn) + " is ahead of this node's end of WAL " + end.end_of_wal.ToString());
  }
  // Before `tli` began here, the node's WAL is an ancestor timeline's.
  if (span->begin.IsValid() && lsn < span->begin) {
    return *FindSpan(spans, end.history.TimelineOf(lsn));
  }
  return *span;
}

// The first segment file from the one holding `lsn` to the end of WAL that is not in
// `entries`, each segment of the timeline PostgreSQL reads it from (XLogFileReadAnyTLI).
std::optional<std::string> MissingSegment(const std::vector<TimelineSpan>& spans,
                                          const std::vector<DirEntry>& entries, Lsn lsn,
                                          const WalPosition& end, std::uint32_t segment_size) {
  std::set<std::string> present;
  for (const DirEntry& e : entries) present.insert(e.name);
  const std::uint64_t last = SegmentNumberOf(end.end_of_wal.Minus(1), segment_size);
  for (std::uint64_t segno = SegmentNumberOf(lsn, segment_size); segno <= last; ++segno) {
    WalFileName n;
    n.timeline = TimelineForSegment(spans, segno);
    n.segment = segno;
    n.segment_size = segment_size;
    if (present.count(n.ToString()) == 0) return n.ToString();
  }
  return std::nullopt;
}

// validLsn's answers that the history and the end of WAL give alone, without reading WAL.
std::optional<ValidLsnResult> CheckOnHistory(const std::vector<TimelineSpan>& spans,
                                             const WalPosition& end, TimelineId tli, Lsn lsn) {
  const std::string at = At(tli, lsn);
  const TimelineSpan* span = FindSpan(spans, tli);
  if (span == nullptr) {
    return ValidLsnResult{ValidLsnCode::kNoEntry,
                          "no entry: timeline " + std::to_string(tli) +
                              " is not in this node's history (timelines " +
                              TimelineList(end.history) + ")",
                          0};
  }
  if (span->index + 1 < spans.size() && lsn > span->end) {
    return ValidLsnResult{ValidLsnCode::kDiverged,
                          "diverged: " + at + " is past the switch point " + span->end.ToString() +
                              " where this node's timeline " +
                              std::to_string(spans[span->index + 1].timeline) + " forked off",
                          0};
  }
  if (lsn > end.end_of_wal) {
    return ValidLsnResult{
        ValidLsnCode::kNoEntry,
        "no entry: " + at + " is beyond this node's end of WAL " + end.end_of_wal.ToString(), 0};
  }
  if (lsn == end.end_of_wal) return ValidLsnResult{ValidLsnCode::kValid, "Valid lsn", 0};
  if (lsn.value() % 8 != 0) {
    return ValidLsnResult{
        ValidLsnCode::kMidRecord,
        "mid-record: " + at + " is not at a record boundary (records are 8-byte aligned)", 0};
  }
  return std::nullopt;
}

}  // namespace

std::vector<WalFileInfo> WalCatalog::From(TimelineId tli, Lsn lsn, const WalPosition& end) const {
  const std::uint32_t segment_size = impl_->segment_size();
  const std::vector<TimelineSpan> spans = catalog::ContentSpans(end, segment_size);
  const TimelineSpan& start = StartSpan(spans, end, tli, lsn);
  const std::vector<DirEntry> entries = impl_->ReadDir();  // FromPlan points into it
  FromPlan plan(entries, segment_size, "from " + At(tli, lsn));
  plan.AddSegments(start, std::max(SegmentNumberOf(lsn, segment_size), start.first_segment));
  for (std::size_t i = start.index + 1; i < spans.size(); ++i) {
    plan.AddHistory(spans[i].timeline);
    plan.AddSegments(spans[i], spans[i].first_segment);
  }
  std::vector<WalFileInfo> out;
  for (std::optional<WalFileInfo>& info : impl_->HashAll(plan.files())) {
    if (!info) {
      throw Error(ErrorCode::kNotFound, "a WAL file needed from " + At(tli, lsn) +
                                            " was removed from pg_wal while it was read");
    }
    out.push_back(std::move(*info));
  }
  return out;
}

std::vector<WalFileInfo> WalCatalog::From(const std::string& wal_file_name,
                                          const WalPosition& end) const {
  WalFileName n = WalFileName::Parse(wal_file_name, impl_->segment_size());
  if (!n.HoldsWal()) {
    throw Error(ErrorCode::kBadInput, "\"" + wal_file_name + "\" is a " +
                                          std::string(WalFileKindName(n.kind)) +
                                          " file: From takes a segment or partial segment name");
  }
  return From(n.timeline, n.StartLsn(), end);
}

ValidLsnResult WalCatalog::ValidLsn(TimelineId tli, Lsn lsn, const WalPosition& end,
                                    const std::optional<WalRecordRef>& last) const {
  ValidLsnResult answer = ValidLsn(tli, lsn, end);
  const bool on_history =
      answer.code == ValidLsnCode::kValid || answer.code == ValidLsnCode::kMidRecord;
  if (!on_history || !last || !last->start.IsValid() || last->start >= lsn) return answer;
  // On this node's history; the record before `lsn` must be this node's too (when `lsn` is
  // not even a record boundary here, a different record says why).
  const std::uint32_t segment_size = impl_->segment_size();
  const std::vector<TimelineSpan> spans = catalog::ContentSpans(end, segment_size);
  if (std::optional<std::string> gone =
          MissingSegment(spans, impl_->ReadDir(), last->start, end, segment_size)) {
    return {ValidLsnCode::kFileMissing,
            "WAL file \"" + *gone + "\" (from the record at " + last->start.ToString() +
                " to the end of WAL) is missing from pg_wal",
            0};
  }
  WalScanOptions options;
  options.start = last->start;
  options.segment_size = segment_size;
  options.system_identifier = impl_->configured_system_identifier();
  options.max_records = 1;
  const WalScanResult scan = ScanWalDirectory(impl_->dir(), end.history, options);
  if (scan.records == 1 && scan.last_record_crc == last->crc) return answer;
  const std::string here = scan.records == 1
                               ? "this node's has CRC " + LowerHex32(scan.last_record_crc)
                               : std::string("no record starts there");
  return {ValidLsnCode::kRecordDiffers,
          "record differs: the record at " + last->start.ToString() + " before " + At(tli, lsn) +
              " (CRC " + LowerHex32(last->crc) + ") is not this node's (" + here +
              "): the nodes wrote different WAL at the same positions of one timeline",
          0};
}

ValidLsnResult WalCatalog::ValidLsn(TimelineId tli, Lsn lsn, const WalPosition& end) const {
  const std::uint32_t segment_size = impl_->segment_size();
  const std::vector<TimelineSpan> spans = catalog::ContentSpans(end, segment_size);
  if (std::optional<ValidLsnResult> answer = CheckOnHistory(spans, end, tli, lsn)) return *answer;
  if (std::optional<std::string> gone =
          MissingSegment(spans, impl_->ReadDir(), lsn, end, segment_size)) {
    return {ValidLsnCode::kFileMissing,
            "WAL file \"" + *gone + "\" (from " + lsn.ToString() +
                " to the end of WAL) is missing from pg_wal",
            0};
  }
  WalScanOptions options;
  options.start = lsn;
  options.segment_size = segment_size;
  options.system_identifier = impl_->configured_system_identifier();
  const WalScanResult scan = ScanWalDirectory(impl_->dir(), end.history, options);
  if (scan.records == 0) {
    return {ValidLsnCode::kMidRecord,
            "mid-record: " + At(tli, lsn) + " is not at a record boundary: " + scan.stop_reason, 0};
  }
  return {ValidLsnCode::kValid, "Valid lsn", scan.records};
}

}  // namespace pgha
