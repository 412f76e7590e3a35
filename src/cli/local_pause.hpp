// Automatic failover paused and resumed around what `pghactl local` does through the seed's
// routes: with a store, the agents' HA loops decide the roles, and every agent refuses the
// role-changing routes (pg/init, pg/sync, instance/*) with 409 unless the cluster is paused.
#ifndef PGHA_CLI_LOCAL_PAUSE_HPP
#define PGHA_CLI_LOCAL_PAUSE_HPP

#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "pgha/http_client.hpp"

namespace pgha::cli {

/// POSTs cluster/pause to the first agent of `cluster` (cluster.json) that answers, then
/// waits until every agent's GET cluster says "paused" (each reads the pause from the store
/// at its next round; 10 s at most). With `all` false, agents that do not answer at all are
/// passed over, and so is the pause when none answers (`local down`). Throws
/// Error(kTimeout) naming the agent that did not pause, the agents' errors otherwise.
void PauseFailover(const HttpClient& c, const nlohmann::json& cluster, bool all, std::ostream& log);

/// POSTs cluster/resume to the first agent, then waits (10 s at most) until every agent's
/// GET cluster says it is not paused and names `leader` as the leader. Throws as
/// PauseFailover.
void ResumeFailover(const HttpClient& c, const nlohmann::json& cluster, const std::string& leader,
                    std::ostream& log);

}  // namespace pgha::cli

#endif  // PGHA_CLI_LOCAL_PAUSE_HPP
