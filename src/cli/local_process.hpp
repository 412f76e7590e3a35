// What `pghactl local` needs to run the processes of a cluster on this machine: free loopback
// ports, directories and processes of the PostgreSQL account, and stopping a process by pid
// without hitting another one that took its pid.
#ifndef PGHA_CLI_LOCAL_PROCESS_HPP
#define PGHA_CLI_LOCAL_PROCESS_HPP

#include <sys/types.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace pgha::cli {

/// The first of `count` consecutive free loopback ports below the kernel's ephemeral range
/// (32768): `base` itself when it is not 0, else a random start from 20000. Throws
/// Error(kConflict) when `base`'s run is not free or no run is found.
int FindPorts(int base, int count);

/// 48 random hex digits (/dev/urandom). Throws Error(kIo).
std::string RandomToken();

/// Creates directory `path` (an existing one is kept) with `mode`, owned by the PostgreSQL
/// account when we are root. Throws Error(kIo).
void MakeDir(const std::string& path, mode_t mode);

/// True when `pid` is alive and its argv[0] (/proc/PID/cmdline) is `program`, so that a pid
/// the kernel gave to another process since is not taken for ours. An empty `program`
/// checks only that the pid is alive (cluster.json files of older pghactl).
bool Runs(pid_t pid, const std::string& program);

/// Starts `spec` ({"argv": [...], "env": {"NAME": "value", ...}}) detached, as the
/// PostgreSQL account when we are root, its output appended to `log_file`; returns its pid.
pid_t Spawn(const nlohmann::json& spec, const std::string& log_file);

/// Sends SIGTERM to `pid` if it Runs `program`; false when it was not running.
bool Terminate(pid_t pid, const std::string& program);

/// Waits until `pid` no longer Runs `program`, at most until `deadline`; then SIGKILLs it and
/// waits up to 5 s more for it to be gone.
void AwaitExit(pid_t pid, const std::string& program,
               std::chrono::steady_clock::time_point deadline);

}  // namespace pgha::cli

#endif  // PGHA_CLI_LOCAL_PROCESS_HPP
