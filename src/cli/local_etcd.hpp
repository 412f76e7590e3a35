// The etcd members of `pghactl local up --etcd`: planned on loopback ports, started as the
// PostgreSQL account, awaited until they have a leader, stopped. The cluster.json "etcd"
// object (docs/store.md, "A local cluster on etcd") is their only record.
#ifndef PGHA_CLI_LOCAL_ETCD_HPP
#define PGHA_CLI_LOCAL_ETCD_HPP

#include <chrono>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

namespace pgha::cli {

/// The names of the cluster the agents share in the store, as cluster.json and the agents'
/// configurations give them.
constexpr const char* kLocalEtcdPrefix = "/pgha";
constexpr const char* kLocalClusterName = "pgha";

/// The "etcd" object of cluster.json for `members` (1..5) members named etcd1.. with client
/// and peer ports from `first_port` (2 * members of them), data under DIR/etcd/<name>:
/// endpoints, cluster_name, prefix, and per member name, client_url, peer_url, data_dir,
/// log, argv (the command line `local start` runs again) and pid (0: not started). Creates
/// DIR/etcd. Throws Error(kNotFound) when there is no etcd program, kBadInput for `members`.
nlohmann::json PlanEtcd(const std::string& dir, int members, int first_port);

/// Starts `member` (an element of PlanEtcd's "members"; its data directory is created when
/// missing) and sets its "pid".
void StartEtcdMember(nlohmann::json& member, std::ostream& log);

/// Waits, until `timeout` has passed, for every member of `etcd` to answer GET /health with
/// health true and POST /v3/maintenance/status naming the same leader. Throws
/// Error(kTimeout) naming the member that did not (the tail of its log when it has exited).
void WaitEtcdReady(const nlohmann::json& etcd, std::chrono::milliseconds timeout);

/// After a restart of `member` of `etcd`: when a majority of the members runs with it, waits
/// until `timeout` has passed for it to answer GET /health with health true (it sees a
/// leader: it has rejoined) and returns true. Without a majority no member can be healthy:
/// it waits only for the member to answer on its client URL and returns false. Throws as
/// WaitEtcdReady.
bool WaitEtcdMemberUp(const nlohmann::json& etcd, const nlohmann::json& member,
                      std::chrono::milliseconds timeout);

/// True when `member`'s pid runs etcd.
bool EtcdMemberRunning(const nlohmann::json& member);

/// Stops every member of `etcd` that runs, one after the other (SIGTERM, 10 s, then
/// SIGKILL). Idempotent.
void StopEtcd(const nlohmann::json& etcd, std::ostream& log);

}  // namespace pgha::cli

#endif  // PGHA_CLI_LOCAL_ETCD_HPP
