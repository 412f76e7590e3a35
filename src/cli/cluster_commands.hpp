// `pghactl list|switchover|failover`: drive a running cluster through its agents.
#ifndef PGHA_CLI_CLUSTER_COMMANDS_HPP
#define PGHA_CLI_CLUSTER_COMMANDS_HPP

#include <iosfwd>
#include <string>
#include <vector>

namespace pgha::cli {

/// Where the cluster is: a `pghactl local` directory, or an agent URL and a token; for
/// https, the CA to trust (and a client certificate when the agents ask for one).
struct ClusterTarget {
  std::string dir;
  std::string url;
  std::string token;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

/// Runs `pghactl list|switchover|failover ARGS...`; returns the exit code.
int RunClusterCommand(const std::string& command, const std::vector<std::string>& args,
                      std::ostream& out, std::ostream& err);

}  // namespace pgha::cli

#endif  // PGHA_CLI_CLUSTER_COMMANDS_HPP
