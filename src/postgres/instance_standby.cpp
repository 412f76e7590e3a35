// pgha::Instance: standby configuration, physical slots, Sync (a base backup), Rewind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base_backup.hpp"
#include "conninfo.hpp"
#include "fault_point.hpp"
#include "fs.hpp"
#include "instance_internal.hpp"
#include "pgha/instance.hpp"
#include "process.hpp"
#include "standby_config.hpp"

namespace pgha {

namespace {

constexpr std::chrono::hours kDefaultSyncTimeout{1};

[[noreturn]] void IoFailure(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorCode::kIo, what + " \"" + path + "\": " + std::strerror(err));
}

void EnsureInclude(const Instance& in) {
  std::string path = inst::DataPath(in, "postgresql.conf");
  auto conf = fs::ReadFileIfExists(path);
  if (!conf) throw Error(ErrorCode::kNotFound, "\"" + path + "\" does not exist");
  if (!pg::HasPghaInclude(*conf)) fs::WriteFileAtomic(path, pg::AppendPghaInclude(*conf));
}

void ReloadIfRunning(const Instance& in) {
  if (in.binaries().major < 13 || !in.IsRunning()) return;
  try {
    inst::Connect(in).Query("SELECT pg_reload_conf()");
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() != "57P03") throw;  // not accepting connections yet: it reads the files later
  }
}

// The synchronous_standby_names the server's files give (pg_file_settings reads them now, so
// a pending reload does not matter) must be pgha.conf's `value`.
void CheckSynchronousSetting(pg::PqSession& s, const std::string& value) {
  auto rows = s.Query(
      "SELECT sourcefile, setting, error FROM pg_file_settings "
      "WHERE name = 'synchronous_standby_names' ORDER BY seqno DESC LIMIT 1");
  std::string file = rows.empty() ? "" : rows[0][0].value_or("");
  std::string setting = rows.empty() ? "" : rows[0][1].value_or("");
  bool from_pgha = file.size() >= 10 && file.compare(file.size() - 10, 10, "/pgha.conf") == 0;
  if (from_pgha && setting == value && !rows[0][2]) return;
  throw Error(ErrorCode::kWrongState,
              "synchronous_standby_names in effect is '" + setting + "' from \"" + file +
                  "\", not pgha.conf's '" + value +
                  "': synchronous replication is not what pgha manages. HINT: ALTER SYSTEM "
                  "RESET synchronous_standby_names, or remove it from the file named");
}

// A directory next to `data`, e.g. /srv/.data.pgha-sync-1234.
std::string Sibling(const std::string& data, const std::string& tag) {
  std::string parent = fs::DirName(data);
  std::string base = data.substr(data.find_last_of('/') + 1);
  return parent + "/." + base + ".pgha-" + tag + "-" + std::to_string(::getpid());
}

void MakeBackupDirectory(const Instance& in, const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (::mkdir(dir.c_str(), 0700) != 0) IoFailure("cannot create", dir, errno);
  if (auto user = process::RunAsIfRoot(in.options().os_user))
    fs::ChownIfRoot(dir, fs::Owner{user->uid, user->gid});
}

// Puts the complete backup `tmp` in place of `data` in one atomic exchange (the old `data` is
// then at `tmp` and removed), so a crash leaves the old directory or the new one at `data`.
// Where the file system cannot exchange, `data` is moved aside first: a crash between the two
// renames leaves no `data`, and the old one at its sibling ".<name>.pgha-old-<pid>".
void SwapIntoPlace(const std::string& tmp, const std::string& data, bool had_data) {
  std::error_code ec;
  if (had_data) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, data.c_str(), RENAME_EXCHANGE) == 0) {
      fault::Point("sync:exchanged:" + data);
      fs::FsyncPath(fs::DirName(data));
      std::filesystem::remove_all(tmp, ec);
      return;
    }
    if (errno != EINVAL && errno != ENOSYS)
      IoFailure("cannot exchange the base backup with", data, errno);
  }
  std::string old = Sibling(data, "old");
  if (had_data) {
    std::filesystem::remove_all(old, ec);
    if (::rename(data.c_str(), old.c_str()) != 0) IoFailure("cannot move aside", data, errno);
    fault::Point("sync:moved-aside:" + data);
  }
  if (::rename(tmp.c_str(), data.c_str()) != 0) {
    int err = errno;
    if (had_data) ::rename(old.c_str(), data.c_str());
    IoFailure("cannot rename the base backup onto", data, err);
  }
  fs::FsyncPath(fs::DirName(data));
  if (had_data) std::filesystem::remove_all(old, ec);
}

