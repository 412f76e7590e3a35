// WAL segment math and the names of the files PostgreSQL keeps in pg_wal.
#ifndef PGHA_WAL_FILE_HPP
#define PGHA_WAL_FILE_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pgha/error.hpp"
#include "pgha/export.hpp"
#include "pgha/lsn.hpp"

namespace pgha {

/// A timeline id. Hex in file names (`%08X`), decimal in pg_controldata and SQL.
using TimelineId = std::uint32_t;

/// PostgreSQL's default wal_segment_size: 16 MiB.
inline constexpr std::uint32_t kDefaultWalSegmentSize = 16u * 1024u * 1024u;

/// True for a power of two from 1 MiB to 1 GiB (PostgreSQL's IsValidWalSegSize).
PGHA_API bool IsValidWalSegmentSize(std::uint64_t bytes) noexcept;
/// Throws Error(kBadInput) naming `bytes` unless IsValidWalSegmentSize(bytes).
PGHA_API void CheckWalSegmentSize(std::uint64_t bytes);

/// The segment number holding `lsn` (XLByteToSeg). Throws on an invalid segment size.
PGHA_API std::uint64_t SegmentNumberOf(Lsn lsn, std::uint32_t segment_size);
/// The first byte of segment `segno` (XLogSegNoOffsetToRecPtr with offset 0).
PGHA_API Lsn SegmentStart(std::uint64_t segno, std::uint32_t segment_size);
/// `lsn`'s offset within its segment (XLogSegmentOffset).
PGHA_API std::uint32_t SegmentOffsetOf(Lsn lsn, std::uint32_t segment_size);

/// The kinds of file a pg_wal directory holds.
enum class WalFileKind {
  kSegment,  ///< `TTTTTTTTXXXXXXXXYYYYYYYY`
  kPartial,  ///< `<segment>.partial`: the incomplete last segment of an old timeline
  kHistory,  ///< `TTTTTTTT.history`: timeline history
  kBackup,   ///< `<segment>.OOOOOOOO.backup`: backup history file
};

/// The stable lower-case name of a kind: "segment", "partial", "history", "backup".
PGHA_API std::string_view WalFileKindName(WalFileKind kind) noexcept;

/// A parsed pg_wal file name. Segment numbers depend on the segment size, so parsing and
/// building take it. A value type.
struct PGHA_API WalFileName {
  WalFileKind kind = WalFileKind::kSegment;
  TimelineId timeline = 0;
  /// Segment number (XLogFromFileName); 0 for history files.
  std::uint64_t segment = 0;
  /// For backup history files: the backup start's offset inside the segment.
  std::uint32_t backup_offset = 0;
  /// The segment size the numbers were computed with.
  std::uint32_t segment_size = kDefaultWalSegmentSize;

  /// Parses a file name (no directory part) with PostgreSQL's grammar: upper-case hex only,
  /// the segment field below segments-per-xlogid, timeline ids above 0. Throws
  /// Error(kBadInput) quoting the name otherwise.
  static WalFileName Parse(std::string_view name,
                           std::uint32_t segment_size = kDefaultWalSegmentSize);
  /// Non-throwing Parse.
  static Result<WalFileName> TryParse(std::string_view name,
                                      std::uint32_t segment_size = kDefaultWalSegmentSize);

  /// The segment file name for (`timeline`, `lsn`), as XLogFileName(XLByteToSeg(lsn)).
  static WalFileName ForLsn(TimelineId timeline, Lsn lsn,
                            std::uint32_t segment_size = kDefaultWalSegmentSize);
  /// The history file name of `timeline`.
  static WalFileName History(TimelineId timeline);

  /// The file name, e.g. `000000010000000000000007` or `00000002.history`.
  std::string ToString() const;
  /// The 24-character segment name (for segments, partials and backups).
  std::string SegmentName() const;
  /// The first LSN of the segment (for backup files: the backup start LSN).
  Lsn StartLsn() const;
  /// The first LSN after the segment.
  Lsn EndLsn() const;
  /// True for kinds that hold WAL bytes (segments and partials).
  bool HoldsWal() const noexcept {
    return kind == WalFileKind::kSegment || kind == WalFileKind::kPartial;
  }

  friend bool operator==(const WalFileName& a, const WalFileName& b) noexcept {
    return a.kind == b.kind && a.timeline == b.timeline && a.segment == b.segment &&
           a.backup_offset == b.backup_offset && a.segment_size == b.segment_size;
  }
  friend bool operator!=(const WalFileName& a, const WalFileName& b) noexcept { return !(a == b); }
};

/// Convenience: the segment file name for (`timeline`, `lsn`, `segment_size`).
PGHA_API std::string WalSegmentFileName(TimelineId timeline, Lsn lsn,
                                        std::uint32_t segment_size = kDefaultWalSegmentSize);

}  // namespace pgha

#endif  // PGHA_WAL_FILE_HPP
