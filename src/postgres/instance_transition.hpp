// A server in a normal transition (starting, stopping) as the error its observers get (private).
#ifndef PGHA_POSTGRES_INSTANCE_TRANSITION_HPP
#define PGHA_POSTGRES_INSTANCE_TRANSITION_HPP

#include <optional>
#include <string_view>

#include "pgha/instance.hpp"
#include "pq_session.hpp"
#include "server_files.hpp"

namespace pgha::pg {

/// True for a refused or closed connection: SQLSTATE class 08, 57P01 admin shutdown, 57P02
/// crash shutdown, 57P03 cannot connect now.
bool LostConnection(std::string_view sqlstate);

/// What a server is going through when an observation of it failed with `sqlstate`, from what
/// is seen right after: "stopped" (no live postmaster any more), "starting" (postmaster.pid
/// says "starting", or not yet: its status line is written last) or "stopping". nullopt when
/// the failure is not a lost connection (LostConnection), or the postmaster is up ("ready",
/// "standby").
std::optional<std::string_view> TransitionOf(std::string_view sqlstate, bool postmaster_alive,
                                             const std::optional<PostmasterPidFile>& pid_file);

}  // namespace pgha::pg

namespace pgha::inst {

/// After an observation of `in` failed with `e`: throws Error(kUnavailable) naming the
/// transition (TransitionOf) and `e`'s message when the server is starting or stopping, or
/// when it says it is up and a new session works now (it was restarted while the observation
/// waited); returns otherwise, for the caller to rethrow `e` (a real failure).
void ThrowIfInTransition(const Instance& in, const pg::PostgresError& e);

}  // namespace pgha::inst

#endif  // PGHA_POSTGRES_INSTANCE_TRANSITION_HPP
