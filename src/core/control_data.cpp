// pg_controldata's text output. The labels and value formats follow
// src/bin/pg_controldata/pg_controldata.c of PostgreSQL 10-18 (the printf strings), the state
// names dbState() there and DBState in src/include/catalog/pg_control.h.
#include "pgha/control_data.hpp"

#include <cstdint>
#include <optional>
#include <string>

#include "control_labels.hpp"
#include "text.hpp"

namespace pgha {

namespace {

// The labels of the ControlData fields are printed by 10-18, except kPriorCheckpoint (10 only).
// Labels that other versions add or drop (10-12 "Float4 argument passing", 12+ "max_wal_senders
// setting", 18 "Default char data signedness") are kept in `fields`.
using namespace control_labels;  // NOLINT(google-build-using-namespace): the label table

constexpr ClusterState kAllStates[] = {
    ClusterState::kStartingUp,   ClusterState::kShutDown,        ClusterState::kShutDownInRecovery,
    ClusterState::kShuttingDown, ClusterState::kInCrashRecovery, ClusterState::kInArchiveRecovery,
    ClusterState::kInProduction,
};

// The "label: value" lines of one output, with their line numbers, and typed lookups
// that throw Error(kBadInput) naming the label, the value and the line.
class Lines {
 public:
  explicit Lines(std::map<std::string, std::string>* fields) : fields_(fields) {}

  void Add(std::string_view line, std::uint64_t line_no);

  bool Has(std::string_view label) const { return fields_->count(std::string(label)) != 0; }
  std::string_view Text(std::string_view label) const;
  std::uint64_t LineOf(std::string_view label) const { return line_of_.at(std::string(label)); }
  [[noreturn]] void Bad(std::string_view label, const std::string& why) const;

  std::uint64_t U64(std::string_view label) const;
  std::uint32_t U32(std::string_view label) const;
  Lsn LsnValue(std::string_view label) const;
  bool OnOff(std::string_view label) const;
  bool YesNo(std::string_view label) const;

 private:
  std::map<std::string, std::string>* fields_;
  std::map<std::string, std::uint64_t> line_of_;
};

void Lines::Add(std::string_view line, std::uint64_t line_no) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    throw Error(ErrorCode::kBadInput,
                "pg_controldata line " + std::to_string(line_no) + " \"" + QuoteForMessage(line) +
                    "\" has no ':' between label and value",
                line_no);
  }
  std::string label(Trim(line.substr(0, colon)));
  if (label.empty() || fields_->count(label) != 0) {
    throw Error(ErrorCode::kBadInput,
                "pg_controldata line " + std::to_string(line_no) + " \"" + QuoteForMessage(line) +
                    "\": " + (label.empty() ? "empty label" : "label repeated"),
                line_no);
  }
  (*fields_)[label] = std::string(Trim(line.substr(colon + 1)));
  line_of_[label] = line_no;
}

std::string_view Lines::Text(std::string_view label) const {
  auto it = fields_->find(std::string(label));
  if (it == fields_->end()) {
    throw Error(ErrorCode::kBadInput, "pg_controldata output has no \"" + std::string(label) +
                                          "\" line (run it with LC_ALL=C)");
  }
  return it->second;
}

void Lines::Bad(std::string_view label, const std::string& why) const {
  std::uint64_t line_no = LineOf(label);
  throw Error(ErrorCode::kBadInput,
              "pg_controldata line " + std::to_string(line_no) + ": \"" + std::string(label) +
                  "\" value \"" + QuoteForMessage(Text(label)) + "\" " + why,
              line_no);
}

std::uint64_t Lines::U64(std::string_view label) const {
  auto v = ParseDecimalU64(Text(label));
  if (!v) Bad(label, "is not a decimal number");
  return *v;
}

std::uint32_t Lines::U32(std::string_view label) const {
  std::uint64_t v = U64(label);
  if (v > UINT32_MAX) Bad(label, "does not fit in 32 bits");
  return static_cast<std::uint32_t>(v);
}

Lsn Lines::LsnValue(std::string_view label) const {
  auto v = Lsn::TryParse(Text(label));
  if (!v) Bad(label, "is not an LSN X/Y");
  return *v;
}

bool Lines::OnOff(std::string_view label) const {
  std::string_view v = Text(label);
  if (v == "on") return true;
  if (v == "off") return false;
  Bad(label, "is neither on nor off");
}

bool Lines::YesNo(std::string_view label) const {
  std::string_view v = Text(label);
  if (v == "yes") return true;
  if (v == "no") return false;
  Bad(label, "is neither yes nor no");
}

std::optional<ClusterState> ParseClusterState(std::string_view text) {
  for (ClusterState s : kAllStates) {
    if (ClusterStateName(s) == text) return s;
  }
  return std::nullopt;
}

// "epoch:xid", both 32-bit decimal (the "%u:%u" of pg_controldata 10-18).
bool IsEpochXid(std::string_view text) {
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  auto epoch = ParseDecimalU64(text.substr(0, colon));
  auto xid = ParseDecimalU64(text.substr(colon + 1));
  return epoch && xid && *epoch <= UINT32_MAX && *xid <= UINT32_MAX;
}

