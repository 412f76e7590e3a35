// `pghactl list`'s table of the cluster store's view (GET /api/pg/v1/cluster), in the shape of
// `patronictl list`.
#ifndef PGHA_CLI_CLUSTER_TABLE_HPP
#define PGHA_CLI_CLUSTER_TABLE_HPP

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace pgha::cli {

/// A header line (the cluster's name, the leader and its lease's remaining time, pause) and a
/// bordered table of `view`'s members sorted by name: Member, Host, Role (Leader for the
/// holder of the leader key, else Master / Replica), State, TL, Lag in MB (blank for the
/// leader, "unknown" when not known), and Tags when a member has some (nofailover,
/// priority). Host is `pg_hosts`'s entry for the member ("host:port"), else the member's
/// pg_host and pg_port, else its agent URL's host and port. Fields that are missing or of
/// another type show as blank: `view` comes from a peer.
std::string RenderClusterTable(const nlohmann::json& view, const std::string& cluster_name,
                               const std::map<std::string, std::string>& pg_hosts);

}  // namespace pgha::cli

#endif  // PGHA_CLI_CLUSTER_TABLE_HPP
