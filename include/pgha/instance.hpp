// One local PostgreSQL data directory and the binaries that run it.
#ifndef PGHA_INSTANCE_HPP
#define PGHA_INSTANCE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgha/control_data.hpp"
#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/node_state.hpp"
#include "pgha/stop_mode.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_scan.hpp"

namespace pgha {

/// How long an operation may take before it fails with kTimeout; nullopt means
/// InstanceOptions::timeout.
using Timeout = std::optional<std::chrono::milliseconds>;

/// A set of PostgreSQL server binaries and their major version. A value type.
struct PGHA_API PostgresBinaries {
  std::string bindir;   ///< directory holding postgres, initdb, pg_ctl, ...
  std::string version;  ///< e.g. "15.18" (from `postgres --version`)
  int major = 0;        ///< e.g. 15

  /// `bindir` when non-empty, else `pg_config --bindir` (run by argv, from PATH). Runs
  /// `postgres --version` to learn the version. Throws Error(kNotFound) naming the missing
  /// directory or program, Error(kPostgresFailed) when a program fails, Error(kBadInput) for
  /// a version text it cannot read or a major below 10.
  static PostgresBinaries Locate(const std::string& bindir = "");
  /// The major version in `postgres --version` output, e.g. "postgres (PostgreSQL) 15.18
  /// (Debian 15.18-1)" -> 15, "10.23" -> 10, "17beta1" -> 17. Throws Error(kBadInput)
  /// quoting the text for anything else, or for 9.x and earlier.
  static int ParseMajorVersion(std::string_view version_output);
  /// The path of program `name` in bindir. Throws Error(kNotFound) naming the file when it
  /// is not an executable file.
  std::string Program(std::string_view name) const;
};

/// Where an Instance lives and how it is reached.
struct InstanceOptions {
  std::string data_dir;            ///< PGDATA (required; an absolute path is best)
  std::string bindir;              ///< "" -> PostgresBinaries::Locate's search
  std::string host = "127.0.0.1";  ///< listen_addresses at start (pgha itself uses the socket)
  int port = 5432;                 ///< the server's port
  /// unix_socket_directories at start; "" -> the data directory's parent, which the OS user
  /// must be able to write.
  std::string socket_dir;
  std::string os_user = "postgres";    ///< account the programs run as (only when we are root)
  std::string superuser = "postgres";  ///< database superuser pgha connects as (initdb -U)
  std::string password;                ///< its password, if connections need one
  /// A libpq password file (mode 0600, readable by os_user; "" -> none): used by pgha's
  /// connections, given to the programs it runs (PGPASSFILE: pg_basebackup, pg_rewind) and
  /// named in a standby's primary_conninfo (`passfile=`) so that no password is written into
  /// the data directory. pgha reads it; it does not write it (the agent does).
  std::string passfile;
  std::string log_file;  ///< server log; "" -> data_dir + ".log"
  /// Default deadline of operations; on a thread that runs a Cluster operation (or an
  /// agent's part of one) none waits past that operation's deadline.
  std::chrono::milliseconds timeout{60000};
  std::chrono::milliseconds connect_timeout{5000};  ///< libpq connect_timeout (>= 2 s is used)
};

/// What Init sets up besides initdb: the seed's environment (SUBNET, MASK, REPLICATE_USER,
/// DATABASE, DB_USER, DB_PASSWD) and the replication essentials.
struct InitOptions {
  std::string subnet = "0.0.0.0";  ///< SUBNET: IPv4 or IPv6 address of the replication net
  int mask = 32;                   ///< MASK: prefix length, 0..32 (IPv4) or 0..128 (IPv6)
  std::string replicate_user = "replicate";  ///< REPLICATE_USER: REPLICATION LOGIN role
  std::string replicate_password;            ///< its password ("" -> none: loopback/socket only)
  std::string database = "datasync";         ///< DATABASE ("" -> none is created)
  std::string db_user = "datasync";      ///< DB_USER, the database owner ("" -> superuser owns it)
  std::string db_password = "datasync";  ///< DB_PASSWD ("" -> no password)
  std::string superuser_password;        ///< password for InstanceOptions::superuser ("" -> none)
  /// pg_hba.conf trusts the local socket and loopback (the seed's sample). Off: no `trust`
  /// line at all; the superuser reaches the server over the local socket by `peer`
  /// authentication mapped in pg_ident.conf (the OS user and the caller's own account), and
  /// every other connection, loopback included, needs a password (scram-sha-256).
  bool local_trust = true;
  /// A role for pg_rewind that is no superuser (PostgreSQL 11+): LOGIN with EXECUTE on only
  /// the functions pg_rewind calls, in the `postgres` database ("" -> none is created).
  std::string rewind_user;
  std::string rewind_password;            ///< its password ("" -> none)
  std::uint32_t wal_segment_size_mb = 0;  ///< initdb --wal-segsize (11+); 0 -> default 16
  bool data_checksums = false;            ///< initdb --data-checksums
  int max_wal_senders = 10;
  int max_replication_slots = 10;
  std::uint32_t wal_keep_mb = 1024;  ///< wal_keep_size (13+) or wal_keep_segments (10-12)
  /// Further postgresql.conf settings, written as `name = 'value'` (names checked, values
  /// quoted), e.g. {"fsync", "off"} for tests.
  std::vector<std::pair<std::string, std::string>> settings;
};

/// Which upstream a standby follows (primary_conninfo and friends; APPLY_DELAY).
struct StandbyConfig {
  std::string primary_host;  ///< upstream address
  int primary_port = 5432;
  std::string user = "replicate";  ///< replication role
  std::string password;            ///< "" -> none in primary_conninfo
  std::string application_name;    ///< "" -> libpq's default (walreceiver)
  std::string slot_name;           ///< primary_slot_name ("" -> no slot)
  std::string apply_delay;  ///< recovery_min_apply_delay, e.g. "5min", "300s", "0"; "" -> none
  /// `passfile=` in primary_conninfo ("" -> InstanceOptions::passfile when no password is
  /// given here).
  std::string passfile;
};

/// The standbys a primary waits for before it acknowledges a commit (synchronous replication):
/// `synchronous_standby_names = 'ANY count ("name", ...)'`, matched against the standbys'
/// application_name.
struct SynchronousStandbys {
  std::vector<std::string> names;  ///< application names; empty -> asynchronous (no setting)
  int count = 1;                   ///< how many of them must confirm, 1..names.size()
};

/// What WriteParameters did.
struct ParameterReport {
  bool changed = false;                      ///< the file was rewritten
  std::vector<std::string> pending_restart;  ///< settings waiting for a restart (running only)
};

/// Who takes Sync's base backup.
enum class BaseBackupMethod {
  /// pg_basebackup when the bindir has it (then it is the server's own major), else pgha's.
  kAuto,
  /// The bindir's pg_basebackup (-X stream, -c fast).
  kPgBasebackup,
  /// pgha itself: BASE_BACKUP over a replication connection (every major 10-18, no client
  /// program needed; no tablespaces besides pg_default and pg_global).
  kReplicationProtocol,
};
/// "auto", "pg_basebackup", "pgha"; and back (Error kBadInput for another name).
PGHA_API std::string_view BaseBackupMethodName(BaseBackupMethod method) noexcept;
PGHA_API BaseBackupMethod ParseBaseBackupMethod(std::string_view name);

/// Where Sync takes its base backup from, and the standby configuration it writes after.
struct SyncOptions {
  std::string source_host;
  int source_port = 5432;
  std::string user = "replicate";  ///< a REPLICATION role on the source
  std::string password;            ///< passed as PGPASSWORD, never on the command line
  std::string slot_name;           ///< -S (must exist on the source) and primary_slot_name
  std::string application_name;    ///< for primary_conninfo
  std::string apply_delay;         ///< for recovery_min_apply_delay
  /// Replace an existing data directory (moved aside, removed only after the new one is in
  /// place). Without it a non-empty data directory is refused.
  bool replace = false;
  /// Deadline of the base backup; nullopt -> one hour.
  Timeout timeout;
  /// Who takes the base backup (BaseBackupMethod).
  BaseBackupMethod method = BaseBackupMethod::kAuto;
  /// The source's MAX_RATE, kB/s (32 .. 1048576; 0: no limit), with either method.
  std::uint32_t max_rate_kb = 0;
  /// Called with (bytes received, the source's estimate of the whole or 0) about once a
  /// second while pgha's own base backup runs (not with pg_basebackup), and once at its end.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

/// What Sync did.
struct SyncReport {
  BaseBackupMethod method = BaseBackupMethod::kAuto;  ///< the one used (never kAuto)
  std::uint64_t bytes = 0;  ///< file bytes received (0 with pg_basebackup, which does not say)
  Lsn start_lsn;            ///< the backup's start and end (invalid with pg_basebackup)
  Lsn end_lsn;
};

/// The server pg_rewind copies from (a normal, non-replication connection).
struct RewindSource {
  std::string host;
  int port = 5432;
  std::string user = "postgres";  ///< a superuser (or a role with pg_rewind's grants)
  std::string password;           ///< passed as PGPASSWORD
  std::string dbname = "postgres";
  /// The role of the CHECKPOINT pgha runs on the source first (PostgreSQL 15 and older read
  /// the source's timeline from its last checkpoint): "" -> `user`, with `password`; another
  /// role (e.g. the superuser, when `user` may not checkpoint) finds its password in
  /// InstanceOptions::passfile.
  std::string checkpoint_user;
};

/// The WAL receiver of a standby (pg_stat_wal_receiver).
struct WalReceiverStatus {
  std::string status;       ///< "streaming", "startup", "catchup", "waiting", ...
  std::string sender_host;  ///< "" when unknown (PostgreSQL 10)
  int sender_port = 0;      ///< 0 when unknown
  TimelineId received_timeline = 0;
  Lsn flushed_lsn;  ///< flushed_lsn (13+) / received_lsn (10-12)
};

/// One row of pg_stat_replication: a standby streaming from this node.
struct StreamingStandby {
  std::string application_name;
  std::string client_addr;  ///< "" for a unix-socket connection
  std::string state;        ///< "streaming", "catchup", "startup", "backup", ...
  Lsn sent_lsn;
  Lsn write_lsn;
  Lsn flush_lsn;
  Lsn replay_lsn;
  std::string sync_state;  ///< "async", "sync", "potential", "quorum"
};

/// What Observe saw. LSNs are invalid (0/0) where they do not apply.
struct InstanceObservation {
  bool running = false;                       ///< a live postmaster owns the data directory
  bool accepting_connections = false;         ///< a query could be run
  bool in_recovery = false;                   ///< pg_is_in_recovery() (true while starting up)
  std::optional<WalReceiverStatus> receiver;  ///< standby with a WAL receiver process
  std::vector<StreamingStandby> standbys;     ///< pg_stat_replication rows
  Lsn current_lsn;                            ///< primary: pg_current_wal_lsn()
  Lsn flush_lsn;                              ///< primary: pg_current_wal_flush_lsn()
  Lsn receive_lsn;                            ///< standby: pg_last_wal_receive_lsn()
  Lsn replay_lsn;                             ///< standby: pg_last_wal_replay_lsn()
  TimelineId timeline = 0;                    ///< written on; standby: received/replayed on
  int server_version = 0;                     ///< PQserverVersion, e.g. 150018
  NodeState state = NodeState::kInactive;     ///< DeriveNodeState of the above (see Observe)
};

/// The seed's `lsn` route fields for this node.
struct LsnFacts {
  Lsn checkpoint;           ///< chkPoint: latest checkpoint (restartpoint on a standby)
  Lsn redo;                 ///< chkRedoPoint: its REDO location
  std::string wal_file;     ///< walFile: segment holding last_lsn on `timeline`
  TimelineId timeline = 0;  ///< timeLineID (decimal in the seed's JSON)
  Lsn last_lsn;             ///< lastLsn: the true end of WAL
  /// The last record before last_lsn, when the facts come from a stopped server's pg_wal
  /// (what validLsn compares on the node it would follow). Not known for a running server.
  std::optional<WalRecordRef> last_record;
};

/// One result row: each column's text, nullopt for SQL NULL.
using QueryRow = std::vector<std::optional<std::string>>;

/// One local PostgreSQL data directory driven through its binaries and libpq. Child
/// processes get argv vectors (never a shell), run as InstanceOptions::os_user when this
/// process is root, with LC_ALL=C and TZ=UTC. Every operation has a deadline and returns when
/// the promised state is observed. Not thread-safe: one operation at a time per Instance
/// (several const observers may run at once). Errors: Error with kBadInput (options),
/// kNotFound (binaries, files), kWrongState (running/stopped when it must not be),
/// kPostgresFailed (a program or query failed; the message carries the log or stderr tail and
/// SQLSTATE), kTimeout, kIo; an observation (Observe, State, InRecovery, ReadLsnFacts) whose
/// connection was refused or closed because the server is starting or stopping (postmaster.pid
/// says so, or the postmaster is gone) throws kUnavailable instead: ask again in a moment.
class PGHA_API Instance {
 public:
  /// Checks the options, fills defaults (socket_dir, log_file) and locates the binaries.
  /// Throws Error(kBadInput) for bad options, kNotFound for missing binaries or OS user.
  explicit Instance(InstanceOptions options);

