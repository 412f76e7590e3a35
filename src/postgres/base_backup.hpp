// A base backup taken by pgha itself over the replication protocol (private).
#ifndef PGHA_POSTGRES_BASE_BACKUP_HPP
#define PGHA_POSTGRES_BASE_BACKUP_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "fs.hpp"
#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"
#include "pq_session.hpp"

namespace pgha::pg {

/// How far a base backup has come: archive bytes received, and the server's estimate of the
/// whole (0 when it gave none).
struct BaseBackupProgress {
  std::uint64_t done_bytes = 0;
  std::uint64_t total_bytes = 0;
};

struct BaseBackupRequest {
  ConnectParams connect;  ///< a REPLICATION role on the source (replication is forced on)
  /// An existing, empty directory that receives the data directory.
  std::string directory;
  std::optional<fs::Owner> owner;  ///< the files' owner when this process is root
  std::string label = "pgha base backup";
  /// The server's MAX_RATE in kB/s (32 .. 1048576); 0: no limit.
  std::uint32_t max_rate_kb = 0;
  /// Called with the progress at most about once a second, and once at the end.
  std::function<void(const BaseBackupProgress&)> progress;
  std::chrono::steady_clock::time_point deadline;
};

struct BaseBackupResult {
  Lsn start_lsn;
  TimelineId start_timeline = 0;
  Lsn end_lsn;
  TimelineId end_timeline = 0;
  std::uint64_t bytes = 0;  ///< file contents written
  int server_version = 0;   ///< PQserverVersion of the source
};

/// BASE_BACKUP (a fast checkpoint, the WAL from its start to its end included, no waiting
/// for archiving) into `request.directory`, in the protocol of the source's version: from 15
/// on one COPY stream of framed messages; before it one tar stream per tablespace. A
/// temporary physical slot of the same session keeps the WAL the backup needs until it is
/// sent. The whole tree is flushed to disk (syncfs) before it returns, and the WAL segments of
/// its start and end are checked to be there. Tablespaces other than pg_default and
/// pg_global are refused (Error kWrongState, before anything is written): use pg_basebackup
/// with --tablespace-mapping for them. Throws PostgresError, Error(kTimeout), Error(kIo),
/// Error(kBadInput) for a stream that is not what the protocol says; the directory then holds
/// whatever was written, for the caller to remove.
BaseBackupResult TakeBaseBackup(const BaseBackupRequest& request);

/// Throws Error(kBadInput) unless `max_rate_kb` is 0 or from 32 to 1048576 (MAX_RATE's range).
void CheckMaxRate(std::uint32_t max_rate_kb);

/// The BASE_BACKUP command for a server of version `server_version` (PQserverVersion).
std::string BaseBackupCommand(int server_version, const std::string& label,
                              std::uint32_t max_rate_kb);

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_BASE_BACKUP_HPP
