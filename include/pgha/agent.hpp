// pgha-agent as a library: the /api/pg/v1 REST service of one node.
#ifndef PGHA_AGENT_HPP
#define PGHA_AGENT_HPP

#include <cstdint>
#include <memory>
#include <string>

#include "pgha/agent_config.hpp"
#include "pgha/export.hpp"

namespace pgha {

/// One node's agent: its PostgreSQL (through Instance), its peers (through their agents) and
/// the HTTP server with the seed's routes. Thread-safe.
class PGHA_API Agent {
 public:
  /// Throws Error(kBadInput) for an invalid configuration.
  explicit Agent(AgentConfig config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  /// Starts serving (returns once the listening socket is open).
  void Start();
  /// Stops serving; waits for running requests.
  void Stop() noexcept;
  /// The port the server listens on (useful with listen_port 0).
  std::uint16_t port() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// The main of the fence guard, the process automatic failover starts beside the agent
/// (`pgha-agent --fence-guard DATA_DIR`): it kills the server of DATA_DIR at the moment the
/// agent last gave it unless told otherwise in time, also once the agent is gone
/// (docs/ha.md, "Fencing"). Reads its orders from stdin; returns the exit status.
PGHA_API int RunFenceGuard(const std::string& data_dir);

}  // namespace pgha

#endif  // PGHA_AGENT_HPP