// Removes the directories a killed Sync of `data` left: ".<name>.pgha-sync-<pid>" (a partial
// backup, or the old data after the exchange) and ".<name>.pgha-old-<pid>", that pid gone.
void RemoveStaleSiblings(const std::string& data) {
  std::string parent = fs::DirName(data);
  std::string base = data.substr(data.find_last_of('/') + 1);
  std::error_code ec;
  for (const char* tag : {"sync", "old"}) {
    std::string prefix = "." + base + ".pgha-" + tag + "-";
    for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
      std::string name = entry.path().filename().string();
      if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
      std::string digits = name.substr(prefix.size());
      if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
        continue;
      auto pid = static_cast<pid_t>(std::stol(digits));
      if (pid == ::getpid() || process::ProcessAlive(pid)) continue;
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

// pg_basebackup of `o`'s source into `dir`: WAL streamed alongside, a fast checkpoint.
process::Command BaseBackupCommand(const Instance& in, const SyncOptions& o,
                                   const std::string& dir) {
  std::vector<std::string> argv{in.binaries().Program("pg_basebackup"),
                                "-D",
                                dir,
                                "-X",
                                "stream",
                                "-c",
                                "fast",
                                "-h",
                                o.source_host,
                                "-p",
                                std::to_string(o.source_port),
                                "-U",
                                o.user,
                                "--no-password"};
  if (!o.slot_name.empty()) argv.insert(argv.end(), {"-S", o.slot_name});
  if (o.max_rate_kb != 0) argv.insert(argv.end(), {"-r", std::to_string(o.max_rate_kb) + "k"});
  auto cmd = inst::PgCommand(in, std::move(argv),
                             inst::Clock::now() + o.timeout.value_or(kDefaultSyncTimeout));
  cmd.env.emplace_back("PGCONNECT_TIMEOUT", "10");
  cmd.env.emplace_back("PGAPPNAME", "pgha_sync");
  if (!o.password.empty()) cmd.env.emplace_back("PGPASSWORD", o.password);
  if (!in.options().passfile.empty()) cmd.env.emplace_back("PGPASSFILE", in.options().passfile);
  return cmd;
}

void CheckRewindSource(const RewindSource& src) {
  pg::CheckHost(src.host, "rewind source host");
  pg::CheckPort(src.port, "rewind source port");
  pg::CheckRoleName(src.user, "rewind source user");
  pg::CheckRoleName(src.dbname, "rewind source dbname");
  pg::CheckSecret(src.password, "rewind source password");
  if (!src.checkpoint_user.empty()) pg::CheckRoleName(src.checkpoint_user, "checkpoint user");
}

// CHECKPOINT on the source, so that its pg_control shows its current timeline. A role that
// may not checkpoint (or a standby source) leaves it to pg_rewind.
void CheckpointSource(const RewindSource& src, const std::string& passfile) {
  try {
    pg::ConnectParams p;
    p.host = src.host;
    p.port = src.port;
    p.user = src.checkpoint_user.empty() ? src.user : src.checkpoint_user;
    p.password = src.checkpoint_user.empty() ? src.password : "";
    p.passfile = passfile;
    p.dbname = src.dbname;
    p.application_name = "pgha_rewind";
    pg::PqSession::Connect(p).Query("CHECKPOINT");
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() != "42501" && e.sqlstate() != "25006") throw;
  }
}

}  // namespace

void Instance::WriteStandbyConfig(const StandbyConfig& given) {
  inst::RequireDataDirectory(*this);
  StandbyConfig config = given;
  if (config.password.empty() && config.passfile.empty()) config.passfile = options_.passfile;
  if (binaries_.major >= 12) {
    std::string path = inst::DataPath(*this, pg::kPghaConf);
    std::string text = pg::RenderPghaConf(config, fs::ReadFileIfExists(path).value_or(""));
    EnsureInclude(*this);
    fs::WriteFileAtomic(path, text);
    fs::WriteFileAtomic(inst::DataPath(*this, "standby.signal"), "");
  } else {
    fs::WriteFileAtomic(inst::DataPath(*this, "recovery.conf"), pg::RenderRecoveryConf(config));
  }
  ReloadIfRunning(*this);
}

