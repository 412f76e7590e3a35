// Finding the end of valid WAL in segment files, as PostgreSQL's recovery would.
#ifndef PGHA_WAL_SCAN_HPP
#define PGHA_WAL_SCAN_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"

namespace pgha {

/// What to scan from, and what the WAL must match.
struct WalScanOptions {
  /// First record to read. Invalid: the first record that starts in the first segment
  /// (after its long header and any continuation of an earlier record). A position on a
  /// page boundary means the first record after that page's header.
  Lsn start;
  /// Segment size. 0: taken from the first segment's long header (xlp_seg_size).
  std::uint32_t segment_size = 0;
  /// When set, every long header must carry this system identifier.
  std::optional<std::uint64_t> system_identifier;
  /// Stop after this many valid records (0: read to the end of valid WAL). The result's
  /// `end` is then the end of the last record read.
  std::uint64_t max_records = 0;
};

/// One WAL record by position and content: where it starts and its xl_crc (CRC-32C over the
/// record's data and header). Two nodes with the same record at the same position on the same
/// timeline wrote the same WAL up to its end; different CRCs mean the WAL diverged there.
struct WalRecordRef {
  Lsn start;
  std::uint32_t crc = 0;
};

/// The result of a scan. The scan never throws for bad WAL: bad WAL is where it stops.
struct WalScanResult {
  /// Where reading started (the first record's start).
  Lsn start;
  /// The end of valid WAL: where the next record would start after the last complete,
  /// CRC-valid record (its end, MAXALIGNed; past the page header when that end is a page
  /// boundary and the next page is readable) — the LSN pg_waldump names in "invalid record
  /// length at ..." and where crash recovery ends. Equals `start` when no record was valid.
  Lsn end;
  /// Start of the last valid record; invalid when there was none.
  Lsn last_record;
  /// xl_crc of that record (0 when there was none).
  std::uint32_t last_record_crc = 0;
  /// Valid records read from `start`.
  std::uint64_t records = 0;
  /// xlp_tli of the last page read (0 when none).
  TimelineId timeline = 0;
  /// XLOG_PAGE_MAGIC of the WAL and the PostgreSQL major it belongs to (0 if unknown).
  std::uint16_t page_magic = 0;
  int postgres_major = 0;
  std::uint64_t system_identifier = 0;
  std::uint32_t segment_size = 0;
  /// Bytes of segment files read.
  std::uint64_t bytes_read = 0;
  /// Why the scan stopped, e.g. "invalid record length at 0/80000A0: wanted 24, got 0",
  /// "no segment file for 0/9000000", "incorrect resource manager data checksum in
  /// record at 0/8000028".
  std::string stop_reason;
};

/// Scans the given segment files, which must be consecutive segments in order (a missing
/// file ends the WAL). Throws Error(kBadInput) for an empty list, a file whose name is not a
/// segment or partial, or a start that lies outside the first file; Error(kIo) when a file
/// cannot be read.
PGHA_API WalScanResult ScanWalFiles(const std::vector<std::string>& segment_files,
                                    const WalScanOptions& options = {});

/// Scans the segments in directory `dir` (a pg_wal) along `history`: for each segment
/// number, the file of the newest timeline in the history that reaches that segment, as
/// PostgreSQL's XLogFileReadAnyTLI does. Without options.start, starts at the oldest
/// segment present. Throws Error(kNotFound) when there is no segment to start from.
PGHA_API WalScanResult ScanWalDirectory(const std::string& dir, const TimelineHistory& history,
                                        const WalScanOptions& options = {});

}  // namespace pgha

#endif  // PGHA_WAL_SCAN_HPP
