// pgha-agent as a library: the /api/pg/v1 REST service of one node.
#ifndef PGHA_AGENT_HPP
#define PGHA_AGENT_HPP

#include <cstdint>
#include <memory>

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

}  // namespace pgha

#endif  // PGHA_AGENT_HPP