  /// The options with defaults filled in.
  const InstanceOptions& options() const noexcept { return options_; }
  /// The binaries in use.
  const PostgresBinaries& binaries() const noexcept { return binaries_; }

  /// initdb (locale C, UTF8, local trust, host scram-sha-256), the replication essentials in
  /// postgresql.conf with `include_if_exists = 'pgha.conf'`, pg_hba.conf from SUBNET/MASK/
  /// REPLICATE_USER, then a brief socket-only start to create the roles and the database,
  /// and a fast stop. Throws kWrongState when the data directory is not empty or a server
  /// runs on it, kBadInput for bad options, kPostgresFailed when initdb or SQL fails.
  void Init(const InitOptions& options = {});
  /// Starts `postgres` detached (port, listen address and socket directory on its command
  /// line, output appended to the log file) and returns when postmaster.pid says "ready" and
  /// a connection succeeds, or says "standby" (hot_standby off). Throws kWrongState when a
  /// postmaster already runs here, kPostgresFailed with the log tail when the server exits,
  /// kTimeout with the log tail when the deadline passes (the server is left starting).
  void Start(Timeout timeout = std::nullopt);
  /// Signals the postmaster (like `pg_ctl stop -m MODE`) and returns when postmaster.pid is
  /// gone or the process has exited. A no-op when nothing runs. Throws kTimeout.
  void Stop(StopMode mode = StopMode::kFast, Timeout timeout = std::nullopt);
  /// Stop(kFast) then Start, within one deadline.
  void Restart(Timeout timeout = std::nullopt);
  /// Promotes a running standby (pg_promote() on 12+, `pg_ctl promote` before), waits until
  /// pg_is_in_recovery() is false, runs CHECKPOINT (so pg_control and pg_rewind see the new
  /// timeline) and removes the standby settings from pgha.conf. Throws kWrongState when the
  /// server is not running or not in recovery.
  void Promote(Timeout timeout = std::nullopt);

