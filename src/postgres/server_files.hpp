// What Init writes (pg_hba.conf, the postgresql.conf essentials) and what pgha reads from a
// running server's directory (postmaster.pid) (private).
#ifndef PGHA_POSTGRES_SERVER_FILES_HPP
#define PGHA_POSTGRES_SERVER_FILES_HPP

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/instance.hpp"

namespace pgha::pg {

/// pg_hba.conf. With InitOptions::local_trust, after the seed's sample: trust on the local
/// socket and loopback only, REPLICATE_USER's replication from SUBNET/MASK and everything
/// else from anywhere with scram-sha-256 (the seed's md5 is deprecated). Without it, no trust
/// line: `superuser` by peer on the local socket (map pgha, RenderPgIdent), everything else
/// with scram-sha-256. Throws Error(kBadInput) for a bad SUBNET, MASK or role name.
std::string RenderPgHba(const InitOptions& options, const std::string& superuser);

/// pg_ident.conf: map `pgha` lets each of `os_users` be `superuser`.
std::string RenderPgIdent(const std::vector<std::string>& os_users, const std::string& superuser);

/// One line of a libpq password file: any host, port and database, this role.
struct PassfileEntry {
  std::string user;
  std::string password;  ///< "" -> no line
};

/// A libpq password file (`*:*:*:user:password`, with `:` and `\` escaped). Throws
/// Error(kBadInput) for a bad role name or a password libpq could not take (the message never
/// holds the password).
std::string RenderPassfile(const std::vector<PassfileEntry>& entries);

/// The block Init appends to postgresql.conf: wal_level, max_wal_senders,
/// max_replication_slots, hot_standby, hot_standby_feedback, wal_log_hints, wal_keep_size
/// (13+) or wal_keep_segments (10-12), password_encryption, `options.settings`, and last the
/// include of pgha.conf. Throws Error(kBadInput) for a bad setting name or value.
std::string RenderServerSettings(const InitOptions& options, int major);

/// The lines of postmaster.pid pgha uses (utils/pidfile.h, PostgreSQL 10+).
struct PostmasterPidFile {
  pid_t pid = 0;            ///< line 1 (a negative pid, a standalone backend, is kept as is)
  std::string data_dir;     ///< line 2
  int port = 0;             ///< line 4 (0 when missing)
  std::string socket_dir;   ///< line 5
  std::string listen_addr;  ///< line 6
  std::string status;       ///< line 8, trimmed: "starting", "stopping", "ready", "standby", ""
};

/// Parses postmaster.pid text. nullopt when line 1 is not a non-zero decimal pid or line 2
/// is missing (a file being written, or not a pid file); later lines are optional.
std::optional<PostmasterPidFile> ParsePostmasterPid(std::string_view text);

/// How a postmaster that refuses connections (SQLSTATE 57P03: starting up, in crash recovery,
/// shutting down) comes up, told by the files of its data directory.
enum class StartMode {
  /// No standby marker: crash recovery or a primary's start (recovery.signal alone, a targeted
  /// recovery, also ends as a primary).
  kPrimary,
  /// standby.signal (PostgreSQL 10-11: recovery.conf with standby_mode on), no newer than
  /// postmaster.opts, which the postmaster rewrites as it starts: it read the marker.
  kStandby,
  /// A marker newer than postmaster.opts, or no postmaster.opts: this postmaster may have
  /// started before the marker was written, as a primary.
  kUnknown,
};

/// The start mode of the postmaster running on `data_dir` (see StartMode). Never throws: a
/// file that cannot be read or dated gives kUnknown.
StartMode StartModeOf(const std::string& data_dir);

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_SERVER_FILES_HPP
