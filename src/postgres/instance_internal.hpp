// Helpers shared by the files that implement pgha::Instance (private).
#ifndef PGHA_POSTGRES_INSTANCE_INTERNAL_HPP
#define PGHA_POSTGRES_INSTANCE_INTERNAL_HPP

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/instance.hpp"
#include "pq_session.hpp"
#include "process.hpp"
#include "server_files.hpp"

namespace pgha::inst {

using Clock = process::Clock;

/// now + `timeout` (or the instance's default timeout), or the deadline of the operation the
/// thread works for when that comes first (op_deadline.hpp).
Clock::time_point DeadlineOf(const Instance& in, Timeout timeout);
/// Milliseconds left until `deadline` (0 when passed).
std::chrono::milliseconds Remaining(Clock::time_point deadline);
/// A short pause between polls: 10 ms doubling to 100 ms, never past `deadline`.
void PollPause(int attempt, Clock::time_point deadline);

/// `relative` inside the data directory.
std::string DataPath(const Instance& in, std::string_view relative);
/// A command for a PostgreSQL program, run as the OS user when we are root.
process::Command PgCommand(const Instance& in, std::vector<std::string> argv,
                           Clock::time_point deadline);

/// postmaster.pid, parsed; nullopt when absent or unreadable as a pid file.
std::optional<pg::PostmasterPidFile> ReadPidFile(const Instance& in);
/// The pid of a live postmaster whose pid file names this data directory.
std::optional<pid_t> LivePostmaster(const Instance& in);
/// Throws Error(kWrongState) when no postmaster runs on the data directory.
void RequireRunning(const Instance& in, std::string_view operation);
/// Throws Error(kNotFound) unless the data directory holds PG_VERSION.
void RequireDataDirectory(const Instance& in);

/// A superuser session to this server over its unix socket (options().socket_dir), with
/// options().password or the passfile. Throws pg::PostgresError.
pg::PqSession Connect(const Instance& in);

/// `message` followed by " | server log: <tail>" when the log has something.
std::string WithLogTail(const Instance& in, const std::string& message);

/// Starts the postmaster and waits until it is ready (see Instance::Start). `socket_only`
/// starts it with listen_addresses='' (Init's brief start).
void StartServer(const Instance& in, Clock::time_point deadline, bool socket_only);

/// The timeline the node is on: running primary from pg_walfile_name(), running standby from
/// the WAL receiver or pg_control, stopped from pg_controldata.
TimelineId CurrentTimeline(const Instance& in);

}  // namespace pgha::inst

#endif  // PGHA_POSTGRES_INSTANCE_INTERNAL_HPP