void ReadCheckpoint(const Lines& lines, ControlData* out) {
  out->checkpoint = lines.LsnValue(kCheckpoint);
  if (lines.Has(kPriorCheckpoint)) out->prior_checkpoint = lines.LsnValue(kPriorCheckpoint);
  out->redo = lines.LsnValue(kRedo);
  out->timeline = lines.U32(kTimeline);
  if (out->timeline == 0) lines.Bad(kTimeline, "is not a timeline (0 does not exist)");
  out->prev_timeline = lines.U32(kPrevTimeline);
  out->next_xid = std::string(lines.Text(kNextXid));
  if (!IsEpochXid(out->next_xid)) lines.Bad(kNextXid, "is not epoch:xid");
  out->min_recovery_end = lines.LsnValue(kMinRecoveryEnd);
  out->min_recovery_end_timeline = lines.U32(kMinRecoveryEndTimeline);
  // Printed by 10-18 too, but not required of the text: inputs that passed before still do.
  if (lines.Has(kFullPageWrites)) out->full_page_writes = lines.OnOff(kFullPageWrites);
  if (lines.Has(kBackupStart)) out->backup_start = lines.LsnValue(kBackupStart);
  if (lines.Has(kBackupEnd)) out->backup_end = lines.LsnValue(kBackupEnd);
  if (lines.Has(kEndOfBackupRequired)) {
    out->end_of_backup_required = lines.YesNo(kEndOfBackupRequired);
  }
}

// The REDO WAL file is XLogFileName(checkpoint TLI, XLByteToSeg(redo)): check the name and
// that it agrees with the REDO location and the TLI printed next to it.
void ReadRedoWalFile(const Lines& lines, ControlData* out) {
  out->redo_wal_file = std::string(lines.Text(kRedoWalFile));
  auto name = WalFileName::TryParse(out->redo_wal_file, out->wal_segment_size);
  if (!name || name.value().kind != WalFileKind::kSegment) {
    lines.Bad(kRedoWalFile, "is not a WAL segment name");
  }
  if (name.value() != WalFileName::ForLsn(out->timeline, out->redo, out->wal_segment_size)) {
    lines.Bad(kRedoWalFile, "does not match REDO location " + out->redo.ToString() +
                                " on timeline " + std::to_string(out->timeline));
  }
}

void ReadSettings(const Lines& lines, ControlData* out) {
  out->wal_level = std::string(lines.Text(kWalLevel));
  if (out->wal_level != "minimal" && out->wal_level != "replica" && out->wal_level != "logical") {
    lines.Bad(kWalLevel, "is not minimal, replica or logical");
  }
  out->wal_log_hints = lines.OnOff(kWalLogHints);
  out->wal_segment_size = lines.U32(kWalSegmentSize);
  if (!IsValidWalSegmentSize(out->wal_segment_size)) {
    lines.Bad(kWalSegmentSize, "is not a power of two from 1 MiB to 1 GiB");
  }
  out->wal_block_size = lines.U32(kWalBlockSize);
  if (lines.Has(kBlockSize)) out->block_size = lines.U32(kBlockSize);
  out->data_checksum_version = lines.U32(kDataChecksumVersion);
}

}  // namespace

std::string_view ClusterStateName(ClusterState state) noexcept {
  switch (state) {
    case ClusterState::kStartingUp: return "starting up";
    case ClusterState::kShutDown: return "shut down";
    case ClusterState::kShutDownInRecovery: return "shut down in recovery";
    case ClusterState::kShuttingDown: return "shutting down";
    case ClusterState::kInCrashRecovery: return "in crash recovery";
    case ClusterState::kInArchiveRecovery: return "in archive recovery";
    case ClusterState::kInProduction: return "in production";
  }
  return "unrecognized status code";
}

ControlData ControlData::Parse(std::string_view text) {
  ControlData out;
  Lines lines(&out.fields);
  ForEachLine(text, [&](std::string_view line, std::uint64_t line_no) {
    if (!Trim(line).empty()) lines.Add(line, line_no);
  });
  out.control_version = lines.U32(kControlVersion);
  out.catalog_version = lines.U32(kCatalogVersion);
  out.system_identifier = lines.U64(kSystemIdentifier);
  auto state = ParseClusterState(lines.Text(kState));
  if (!state) lines.Bad(kState, "is not a cluster state");
  out.state = *state;
  ReadCheckpoint(lines, &out);
  ReadSettings(lines, &out);
  ReadRedoWalFile(lines, &out);
  return out;
}

Result<ControlData> ControlData::TryParse(std::string_view text) {
  return Capture([&] { return Parse(text); });
}

int ControlData::MajorVersionLowerBound() const noexcept {
  // PG_CONTROL_VERSION of each major (src/include/catalog/pg_control.h).
  switch (control_version) {
    case 1002: return 10;
    case 1100: return 11;
    case 1201: return 12;
    case 1300: return 13;
    case 1700: return 17;
    case 1800: return 18;
    default: return 0;
  }
}

TimelineId ControlData::CurrentTimeline() const noexcept {
  return timeline > min_recovery_end_timeline ? timeline : min_recovery_end_timeline;
}

bool ControlData::CleanlyShutDown() const noexcept {
  return state == ClusterState::kShutDown || state == ClusterState::kShutDownInRecovery;
}

}  // namespace pgha
