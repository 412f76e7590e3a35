// Where the end-of-WAL scan finds segment files (private to src/core): a list given by the
// caller, or a pg_wal directory read along a timeline history like XLogFileReadAnyTLI.
#ifndef PGHA_CORE_WAL_SOURCES_HPP
#define PGHA_CORE_WAL_SOURCES_HPP

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"
#include "wal_reader.hpp"

namespace pgha {

/// A WAL file name accepted by the scan, with its path.
struct WalNamedFile {
  std::string path;
  WalFileName name;
};

/// Parses the base name of `path` as a segment or partial file name, valid for
/// `segment_size`. Throws Error(kBadInput) quoting the path otherwise.
WalNamedFile ParseSegmentPath(const std::string& path, std::uint32_t segment_size);

/// XLOG_SEG_SIZE from the long header of `path` (its first 40 bytes), or nullopt with
/// `reason` set when the file is too short or the value is not a valid segment size.
/// Throws Error(kIo) when the file cannot be opened or read.
std::optional<std::uint32_t> SegmentSizeFromHeader(const std::string& path, const std::string& name,
                                                   std::string* reason);

/// Consecutive files from a caller's list: the first gap ends the WAL.
class WalListSource : public WalSegmentSource {
 public:
  /// `files` in the caller's order; only the consecutive prefix is served.
  explicit WalListSource(std::vector<WalNamedFile> files);
  std::optional<WalSegmentFile> Find(std::uint64_t segno) override;
  /// Segment number of the first file.
  std::uint64_t first_segment() const { return files_.front().name.segment; }

 private:
  std::vector<WalNamedFile> files_;
};

/// The segments of a pg_wal directory, chosen per segment number along a history.
class WalDirectorySource : public WalSegmentSource {
 public:
  /// Lists `dir`: segment files (not partials) of the history's timelines; set_segment_size
  /// must follow. Throws kIo / kNotFound when `dir` cannot be listed.
  WalDirectorySource(const std::string& dir, const TimelineHistory& history);

  /// True when the directory holds no usable segment file.
  bool empty() const { return names_.empty(); }
  /// Path and name of the first file in name order (for the segment size).
  const WalNamedFile& first_file() const { return names_.front(); }
  /// Numbers the files for `segment_size`, dropping names whose segment field does not exist
  /// at that size.
  void set_segment_size(std::uint32_t segment_size);
  /// The oldest segment number some file serves (nullopt when none).
  std::optional<std::uint64_t> OldestSegment() const;
  /// True when Find(segno) would find a file at the start of a scan.
  bool Has(std::uint64_t segno) const { return Choose(segno, 0) != nullptr; }

  std::optional<WalSegmentFile> Find(std::uint64_t segno) override;

 private:
  const WalNamedFile* Choose(std::uint64_t segno, TimelineId min_tli) const;

  const TimelineHistory& history_;
  std::vector<WalNamedFile> names_;  // sorted by segment part, then timeline
  std::uint32_t segment_size_ = 0;
  std::map<std::uint64_t, std::map<TimelineId, const WalNamedFile*>> by_segment_;
  TimelineId current_tli_ = 0;  // curFileTLI: never go back to an older timeline
};

}  // namespace pgha

#endif  // PGHA_CORE_WAL_SOURCES_HPP