  /// Makes this data directory a standby of `config`'s upstream: on 12+ pgha.conf
  /// (primary_conninfo, primary_slot_name, recovery_target_timeline = 'latest',
  /// recovery_min_apply_delay) and standby.signal; on 10-11 recovery.conf with standby_mode.
  /// Files are written atomically and owned by the data directory's owner; the include line
  /// is added to postgresql.conf if missing. A running server reloads (13+); a running
  /// primary becomes a standby only at its next start. Throws kBadInput, kNotFound, kIo.
  void WriteStandbyConfig(const StandbyConfig& config);
  /// Removes standby.signal / recovery.signal / recovery.conf and the standby settings of
  /// pgha.conf, so the next start is a primary. Throws kIo.
  void RemoveStandbyConfig();
  /// Writes synchronous_standby_names for `standbys` into pgha.conf (included last by
  /// postgresql.conf), or removes pgha's setting when `standbys.names` is empty; nothing is
  /// written when the file already says so. A running server then reloads (also when the file
  /// was right but not loaded), and when standbys are named, the setting its files give is
  /// checked to be pgha's: a file read after pgha.conf
  /// (postgresql.auto.conf, from ALTER SYSTEM) that sets it is kWrongState, naming the file.
  /// A stopped data directory takes it at its next start. On a standby the setting waits, and
  /// applies the moment it is promoted. Throws kBadInput (names, count), kNotFound (no
  /// postgresql.conf), kIo, kPostgresFailed.
  void SetSynchronousStandbys(const SynchronousStandbys& standbys);
  /// Writes `parameters` (name, value; PostgreSQL's configuration-file grammar, values quoted)
  /// as pgha.parameters.conf, included by postgresql.conf just before pgha.conf: after Init's
  /// block, so that they win over it, and before the standby settings, which stay pgha's. The
  /// include line is added if missing. A running server reloads; the answer names the
  /// settings that take effect only at the next restart (pending_restart) and those the
  /// server refuses (invalid: the file is put back as it was and kBadInput is thrown, naming
  /// them). A stopped server takes them at its next start. Throws kBadInput (a bad name or
  /// value, or a name pgha manages: see ManagedParameter), kNotFound, kIo, kPostgresFailed.
  ParameterReport WriteParameters(
      const std::vector<std::pair<std::string, std::string>>& parameters);
  /// Settings that need a restart to take the value the configuration files give now (empty
  /// when not running). Throws kPostgresFailed.
  std::vector<std::string> PendingRestart() const;
  /// True for the settings pgha writes itself and refuses in WriteParameters: the address,
  /// port and socket of each start, the file locations and includes, and the standby and
  /// synchronous settings (primary_conninfo, primary_slot_name, recovery_target_timeline,
  /// recovery_min_apply_delay, synchronous_standby_names).
  static bool ManagedParameter(std::string_view name);
  /// True when the next start would be a standby (standby.signal, or recovery.conf with 10-11).
  bool HasStandbyConfig() const;
  /// Creates physical slot `name` (reserving WAL now) unless it exists. Throws kBadInput for
  /// an invalid slot name, kWrongState when not running.
  void EnsurePhysicalSlot(const std::string& name);

