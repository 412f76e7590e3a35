// `pghactl local up|start|down`: a cluster of N nodes on this machine's loopback, each a
// PostgreSQL server and a pgha-agent, set up through the agents' own routes as the seed's
// setup does; with --etcd, also the etcd members of the agents' cluster store.
#ifndef PGHA_CLI_LOCAL_CLUSTER_HPP
#define PGHA_CLI_LOCAL_CLUSTER_HPP

#include <cstdint>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

namespace pgha::cli {

struct LocalUpOptions {
  std::string dir;    ///< where everything lives (created; must be empty or absent)
  int nodes = 2;      ///< how many nodes (the first becomes the master)
  int port_base = 0;  ///< first port (agents, then PostgreSQL servers); 0 = find free ones
  std::string database = "datasync";
  std::string bindir;  ///< PostgreSQL binaries ("" = pg_config's / Debian's 15)
  /// HTTPS between everyone: a CA made for this cluster (DIR/ca.crt; its key is not kept)
  /// signs a certificate per agent for 127.0.0.1 and localhost (DIR/NODE/agent.crt, .key).
  bool tls = false;
  bool synchronous = false;  ///< every agent with synchronous_mode on
  /// initdb --wal-segsize of the master's pg/init (MiB, a power of 2 in 1..1024); 0 = 16.
  std::uint32_t wal_segment_size_mb = 0;
  /// etcd members (1..5) started before the agents, whose configurations then name them
  /// (etcd_endpoints, docs/store.md); 0: none, the agents in the manual mode.
  int etcd_members = 0;
  /// With etcd: the leader key's TTL (ha_ttl_s) and the HA loop's interval (ha_loop_ms) of
  /// every agent; short by default, for tests on one machine.
  int ha_ttl_s = 3;
  int ha_loop_ms = 250;
};

/// Brings the cluster up and returns the content of DIR/cluster.json. Progress goes to `log`.
/// Throws pgha::Error; on failure everything started so far is stopped again.
nlohmann::json LocalUp(const LocalUpOptions& options, std::ostream& log);

/// Starts again the agent (by node name) or etcd member (etcd1, ...) of the cluster in `dir`
/// named `name`, with the command line `LocalUp` used, waits until it answers (an etcd member:
/// until it sees a leader, when a majority of the members runs) and records its pid in
/// DIR/cluster.json. Throws Error(kNotFound) for an unknown name, Error(kWrongState) when it
/// runs already, and as LocalUp does when it does not come up (it is then stopped again).
void LocalStart(const std::string& dir, const std::string& name, std::ostream& log);

/// Stops every agent and PostgreSQL server of the cluster in `dir` (stopping PostgreSQL in
/// order through the agents first when they answer), then its etcd members. Idempotent.
void LocalDown(const std::string& dir, std::ostream& log);

/// The cluster.json of `dir`.
nlohmann::json ReadClusterFile(const std::string& dir);

}  // namespace pgha::cli

#endif  // PGHA_CLI_LOCAL_CLUSTER_HPP