void Instance::RemoveStandbyConfig() {
  for (const char* f : {"standby.signal", "recovery.signal", "recovery.conf"})
    fs::RemoveDurable(inst::DataPath(*this, f));
  std::string path = inst::DataPath(*this, pg::kPghaConf);
  if (auto text = fs::ReadFileIfExists(path))
    fs::WriteFileAtomic(path, pg::StripStandbySettings(*text));
}

void Instance::SetSynchronousStandbys(const SynchronousStandbys& standbys) {
  inst::RequireDataDirectory(*this);
  const std::string value = pg::SynchronousStandbyNames(standbys);
  const std::string path = inst::DataPath(*this, pg::kPghaConf);
  const std::optional<std::string> text =
      pg::WithSynchronousStandbyNames(fs::ReadFileIfExists(path).value_or(""), value);
  const bool changed = text.has_value();
  if (changed) {
    EnsureInclude(*this);
    fs::WriteFileAtomic(path, *text);
  }
  if ((value.empty() && !changed) || !IsRunning()) return;
  try {
    auto session = inst::Connect(*this);
    // Also reload when the file was right but the server never loaded it.
    bool reload =
        changed || (!value.empty() && session.QueryValue("SELECT current_setting("
                                                         "'synchronous_standby_names')") != value);
    if (reload) session.Query("SELECT pg_reload_conf()");
    if (!value.empty()) CheckSynchronousSetting(session, value);
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() != "57P03") throw;  // starting up: it reads the files when it is up
  }
}

bool Instance::HasStandbyConfig() const {
  return fs::Exists(
      inst::DataPath(*this, binaries_.major >= 12 ? "standby.signal" : "recovery.conf"));
}

void Instance::EnsurePhysicalSlot(const std::string& name) {
  pg::CheckSlotName(name);
  inst::RequireRunning(*this, "ensure physical slot");
  auto s = inst::Connect(*this);
  auto rows = s.Query("SELECT slot_type FROM pg_replication_slots WHERE slot_name = $1", {name});
  if (!rows.empty()) {
    if (rows.front().front() != "physical")
      throw Error(ErrorCode::kConflict, "slot \"" + name + "\" exists and is not physical");
    return;
  }
  try {
    s.Query("SELECT pg_create_physical_replication_slot($1, true)", {name});
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() != "42710") throw;  // created meanwhile
  }
}

std::string_view BaseBackupMethodName(BaseBackupMethod method) noexcept {
  switch (method) {
    case BaseBackupMethod::kAuto: return "auto";
    case BaseBackupMethod::kPgBasebackup: return "pg_basebackup";
    case BaseBackupMethod::kReplicationProtocol: return "pgha";
  }
  return "auto";
}

BaseBackupMethod ParseBaseBackupMethod(std::string_view name) {
  for (auto m : {BaseBackupMethod::kAuto, BaseBackupMethod::kPgBasebackup,
                 BaseBackupMethod::kReplicationProtocol}) {
    if (BaseBackupMethodName(m) == name) return m;
  }
  throw Error(ErrorCode::kBadInput, "base backup method \"" + std::string(name).substr(0, 40) +
                                        "\" is not auto, pg_basebackup or pgha");
}