  /// A new standby from an upstream: a base backup (options.method: pg_basebackup -X stream
  /// -c fast, or pgha's own BASE_BACKUP with the WAL included) into a temporary directory
  /// next to the data directory (mode 0700, the OS user's), flushed to disk and renamed into
  /// place when complete, then WriteStandbyConfig. Throws kWrongState when a server runs here
  /// or the data directory is not empty and `replace` is false; kNotFound for kPgBasebackup
  /// without pg_basebackup in the bindir; kPostgresFailed with pg_basebackup's stderr or the
  /// server's error; kTimeout. On failure the data directory is as it was.
  SyncReport Sync(const SyncOptions& options);
  /// pg_rewind of this stopped data directory from `source`; afterwards the directory is
  /// left in standby mode (standby.signal, or recovery.conf with 10-11) so it can never start
  /// as a primary: call WriteStandbyConfig to say whom it follows. A primary that was not
  /// shut down cleanly (killed, crashed) is rewound too with PostgreSQL 13+, whose pg_rewind
  /// completes its crash recovery first. Throws kWrongState when a server runs here, or the
  /// last shutdown was not clean with PostgreSQL 10-12 or a standby (HINT in the message);
  /// kPostgresFailed with pg_rewind's stderr.
  void Rewind(const RewindSource& source, Timeout timeout = std::nullopt);

