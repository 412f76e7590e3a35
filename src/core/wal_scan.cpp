#include "pgha/wal_scan.hpp"

#include "pgha/error.hpp"
#include "wal_reader.hpp"
#include "wal_record_scanner.hpp"
#include "wal_sources.hpp"

namespace pgha {

namespace {

// The smallest segment size accepts every name some segment size accepts (it has the most
// segments per xlogid): names are checked with it before the real size is known.
constexpr std::uint32_t kSmallestSegmentSize = 1u << 20;

// The scan's answer when no segment size can be known: nothing read.
WalScanResult Unreadable(const WalScanOptions& options, std::string reason) {
  WalScanResult r;
  r.start = r.end = options.start;
  r.stop_reason = std::move(reason);
  return r;
}

void CheckStartAlignment(Lsn start) {
  if (start.value() % 8 != 0) {
    throw Error(ErrorCode::kBadInput, "WAL scan start " + start.ToString() +
                                          " is not a record start: records are 8-byte aligned");
  }
}

// options.segment_size, or the one in the long header of `path`; nullopt with `reason`.
std::optional<std::uint32_t> ChooseSegmentSize(const WalScanOptions& options,
                                               const WalNamedFile& first, std::string* reason) {
  if (options.segment_size != 0) {
    CheckWalSegmentSize(options.segment_size);
    return options.segment_size;
  }
  return SegmentSizeFromHeader(first.path, first.name.SegmentName(), reason);
}

WalScanResult Scan(WalSegmentSource& source, std::uint32_t segment_size,
                   const WalScanOptions& options, std::uint64_t first_segment,
                   const TimelineHistory* history) {
  WalPageReader reader(source, WalReaderConfig{segment_size, options.system_identifier});
  WalRecordScanner scanner(reader, history);
  scanner.set_max_records(options.max_records);
  if (options.start.IsValid()) return scanner.Run(options.start.value(), false);
  return scanner.Run(first_segment * segment_size, true);
}

}  // namespace

WalScanResult ScanWalFiles(const std::vector<std::string>& segment_files,
                           const WalScanOptions& options) {
  if (segment_files.empty()) {
    throw Error(ErrorCode::kBadInput, "no WAL segment files to scan");
  }
  if (options.start.IsValid()) CheckStartAlignment(options.start);
  // Check every name before reading anything; number them once the size is known.
  for (const std::string& path : segment_files) ParseSegmentPath(path, kSmallestSegmentSize);
  std::string reason;
  std::optional<std::uint32_t> size =
      ChooseSegmentSize(options, ParseSegmentPath(segment_files[0], kSmallestSegmentSize), &reason);
  if (!size) return Unreadable(options, reason);
  std::vector<WalNamedFile> files;
  files.reserve(segment_files.size());
  for (const std::string& path : segment_files) files.push_back(ParseSegmentPath(path, *size));
  const WalFileName& first = files.front().name;
  if (options.start.IsValid() &&
      (options.start < first.StartLsn() || options.start >= first.EndLsn())) {
    throw Error(ErrorCode::kBadInput, "WAL scan start " + options.start.ToString() +
                                          " is not in the first file \"" + first.ToString() +
                                          "\" (" + first.StartLsn().ToString() + " to " +
                                          first.EndLsn().ToString() + ")");
  }
  WalListSource source(std::move(files));
  return Scan(source, *size, options, source.first_segment(), nullptr);
}

WalScanResult ScanWalDirectory(const std::string& dir, const TimelineHistory& history,
                               const WalScanOptions& options) {
  if (options.start.IsValid()) CheckStartAlignment(options.start);
  WalDirectorySource source(dir, history);
  if (source.empty()) {
    throw Error(ErrorCode::kNotFound, "no WAL segment of timeline " +
                                          std::to_string(history.timeline()) +
                                          " or its ancestors in \"" + dir + "\"");
  }
  std::string reason;
  std::optional<std::uint32_t> size = ChooseSegmentSize(options, source.first_file(), &reason);
  if (!size) return Unreadable(options, reason);
  source.set_segment_size(*size);
  std::optional<std::uint64_t> first;
  if (options.start.IsValid()) {
    std::uint64_t segno = SegmentNumberOf(options.start, *size);
    if (source.Has(segno)) first = segno;
  } else {
    first = source.OldestSegment();
  }
  if (!first) {
    std::string at = options.start.IsValid() ? " for " + options.start.ToString() : "";
    throw Error(ErrorCode::kNotFound, "no WAL segment file" + at + " in \"" + dir +
                                          "\" on the history of timeline " +
                                          std::to_string(history.timeline()));
  }
  return Scan(source, *size, options, *first, &history);
}

}  // namespace pgha