SyncReport Instance::Sync(const SyncOptions& o) {
  StandbyConfig standby{o.source_host,      o.source_port, o.user,        o.password,
                        o.application_name, o.slot_name,   o.apply_delay, ""};
  pg::StandbySettings(standby);  // every value checked before anything is touched
  const std::string& data = options_.data_dir;
  if (auto pid = inst::LivePostmaster(*this))
    throw Error(ErrorCode::kWrongState, "sync: a postmaster (pid " + std::to_string(*pid) +
                                            ") runs on \"" + data + "\" HINT: stop it first");
  std::error_code ec;
  bool had_data = std::filesystem::exists(data, ec);
  if (had_data && !std::filesystem::is_empty(data, ec) && !o.replace)
    throw Error(ErrorCode::kWrongState, "sync: data directory \"" + data +
                                            "\" is not empty HINT: pass replace to overwrite it");
  SyncReport report;
  report.method = o.method;
  if (report.method == BaseBackupMethod::kAuto) {
    report.method = fs::Exists(binaries_.bindir + "/pg_basebackup")
                        ? BaseBackupMethod::kPgBasebackup
                        : BaseBackupMethod::kReplicationProtocol;
  }
  const std::string from = o.source_host + ":" + std::to_string(o.source_port);
  const std::string tmp = Sibling(data, "sync");
  std::optional<process::Command> cmd;
  if (report.method == BaseBackupMethod::kPgBasebackup) {
    cmd = BaseBackupCommand(*this, o, tmp);  // checks the program is there
  } else {
    pg::CheckMaxRate(o.max_rate_kb);
  }
  RemoveStaleSiblings(data);
  MakeBackupDirectory(*this, tmp);
  try {
    if (cmd) {
      process::RunChecked(*cmd, "pg_basebackup from " + from);
    } else {
      pg::BaseBackupRequest r;
      r.connect.host = o.source_host;
      r.connect.port = o.source_port;
      r.connect.user = o.user;
      r.connect.password = o.password;
      r.connect.passfile = options_.passfile;
      r.connect.application_name = "pgha_sync";
      r.connect.connect_timeout = std::chrono::seconds(10);
      r.directory = tmp;
      if (auto user = process::RunAsIfRoot(options_.os_user))
        r.owner = fs::Owner{user->uid, user->gid};
      r.max_rate_kb = o.max_rate_kb;
      if (o.progress) {
        r.progress = [&o](const pg::BaseBackupProgress& p) {
          o.progress(p.done_bytes, p.total_bytes);
        };
      }
      r.deadline = inst::Clock::now() + o.timeout.value_or(kDefaultSyncTimeout);
      pg::BaseBackupResult b = pg::TakeBaseBackup(r);
      report.bytes = b.bytes;
      report.start_lsn = b.start_lsn;
      report.end_lsn = b.end_lsn;
    }
    fault::Point("sync:backed-up:" + data);
    SwapIntoPlace(tmp, data, had_data);
  } catch (const Error& e) {
    std::filesystem::remove_all(tmp, ec);
    if (cmd) throw;
    throw Error(e.code(), "base backup from " + from + ": " + e.what());
  } catch (...) {
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
  WriteStandbyConfig(standby);
  return report;
}

void Instance::Rewind(const RewindSource& src, Timeout timeout) {
  auto deadline = inst::DeadlineOf(*this, timeout);
  CheckRewindSource(src);
  if (auto pid = inst::LivePostmaster(*this))
    throw Error(ErrorCode::kWrongState, "rewind: a postmaster (pid " + std::to_string(*pid) +
                                            ") runs on \"" + options_.data_dir +
                                            "\" HINT: stop it first");
  ::pgha::ControlData cd = ReadControlData();
  // pg_rewind 13+ completes the crash recovery of a target that was not shut down cleanly
  // itself (single-user postgres), as a primary: a crashed primary, what a failover leaves
  // behind, is rewound as it is. Older ones, and a crashed standby, need a clean stop first.
  if (!cd.CleanlyShutDown() && (binaries_.major < 13 || HasStandbyConfig()))
    throw Error(ErrorCode::kWrongState,
                "rewind: \"" + options_.data_dir + "\" was not shut down cleanly (state \"" +
                    std::string(ClusterStateName(cd.state)) +
                    "\") HINT: start it as a standby (WriteStandbyConfig, Start) and stop it "
                    "with mode fast, then rewind");
  // pg_rewind before 16 reads the source's timeline from its last checkpoint (§2.3).
  if (binaries_.major <= 15) CheckpointSource(src, options_.passfile);
  std::string conninfo = pg::BuildConninfo({{"host", src.host},
                                            {"port", std::to_string(src.port)},
                                            {"user", src.user},
                                            {"dbname", src.dbname},
                                            {"connect_timeout", "10"}});
  auto cmd =
      inst::PgCommand(*this,
                      {binaries_.Program("pg_rewind"), "--target-pgdata=" + options_.data_dir,
                       "--source-server=" + conninfo},
                      deadline);
  if (!src.password.empty()) cmd.env.emplace_back("PGPASSWORD", src.password);
  if (!options_.passfile.empty()) cmd.env.emplace_back("PGPASSFILE", options_.passfile);
  process::RunChecked(cmd, "pg_rewind from " + src.host + ":" + std::to_string(src.port));
  // Never let the rewound node come up as a second primary.
  if (!HasStandbyConfig()) {
    if (binaries_.major >= 12) {
      fs::WriteFileAtomic(inst::DataPath(*this, "standby.signal"), "");
    } else {
      fs::WriteFileAtomic(inst::DataPath(*this, "recovery.conf"), "standby_mode = 'on'\n");
    }
  }
}

}  // namespace pgha
