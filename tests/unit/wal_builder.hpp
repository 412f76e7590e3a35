// Synthetic WAL for the unit tests: segments laid out the way PostgreSQL writes them (long
// header on each segment's first page, short headers after, XLP_FIRST_IS_CONTRECORD and
// xlp_rem_len on continuation pages, MAXALIGNed records with valid CRCs and prev links).
#ifndef PGHA_TESTS_WAL_BUILDER_HPP
#define PGHA_TESTS_WAL_BUILDER_HPP

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

namespace pgha::test {

/// A directory under /tmp, removed with its (flat) contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// `name` inside the directory.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Writes `bytes` to `path` (replacing it).
void WriteFile(const std::string& path, const std::vector<std::uint8_t>& bytes);

struct WalBuilderOptions {
  int major = 15;
  std::uint32_t segment_size = 1u << 20;
  std::uint64_t system_identifier = 7'300'000'000'000'000'001ull;
  TimelineId timeline = 1;
  /// The segment the WAL starts in; the first record follows its long header.
  std::uint64_t first_segment = 1;
  /// Seed of the record payload bytes.
  std::uint32_t seed = 1;
};

/// Appends records like XLogInsert does. A value type: copy it to fork the WAL.
class WalBuilder {
 public:
  explicit WalBuilder(WalBuilderOptions options = {});

  /// Appends a record of `total_length` bytes (header included, at least 24) with random
  /// payload; returns its start.
  Lsn AddRecord(std::uint32_t total_length, std::uint8_t rmid = 10, std::uint8_t info = 0);
  /// Appends a record ending exactly `left` bytes before the end of the current page (`left`
  /// a multiple of 8, the record at least 24 bytes, possibly reaching into the next page).
  Lsn AddRecordLeaving(std::uint32_t left);
  /// Appends a record that ends exactly at `end` (8-aligned, at least 24 bytes away).
  Lsn AddRecordEndingAt(Lsn end);
  /// Appends XLOG_SWITCH; the next record starts in the next segment.
  Lsn AddSwitch();
  /// Writes the first `written` bytes of a record of `total_length` (so that it runs into the
  /// next page), then marks the next page XLP_FIRST_IS_OVERWRITE_CONTRECORD, as PostgreSQL
  /// does after recovery ended inside a record. Returns the aborted record's start.
  Lsn AddAbortedRecord(std::uint32_t total_length);
  /// Timeline of the pages written from now on.
  void set_timeline(TimelineId timeline) { timeline_ = timeline; }
  /// Zero-filled segment `segno` if it does not exist yet (named with the current timeline).
  void AddEmptySegment(std::uint64_t segno);

  /// Where the next record would start.
  Lsn insert() const { return Lsn(pos_); }
  /// Valid record starts, in order.
  const std::vector<Lsn>& records() const { return records_; }
  /// Start and end (exclusive, not aligned) of each valid record.
  const std::vector<std::pair<Lsn, Lsn>>& extents() const { return extents_; }
  /// The byte at `lsn`; its segment must exist.
  std::uint8_t& At(Lsn lsn);
  /// Segment numbers built, ascending.
  std::vector<std::uint64_t> Segments() const;
  std::vector<std::uint8_t>& Segment(std::uint64_t segno) { return segments_.at(segno).bytes; }
  /// File name of segment `segno` (timeline of its first page).
  std::string SegmentName(std::uint64_t segno) const;
  std::uint32_t segment_size() const { return options_.segment_size; }
  std::uint64_t system_identifier() const { return options_.system_identifier; }
  /// Writes every segment into `dir`; returns the paths in segment order.
  std::vector<std::string> WriteTo(const std::string& dir) const;

 private:
  struct SegmentData {
    TimelineId timeline = 0;
    std::vector<std::uint8_t> bytes;
  };

  std::vector<std::uint8_t> MakeRecord(std::uint32_t total_length, std::uint8_t rmid,
                                       std::uint8_t info);
  void Write(const std::uint8_t* data, std::size_t size);
  void WritePageHeader();
  std::uint8_t* Ptr(std::uint64_t lsn);

  WalBuilderOptions options_;
  TimelineId timeline_;
  std::map<std::uint64_t, SegmentData> segments_;
  std::uint64_t pos_;
  std::uint64_t prev_ = 0;
  std::uint32_t cont_remaining_ = 0;  // xlp_rem_len for the next page header
  bool overwrite_next_page_ = false;
  std::uint32_t rng_;
  std::vector<Lsn> records_;
  std::vector<std::pair<Lsn, Lsn>> extents_;
};

/// Appends `n` records of ten sizes in turn: small ones, page-crossing ones, a few larger than
/// a page (24 to 20000 bytes).
void AddMixed(WalBuilder& b, int n);

}  // namespace pgha::test

#endif  // PGHA_TESTS_WAL_BUILDER_HPP
