// pgha::Instance: Start, Stop, Restart, Promote.
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "fs.hpp"
#include "instance_internal.hpp"
#include "pgha/instance.hpp"
#include "session_pool.hpp"
#include "standby_config.hpp"

namespace pgha {

namespace inst {

namespace {

std::string Millis(Clock::time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  return std::to_string(ms) + " ms";
}

// Polls until the postmaster `pid` is ready (see Instance::Start).
void WaitUntilReady(const Instance& in, pid_t pid, Clock::time_point deadline) {
  const std::string& data = in.options().data_dir;
  auto start = Clock::now();
  std::string last = "postmaster.pid not written yet";
  for (int attempt = 0;; ++attempt) {
    if (!process::ProcessAlive(pid))
      throw Error(ErrorCode::kPostgresFailed,
                  WithLogTail(in, "postgres on \"" + data + "\" exited during start"));
    auto pf = ReadPidFile(in);
    if (pf && pf->pid == pid) {
      if (pf->status == "standby") return;  // hot_standby off: up, never accepts connections
      last = "postmaster status \"" + pf->status + "\"";
      if (pf->status == "ready") {
        try {
          Connect(in).QueryValue("SELECT 1");
          return;
        } catch (const pg::PostgresError& e) {
          // Authentication and configuration errors will not go away by waiting.
          if (e.sqlstate().rfind("28", 0) == 0 || e.sqlstate() == "3D000")
            throw Error(ErrorCode::kPostgresFailed, WithLogTail(in, e.what()));
          last = e.what();
        }
      }
    }
    if (Clock::now() >= deadline)
      throw Error(ErrorCode::kTimeout,
                  WithLogTail(in, "postgres (pid " + std::to_string(pid) + ") on \"" + data +
                                      "\" was not ready after " + Millis(start) +
                                      " and is left starting; last: " + last));
    PollPause(attempt, deadline);
  }
}

}  // namespace

void StartServer(const Instance& in, Clock::time_point deadline, bool socket_only) {
  const InstanceOptions& o = in.options();
  if (auto pid = LivePostmaster(in))
    throw Error(ErrorCode::kWrongState, "a postmaster (pid " + std::to_string(*pid) +
                                            ") already runs on \"" + o.data_dir + "\"");
  RequireDataDirectory(in);
  std::vector<std::string> argv{in.binaries().Program("postgres"),
                                "-D",
                                o.data_dir,
                                "-c",
                                "port=" + std::to_string(o.port),
                                "-c",
                                "listen_addresses=" + (socket_only ? std::string() : o.host),
                                "-c",
                                "unix_socket_directories=" + o.socket_dir};
  pid_t pid = process::SpawnDetached(PgCommand(in, std::move(argv), deadline), o.log_file);
  WaitUntilReady(in, pid, deadline);
}

}  // namespace inst

void Instance::Start(Timeout timeout) {
  static_cast<pg::SessionPool*>(pool_.get())->Open();
  inst::StartServer(*this, inst::DeadlineOf(*this, timeout), /*socket_only=*/false);
}

void Instance::Stop(StopMode mode, Timeout timeout) {
  auto deadline = inst::DeadlineOf(*this, timeout);
  auto pid = inst::LivePostmaster(*this);
  // Idle sessions would hold a smart stop.
  static_cast<pg::SessionPool*>(pool_.get())->Close(pid.value_or(0));
  if (!pid) return;
  int sig = mode == StopMode::kSmart ? SIGTERM : mode == StopMode::kFast ? SIGINT : SIGQUIT;
  if (::kill(*pid, sig) != 0) {
    if (errno == ESRCH) return;
    throw Error(ErrorCode::kIo,
                "cannot signal postmaster " + std::to_string(*pid) + ": " + std::strerror(errno));
  }
  for (int attempt = 0; process::ProcessAlive(*pid); ++attempt) {
    if (inst::Clock::now() >= deadline)
      throw Error(
          ErrorCode::kTimeout,
          inst::WithLogTail(*this, "postmaster " + std::to_string(*pid) + " on \"" +
                                       options_.data_dir + "\" did not stop (" +
                                       std::string(StopModeName(mode)) + ") before the deadline"));
    inst::PollPause(attempt, deadline);
  }
}

void Instance::Restart(Timeout timeout) {
  auto deadline = inst::DeadlineOf(*this, timeout);
  Stop(StopMode::kFast, inst::Remaining(deadline));
  static_cast<pg::SessionPool*>(pool_.get())->Open();
  inst::StartServer(*this, deadline, /*socket_only=*/false);
}

void Instance::Promote(Timeout timeout) {
  auto deadline = inst::DeadlineOf(*this, timeout);
  inst::RequireRunning(*this, "promote");
  auto session = inst::Connect(*this);
  if (session.QueryValue("SELECT pg_is_in_recovery()") != "t")
    throw Error(ErrorCode::kWrongState,
                "promote: \"" + options_.data_dir + "\" is not in recovery (already a primary)");
  auto secs = std::max<long long>(1, inst::Remaining(deadline).count() / 1000);
  if (session.ServerVersion() >= 120000) {
    if (session.QueryValue("SELECT pg_promote(true, $1)", {std::to_string(secs)}) != "t")
      throw Error(ErrorCode::kTimeout,
                  inst::WithLogTail(*this, "promotion of \"" + options_.data_dir +
                                               "\" did not finish before the deadline"));
  } else {
    process::RunChecked(inst::PgCommand(*this,
                                        {binaries_.Program("pg_ctl"), "promote", "-D",
                                         options_.data_dir, "-w", "-t", std::to_string(secs)},
                                        deadline),
                        "pg_ctl promote");
  }
  for (int attempt = 0; session.QueryValue("SELECT pg_is_in_recovery()") != "f"; ++attempt) {
    if (inst::Clock::now() >= deadline)
      throw Error(ErrorCode::kTimeout,
                  "\"" + options_.data_dir + "\" still in recovery after promotion");
    inst::PollPause(attempt, deadline);
  }
  // pg_control (and pg_rewind before 16) see the new timeline only after a checkpoint.
  session.Query("CHECKPOINT");
  std::string conf = inst::DataPath(*this, pg::kPghaConf);
  if (auto text = fs::ReadFileIfExists(conf))
    fs::WriteFileAtomic(conf, pg::StripStandbySettings(*text));
}

}  // namespace pgha
