// The record loop of the end-of-WAL scan (private to src/core): PostgreSQL's
// XLogDecodeNextRecord + ValidXLogRecordHeader + ValidXLogRecord + XLogFindNextRecord, without
// decoding record contents and without buffering records (the CRC is streamed across pages).
#ifndef PGHA_CORE_WAL_RECORD_SCANNER_HPP
#define PGHA_CORE_WAL_RECORD_SCANNER_HPP

#include <cstdint>
#include <string>

#include "pgha/timeline.hpp"
#include "pgha/wal_scan.hpp"
#include "wal_reader.hpp"

namespace pgha {

/// Reads records forward from one start until the first invalid one. Single use.
class WalRecordScanner {
 public:
  /// `history`, when given, must outlive the scanner: page timelines outside it end the WAL,
  /// as in recovery's ReadRecord.
  WalRecordScanner(WalPageReader& reader, const TimelineHistory* history)
      : reader_(reader), history_(history) {}

  /// Scans from `start`. With `find_first`, `start` is a segment start and reading begins at
  /// the first record that starts there (XLogFindNextRecord); otherwise `start` is a record
  /// start or a page boundary (XLogBeginRead).
  WalScanResult Run(std::uint64_t start, bool find_first);
  /// Stops after `n` valid records (0: no limit).
  void set_max_records(std::uint64_t n) { max_records_ = n; }

 private:
  enum class Span { kOk, kFailed, kRestart };

  bool FindFirstRecord(std::uint64_t seg_start, std::uint64_t* out);
  bool ReadRecord();
  Span ReadSpanning(std::uint64_t rec, std::uint64_t page, const std::uint8_t* first,
                    std::uint32_t total, std::uint8_t* header, std::uint64_t* end);
  const std::uint8_t* ContinuationPage(std::uint64_t rec, std::uint64_t page, std::uint32_t total,
                                       std::uint64_t got, Span* span);
  bool CheckHeader(std::uint64_t rec, const std::uint8_t* header);
  [[gnu::cold, gnu::noinline]] bool HeaderFailure(std::uint64_t rec, const std::uint8_t* header);
  bool CheckCrc(std::uint64_t rec, std::uint32_t crc, const std::uint8_t* header);
  bool Accept(std::uint64_t rec, const std::uint8_t* header, std::uint64_t end);
  bool Stop(std::uint64_t at, std::string reason);
  Span Failed(std::uint64_t at, std::string reason);

  std::string InvalidLength(std::uint64_t rec, std::uint32_t total) const;
  std::string InvalidOffset(std::uint64_t rec, std::size_t header_size, std::uint32_t off) const;
  std::string ContrecordLength(std::uint32_t rem, std::int64_t expected, std::uint64_t rec) const;

  WalPageReader& reader_;
  const TimelineHistory* history_;
  WalScanResult result_;
  std::uint64_t next_ = 0;      // NextRecPtr
  std::uint64_t prev_ = 0;      // DecodeRecPtr: start of the last valid record
  bool rand_access_ = true;     // only the first record's xl_prev is checked loosely
  TimelineId checked_tli_ = 0;  // last page timeline found in history_
  std::uint64_t max_records_ = 0;
};

}  // namespace pgha

#endif  // PGHA_CORE_WAL_RECORD_SCANNER_HPP
