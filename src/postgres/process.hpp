// Child processes for the postgres layer: argv only, never a shell (private).
#ifndef PGHA_POSTGRES_PROCESS_HPP
#define PGHA_POSTGRES_PROCESS_HPP

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgha::process {

using Clock = std::chrono::steady_clock;

/// An OS account resolved before fork (getpwnam_r + getgrouplist), so that the child only
/// makes async-signal-safe calls.
struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
};

/// Resolves account `name`. Throws Error(kNotFound) naming it when unknown, kIo otherwise.
RunAs LookupUser(const std::string& name);
/// The account to run PostgreSQL programs as: `name` when this process is root (PostgreSQL
/// refuses to run as root), nullopt otherwise (programs run as ourselves).
std::optional<RunAs> RunAsIfRoot(const std::string& name);

/// One program to run.
struct Command {
  /// argv[0] is the program's path (not searched in PATH unless it has no '/').
  std::vector<std::string> argv;
  std::optional<RunAs> user;
  /// Added to the environment. The base environment is ours without PG*, LC_*, LANG*, TZ
  /// and DB_PASSWD variables (so neither PGHA_API_TOKEN nor the agent's DB_PASSWD is ever
  /// inherited), plus LC_ALL=C, TZ=UTC (and HOME/USER/LOGNAME of `user`).
  std::vector<std::pair<std::string, std::string>> env;
  /// Written to the program's standard input, which is then closed (/dev/null without it).
  std::optional<std::string> stdin_text;
  /// When the program (its whole process group) is killed and kTimeout thrown.
  Clock::time_point deadline = Clock::time_point::max();
};

/// How a program ended.
struct Outcome {
  int exit_code = -1;   ///< exit status, -1 when killed by a signal
  int term_signal = 0;  ///< the signal that killed it, 0 when it exited
  std::string out;      ///< standard output (at most the last 4 MiB)
  std::string err;      ///< standard error (at most the last 4 MiB)
  bool ok() const noexcept { return exit_code == 0; }
};

/// Runs `cmd` to completion in its own process group, with cwd "/", capturing stdout and
/// stderr through pipes (poll: no deadlock on large output). Throws Error(kNotFound) when the
/// program does not exist, kTimeout (after killing the group) when the deadline passes, kIo
/// when it cannot be started. A non-zero exit is returned, not thrown.
Outcome Run(const Command& cmd);
/// Run, and Error(kPostgresFailed) "<what> failed (exit N): <stderr tail>" unless it exits 0.
Outcome RunChecked(const Command& cmd, std::string_view what);

/// Starts `cmd` in a new session (setsid) with stdin /dev/null and stdout/stderr appended to
/// `log_file` (created for `cmd.user` when missing), and returns its pid without waiting.
/// The process stays our child: ProcessAlive reaps it once it has exited. Throws kNotFound /
/// kIo as Run does.
pid_t SpawnDetached(const Command& cmd, const std::string& log_file);

/// True when `pid` is a live process: signal 0 succeeds or fails with EPERM, and it is not a
/// zombie. A child started by SpawnDetached that has exited is reaped here.
bool ProcessAlive(pid_t pid);

/// The last `lines` lines of `text`, each at most 400 bytes.
std::string TailLines(std::string_view text, std::size_t lines);
/// `text` on one line: newlines and tabs as " | " and spaces, trailing blanks trimmed.
std::string OneLine(std::string_view text);

}  // namespace pgha::process

#endif  // PGHA_POSTGRES_PROCESS_HPP
