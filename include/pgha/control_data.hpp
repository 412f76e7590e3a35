// pg_controldata's text output, parsed.
#ifndef PGHA_CONTROL_DATA_HPP
#define PGHA_CONTROL_DATA_HPP

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "pgha/error.hpp"
#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

namespace pgha {

/// "Database cluster state" (DBState in pg_control.h, the same in 10-18).
enum class ClusterState {
  kStartingUp,          ///< "starting up"
  kShutDown,            ///< "shut down": clean primary shutdown
  kShutDownInRecovery,  ///< "shut down in recovery": clean standby shutdown
  kShuttingDown,        ///< "shutting down"
  kInCrashRecovery,     ///< "in crash recovery"
  kInArchiveRecovery,   ///< "in archive recovery": a running standby
  kInProduction,        ///< "in production": a running primary, or a crashed one
};

/// pg_controldata's spelling of a state.
PGHA_API std::string_view ClusterStateName(ClusterState state) noexcept;

/// The fields an HA tool needs from `LC_ALL=C pg_controldata` of PostgreSQL 10 to 18. Every
/// line is also kept as text in `fields`, keyed by its label. A value type.
struct PGHA_API ControlData {
  std::uint32_t control_version = 0;    ///< "pg_control version number"
  std::uint32_t catalog_version = 0;    ///< "Catalog version number"
  std::uint64_t system_identifier = 0;  ///< "Database system identifier"
  ClusterState state = ClusterState::kShutDown;
  Lsn checkpoint;                            ///< "Latest checkpoint location"
  std::optional<Lsn> prior_checkpoint;       ///< "Prior checkpoint location" (10 only)
  Lsn redo;                                  ///< "Latest checkpoint's REDO location"
  std::string redo_wal_file;                 ///< "Latest checkpoint's REDO WAL file"
  TimelineId timeline = 0;                   ///< "Latest checkpoint's TimeLineID"
  TimelineId prev_timeline = 0;              ///< "Latest checkpoint's PrevTimeLineID"
  std::string next_xid;                      ///< "Latest checkpoint's NextXID", "epoch:xid"
  Lsn min_recovery_end;                      ///< "Minimum recovery ending location"
  TimelineId min_recovery_end_timeline = 0;  ///< "Min recovery ending loc's timeline"
  std::string wal_level;                     ///< "wal_level setting"
  bool wal_log_hints = false;                ///< "wal_log_hints setting"
  std::uint32_t wal_segment_size = 0;        ///< "Bytes per WAL segment"
  std::uint32_t wal_block_size = 0;          ///< "WAL block size"
  std::uint32_t data_checksum_version = 0;   ///< "Data page checksum version"
  /// Every "label: value" line, value trimmed.
  std::map<std::string, std::string> fields;

  /// Parses pg_controldata output in the C locale. Lines are split at the first ':' and
  /// trimmed; unknown labels are kept in `fields` only. Throws Error(kBadInput): naming the
  /// label for a missing required one; with the line number for a malformed value (LSN,
  /// number, state, WAL file name), a repeated label or a line without ':'.
  static ControlData Parse(std::string_view text);
  /// Non-throwing Parse.
  static Result<ControlData> TryParse(std::string_view text);

  /// The PostgreSQL major the control version belongs to (10..18), 0 when unknown. 13-16
  /// share 1300, so this answers 13 for them.
  int MajorVersionLowerBound() const noexcept;
  /// The timeline the server writes (or last wrote) on: max(checkpoint TLI, min recovery
  /// TLI), which is right also just after a promotion (reference §5.4).
  TimelineId CurrentTimeline() const noexcept;
  /// True for "shut down" and "shut down in recovery".
  bool CleanlyShutDown() const noexcept;
};

}  // namespace pgha

#endif  // PGHA_CONTROL_DATA_HPP
