// pg_control: the binary global/pg_control decoded, or pg_controldata's text output parsed.
#ifndef PGHA_CONTROL_DATA_HPP
#define PGHA_CONTROL_DATA_HPP

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// The fields an HA tool needs from pg_control of PostgreSQL 10 to 18: decoded from the file
/// itself (Decode, Read) or parsed from `LC_ALL=C pg_controldata` (Parse). Both fill
/// `fields` with pg_controldata's lines, keyed by label. A value type.
struct PGHA_API ControlData {
  std::uint32_t control_version = 0;    ///< "pg_control version number"
  std::uint32_t catalog_version = 0;    ///< "Catalog version number"
  std::uint64_t system_identifier = 0;  ///< "Database system identifier"
  ClusterState state = ClusterState::kShutDown;
  /// "pg_control last modified", Unix seconds. Decoded files only: pg_controldata prints it
  /// in the caller's locale and time zone, so Parse leaves it unset.
  std::optional<std::int64_t> last_modified;
  Lsn checkpoint;                       ///< "Latest checkpoint location"
  std::optional<Lsn> prior_checkpoint;  ///< "Prior checkpoint location" (10 only)
  Lsn redo;                             ///< "Latest checkpoint's REDO location"
  std::string redo_wal_file;            ///< "Latest checkpoint's REDO WAL file"
  TimelineId timeline = 0;              ///< "Latest checkpoint's TimeLineID"
  TimelineId prev_timeline = 0;         ///< "Latest checkpoint's PrevTimeLineID"
  bool full_page_writes = false;        ///< "Latest checkpoint's full_page_writes"
  std::string next_xid;                 ///< "Latest checkpoint's NextXID", "epoch:xid"
  /// "Time of latest checkpoint", Unix seconds; decoded files only, as `last_modified`.
  std::optional<std::int64_t> checkpoint_time;
  Lsn min_recovery_end;                      ///< "Minimum recovery ending location"
  TimelineId min_recovery_end_timeline = 0;  ///< "Min recovery ending loc's timeline"
  Lsn backup_start;                          ///< "Backup start location"
  Lsn backup_end;                            ///< "Backup end location"
  bool end_of_backup_required = false;       ///< "End-of-backup record required"
  std::string wal_level;                     ///< "wal_level setting"
  bool wal_log_hints = false;                ///< "wal_log_hints setting"
  std::uint32_t block_size = 0;              ///< "Database block size"
  std::uint32_t wal_segment_size = 0;        ///< "Bytes per WAL segment"
  std::uint32_t wal_block_size = 0;          ///< "WAL block size"
  std::uint32_t data_checksum_version = 0;   ///< "Data page checksum version"
  /// Every "label: value" line, value trimmed. Decode writes the lines pg_controldata of the
  /// file's major prints, spelled as `LC_ALL=C TZ=UTC pg_controldata` spells them, except
  /// "Mock authentication nonce" (an authentication secret, of no use to HA).
  std::map<std::string, std::string> fields;

  /// Parses pg_controldata output in the C locale. Lines are split at the first ':' and
  /// trimmed; unknown labels are kept in `fields` only. Throws Error(kBadInput): naming the
  /// label for a missing required one; with the line number for a malformed value (LSN,
  /// number, state, WAL file name), a repeated label or a line without ':'. The labels for
  /// full_page_writes, the backup fields and block_size are read when present.
  static ControlData Parse(std::string_view text);
  /// Non-throwing Parse.
  static Result<ControlData> TryParse(std::string_view text);

  /// Decodes the bytes of global/pg_control, as PostgreSQL 10-18 write it (64-bit
  /// little-endian; the layout is chosen by pg_control_version: 1002, 1100, 1201, 1300 for
  /// 13-16, 1700, 1800). Checks, in this order, each with its byte offset: the size holds
  /// pg_control_version; the version is known (a byte-swapped one is named as such); the size
  /// holds that layout (and is at most 8192 bytes); when `verify_checksum`, the CRC-32C over
  /// the bytes before the `crc` member, stored against computed; then the cluster state, the
  /// checkpoint timeline (not 0), the WAL segment size (a power of two, 1 MiB to 1 GiB) and
  /// wal_level. Throws Error(kBadInput).
  static ControlData Decode(const std::uint8_t* data, std::size_t size,
                            bool verify_checksum = true);
  static ControlData Decode(const std::vector<std::uint8_t>& bytes, bool verify_checksum = true);
  /// Non-throwing Decode.
  static Result<ControlData> TryDecode(const std::uint8_t* data, std::size_t size,
                                       bool verify_checksum = true) noexcept;
  /// Reads and decodes a pg_control file (kNotFound when it does not exist, kIo when it cannot
  /// be read, kBadInput as Decode, with the path in the message).
  static ControlData Read(const std::string& path, bool verify_checksum = true);
  /// Read of `data_dir`/global/pg_control.
  static ControlData ReadDataDirectory(const std::string& data_dir, bool verify_checksum = true);

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
