#include "pgha/wal_file.hpp"

#include <cstdio>

#include "text.hpp"

namespace pgha {

namespace {

constexpr std::uint64_t kXLogIdSpan = 0x100000000ull;  // one "xlogid": 4 GiB of WAL
constexpr std::size_t kSegmentNameLength = 24;

[[noreturn]] void BadName(std::string_view name, const std::string& why) {
  throw Error(ErrorCode::kBadInput,
              "invalid WAL file name \"" + QuoteForMessage(name) + "\": " + why);
}

std::string Hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", v);
  return buf;
}

// Parses the 24-character segment part into `out` (timeline, segment).
void ParseSegmentPart(std::string_view full, std::string_view seg, std::uint32_t segment_size,
                      WalFileName* out) {
  for (char c : seg) {
    if (!IsUpperHexDigit(c)) BadName(full, "expected 24 upper-case hex digits");
  }
  std::uint32_t tli = *ParseUpperHex32(seg.substr(0, 8));
  std::uint32_t log = *ParseUpperHex32(seg.substr(8, 8));
  std::uint32_t sub = *ParseUpperHex32(seg.substr(16, 8));
  if (tli == 0) BadName(full, "timeline 0 does not exist");
  std::uint64_t per_xlogid = kXLogIdSpan / segment_size;
  if (sub >= per_xlogid) {
    BadName(full, "segment field " + Hex8(sub) + " is beyond the " + std::to_string(per_xlogid) +
                      " segments of " + std::to_string(segment_size) + "-byte segments per xlogid");
  }
  out->timeline = tli;
  out->segment = std::uint64_t{log} * per_xlogid + sub;
}

}  // namespace

bool IsValidWalSegmentSize(std::uint64_t bytes) noexcept {
  return bytes >= (1u << 20) && bytes <= (1u << 30) && (bytes & (bytes - 1)) == 0;
}

void CheckWalSegmentSize(std::uint64_t bytes) {
  if (!IsValidWalSegmentSize(bytes)) {
    throw Error(ErrorCode::kBadInput, "invalid WAL segment size " + std::to_string(bytes) +
                                          ": must be a power of two from 1 MiB to 1 GiB");
  }
}

std::uint64_t SegmentNumberOf(Lsn lsn, std::uint32_t segment_size) {
  CheckWalSegmentSize(segment_size);
  return lsn.value() / segment_size;
}

Lsn SegmentStart(std::uint64_t segno, std::uint32_t segment_size) {
  CheckWalSegmentSize(segment_size);
  if (segno > UINT64_MAX / segment_size) {
    throw Error(ErrorCode::kBadInput, "segment number " + std::to_string(segno) +
                                          " is beyond the end of the WAL address space");
  }
  return Lsn(segno * segment_size);
}

std::uint32_t SegmentOffsetOf(Lsn lsn, std::uint32_t segment_size) {
  CheckWalSegmentSize(segment_size);
  return static_cast<std::uint32_t>(lsn.value() & (segment_size - 1u));
}

std::string_view WalFileKindName(WalFileKind kind) noexcept {
  switch (kind) {
    case WalFileKind::kSegment: return "segment";
    case WalFileKind::kPartial: return "partial";
    case WalFileKind::kHistory: return "history";
    case WalFileKind::kBackup: return "backup";
  }
  return "unknown";
}

WalFileName WalFileName::Parse(std::string_view name, std::uint32_t segment_size) {
  CheckWalSegmentSize(segment_size);
  WalFileName out;
  out.segment_size = segment_size;
  constexpr std::string_view kHistorySuffix = ".history";
  constexpr std::string_view kPartialSuffix = ".partial";
  constexpr std::string_view kBackupSuffix = ".backup";
  if (name.size() == 8 + kHistorySuffix.size() && name.substr(8) == kHistorySuffix) {
    auto tli = ParseUpperHex32(name.substr(0, 8));
    if (!tli || name.substr(0, 8).size() != 8) BadName(name, "expected 8 upper-case hex digits");
    if (*tli == 0) BadName(name, "timeline 0 does not exist");
    out.kind = WalFileKind::kHistory;
    out.timeline = *tli;
    return out;
  }
  if (name.size() < kSegmentNameLength) BadName(name, "too short");
  std::string_view rest = name.substr(kSegmentNameLength);
  if (rest.empty()) {
    out.kind = WalFileKind::kSegment;
  } else if (rest == kPartialSuffix) {
    out.kind = WalFileKind::kPartial;
  } else if (rest.size() == 1 + 8 + kBackupSuffix.size() && rest[0] == '.' &&
             rest.substr(9) == kBackupSuffix) {
    auto off = ParseUpperHex32(rest.substr(1, 8));
    if (!off) BadName(name, "backup offset must be 8 upper-case hex digits");
    if (*off >= segment_size) BadName(name, "backup offset is beyond the segment size");
    out.kind = WalFileKind::kBackup;
    out.backup_offset = *off;
  } else {
    BadName(name, "unknown suffix \"" + QuoteForMessage(rest) + "\"");
  }
  ParseSegmentPart(name, name.substr(0, kSegmentNameLength), segment_size, &out);
  return out;
}

Result<WalFileName> WalFileName::TryParse(std::string_view name, std::uint32_t segment_size) {
  return Capture([&] { return Parse(name, segment_size); });
}

WalFileName WalFileName::ForLsn(TimelineId timeline, Lsn lsn, std::uint32_t segment_size) {
  if (timeline == 0) throw Error(ErrorCode::kBadInput, "timeline 0 does not exist");
  WalFileName out;
  out.kind = WalFileKind::kSegment;
  out.timeline = timeline;
  out.segment = SegmentNumberOf(lsn, segment_size);
  out.segment_size = segment_size;
  return out;
}

WalFileName WalFileName::History(TimelineId timeline) {
  if (timeline == 0) throw Error(ErrorCode::kBadInput, "timeline 0 does not exist");
  WalFileName out;
  out.kind = WalFileKind::kHistory;
  out.timeline = timeline;
  return out;
}

std::string WalFileName::SegmentName() const {
  // The struct's fields are public: check them before dividing and narrowing.
  CheckWalSegmentSize(segment_size);
  std::uint64_t per_xlogid = kXLogIdSpan / segment_size;
  if (segment / per_xlogid > 0xFFFFFFFFu) {
    throw Error(ErrorCode::kBadInput, "segment number " + std::to_string(segment) +
                                          " is beyond the end of the WAL address space");
  }
  return Hex8(timeline) + Hex8(static_cast<std::uint32_t>(segment / per_xlogid)) +
         Hex8(static_cast<std::uint32_t>(segment % per_xlogid));
}

std::string WalFileName::ToString() const {
  switch (kind) {
    case WalFileKind::kSegment: return SegmentName();
    case WalFileKind::kPartial: return SegmentName() + ".partial";
    case WalFileKind::kHistory: return Hex8(timeline) + ".history";
    case WalFileKind::kBackup: return SegmentName() + "." + Hex8(backup_offset) + ".backup";
  }
  return {};
}

Lsn WalFileName::StartLsn() const {
  return SegmentStart(segment, segment_size).Plus(kind == WalFileKind::kBackup ? backup_offset : 0);
}

Lsn WalFileName::EndLsn() const {
  return SegmentStart(segment, segment_size).Plus(segment_size);
}

std::string WalSegmentFileName(TimelineId timeline, Lsn lsn, std::uint32_t segment_size) {
  return WalFileName::ForLsn(timeline, lsn, segment_size).ToString();
}

}  // namespace pgha