  /// postmaster.pid names a live process (signal 0; EPERM counts as alive, zombies do not)
  /// whose data directory line is this data directory. Never looks at process titles.
  bool IsRunning() const;
  /// The pid of the live postmaster, nullopt when none.
  std::optional<int> PostmasterPid() const;
  /// Running, recovery, WAL receiver, streaming standbys, LSNs, timeline and node state, from
  /// one connection. A server that runs but refuses connections (starting up) is reported
  /// running, in recovery, not accepting connections, in state kRecovery when it was started
  /// as a standby (standby.signal older than postmaster.opts) and kStarting otherwise (it
  /// comes up as a primary, or may). Throws kPostgresFailed.
  InstanceObservation Observe() const;
  /// Observe().state.
  NodeState State() const;
  /// pg_is_in_recovery(). Throws kWrongState when the server is not running.
  bool InRecovery() const;
  /// global/pg_control decoded by the core (ControlData::ReadDataDirectory: every layout of
  /// 10-18, CRC-32C checked; a read that met a checkpoint's write half-done is read again, up
  /// to three times). Throws kNotFound, kIo, kBadInput.
  ::pgha::ControlData ReadControlData() const;
  /// The seed's lsn facts. Running: pg_control_checkpoint() and the WAL position (primary:
  /// flush LSN; standby: max(receive, replay)); stopped: pg_control and a scan of pg_wal
  /// from the REDO location along this node's timeline history.
  LsnFacts ReadLsnFacts() const;
  /// The history of the current timeline, from pg_wal/%08X.history (timeline 1: one entry).
  /// Throws kNotFound when the history file of a timeline above 1 is missing.
  TimelineHistory History() const;
  /// ReadLsnFacts().last_lsn.
  Lsn EndOfWal() const;
  /// On a running primary, waits until the WAL inserted so far is flushed to disk
  /// (pg_current_wal_flush_lsn() reaches the pg_current_wal_insert_lsn() read first; the WAL
  /// writer gets there within a few wal_writer_delay). The flush point may lie inside a record
  /// that spans pages, whose tail a reader of pg_wal then does not see yet. Returns false at
  /// once for a standby or a stopped server, and when `timeout` passes.
  bool WaitForWalFlush(std::chrono::milliseconds timeout) const;
  /// Runs one SQL statement with text parameters ($1, $2, ...) as the superuser and returns
  /// its rows. Throws kWrongState when not running, kPostgresFailed (with SQLSTATE).
  std::vector<QueryRow> Query(const std::string& sql,
                              const std::vector<std::optional<std::string>>& params = {}) const;
  /// The last `lines` lines of the server log ("" when there is none).
  std::string LogTail(std::size_t lines = 20) const;

 private:
  InstanceOptions options_;
  PostgresBinaries binaries_;
  /// Idle sessions State() reuses (shared by copies of this object).
  std::shared_ptr<void> pool_;
};

}  // namespace pgha

#endif  // PGHA_INSTANCE_HPP
