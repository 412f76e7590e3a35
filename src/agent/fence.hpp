// Fencing a master that may no longer hold the leader lease: its PostgreSQL is frozen, then
// killed, so that no commit is acknowledged from the moment fencing starts; and the guard
// process that does it when the agent itself is gone or frozen (private).
#ifndef PGHA_AGENT_FENCE_HPP
#define PGHA_AGENT_FENCE_HPP

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace pgha::agent {

/// Stops the postmaster of `data_dir` and every process it started, with no chance to
/// acknowledge a commit on the way: SIGSTOP to the postmaster (it forks no more), SIGSTOP to
/// every `postgres` process running in the data directory (the backends, also those a killed
/// postmaster left behind), then SIGKILL to them all. Returns the postmaster's pid (or a
/// leftover's), nullopt when none ran. Also what clears a crashed server's leftovers (backends
/// whose postmaster died keep its shared memory and block a new start). The data directory is left
/// as after a crash (pg_rewind 13+ and crash recovery take it as it is). Async-signal-safe it is
/// not; it allocates.
std::optional<pid_t> FencePostmaster(const std::string& data_dir);

/// The guard: a process of its own (`pgha-agent --fence-guard DATA_DIR`, in its own session,
/// so that it outlives the agent and a signal to the agent's process group) that fences the
/// server at the moment the agent gives it, unless the agent moves the moment on first.
/// It watches the clock, not a timer, so a guard that was itself stopped fences as soon as it
/// runs again. When the agent is gone (its end of the pipe closed) an armed guard still
/// fences at the moment, a disarmed one exits. Owned by the HA loop; not thread-safe.
class FenceGuard {
 public:
  using Clock = std::chrono::steady_clock;
  /// Spawns the guard (`agent_binary`, normally /proc/self/exe). Throws Error(kIo).
  FenceGuard(const std::string& agent_binary, const std::string& data_dir);
  /// Tells the guard to exit without fencing.
  ~FenceGuard();
  FenceGuard(const FenceGuard&) = delete;
  FenceGuard& operator=(const FenceGuard&) = delete;
  /// Fence at `fence_by` (steady_clock: CLOCK_MONOTONIC, the same in every process) unless
  /// armed again with a later moment or disarmed before. Throws Error(kIo) when the guard is
  /// gone (the caller must then fence itself).
  void Arm(Clock::time_point fence_by);
  /// No fencing (not the leader any more, or the server was fenced or stopped).
  void Disarm();
  pid_t pid() const { return pid_; }

 private:
  void Send(const std::string& line);
  int fd_ = -1;
  pid_t pid_ = 0;
};

/// The guard process's main: reads "arm <ns>", "disarm" and "exit" lines from stdin.
int RunFenceGuard(const std::string& data_dir);

}  // namespace pgha::agent

#endif  // PGHA_AGENT_FENCE_HPP
