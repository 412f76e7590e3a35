// The agent's state shared by its route handlers (private).
#ifndef PGHA_AGENT_AGENT_IMPL_HPP
#define PGHA_AGENT_AGENT_IMPL_HPP

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config_store.hpp"
#include "ha_loop.hpp"
#include "local_node.hpp"
#include "op_deadline.hpp"
#include "pgha/agent.hpp"
#include "pgha/cluster.hpp"
#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"
#include "remote_node.hpp"
#include "slot_keeper.hpp"

namespace pgha {

/// Shared by the HTTP workers, the state observer and the slot keeper: every member is either
/// set before Agent::Start and never changed, or thread-safe itself, or guarded by
/// config_mutex (peers_, cluster_).
struct Agent::Impl {
  explicit Impl(AgentConfig c);

  /// The configuration in effect now: an immutable snapshot (POST nodes/env publishes a new
  /// one). Read all of a decision's settings from one snapshot.
  std::shared_ptr<const AgentConfig> config() const { return configs->Get(); }
  /// The cluster as configured now (rebuilt by POST nodes/env).
  std::shared_ptr<Cluster> cluster();
  /// The peers as configured now.
  std::vector<std::shared_ptr<agent::RemoteNode>> peers();
  /// Rebuilds peers and cluster after a configuration change.
  void Rebuild();
  /// Options for an operation from the request (?force=true).
  OperationOptions Options(const HttpRequest& req) const;
  /// Refuses an internal call that does not carry the lease holder of the running operation.
  void RequireLease(const HttpRequest& req);
  /// The lease table's holder check: true when `holder` ("<node>/...") belongs to a peer
  /// whose own agent answers, naming itself, that the operation no longer runs there (it
  /// restarted, or the operation ended: LocalNode::HolderRuns, which no clock decides). An
  /// agent that does not answer, or answers otherwise, leaves the lease to expire.
  bool HolderGone(const std::string& holder);

  std::shared_ptr<agent::ConfigStore> configs;
  std::mutex config_mutex;  ///< guards peers_ and cluster_
  std::shared_ptr<HttpClient> client;
  std::shared_ptr<HttpClient> probe_client;  ///< short deadline, for lease holder checks
  std::shared_ptr<agent::LocalNode> local;
  std::vector<std::shared_ptr<agent::RemoteNode>> peers_;
  std::shared_ptr<Cluster> cluster_;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<agent::SlotKeeper> slot_keeper;
  /// Automatic failover (AgentConfig::AutomaticFailover); null in the seed's manual mode.
  std::unique_ptr<agent::HaLoop> ha;
  /// Refuses (409) an operation that starts, stops or promotes servers while automatic
  /// failover is on and not paused: the HA loop and a person would fight over the roles.
  void RequireManualMode(const std::string& operation) const;

  /// The last operation a route ran (GET /metrics): its name, whether it succeeded, when.
  struct LastOperation {
    std::string name;
    bool ok = false;
    std::chrono::system_clock::time_point at;
  };
  std::optional<LastOperation> last_operation() const;
  void RecordOperation(const std::string& name, bool ok);
  mutable std::mutex last_operation_mutex;
  std::optional<LastOperation> last_operation_;
};

namespace agent {

/// Runs `fn` holding this node's lease for `operation`, as a cluster operation would (a local
/// holder "<node>/local/<n>"); Error(kConflict) naming the running operation when another
/// holds it.
void WithLocalLease(Agent::Impl& a, const std::string& operation, const std::function<void()>& fn);

/// While it lives, the time an internal call says its operation has left (kDeadlineHeader)
/// bounds what this thread waits for: the peer's part of an operation ends with it. Throws
/// Error(kBadInput) for a header that is not a number of milliseconds (at most a day).
class CallerDeadline {
 public:
  explicit CallerDeadline(const HttpRequest& req);

 private:
  std::optional<deadline::Scope> scope_;
};

/// `handler`, with its outcome recorded as the agent's last operation, named by the method and
/// the request's path below /api/pg/v1/ ("POST instance/switchover/masterSlave").
HttpHandler Tracked(Agent::Impl& a, HttpHandler handler);

/// JSON response with the seed's shapes.
HttpResponse Json(const nlohmann::json& j, int status = 200);

void AddInstanceRoutes(Agent::Impl& a, Router& r);
void AddWalRoutes(Agent::Impl& a, Router& r);
void AddInternalRoutes(Agent::Impl& a, Router& r);
void AddAdminRoutes(Agent::Impl& a, Router& r);
void AddSlotRoutes(Agent::Impl& a, Router& r);
/// The load balancers' routes: /primary, /replica, /read-only, /health, ... (docs/agent.md).
void AddHealthRoutes(Agent::Impl& a, Router& r);
/// GET /metrics (docs/agent.md, "Metrics").
void AddMetricsRoute(Agent::Impl& a, Router& r);

}  // namespace agent
}  // namespace pgha

#endif  // PGHA_AGENT_AGENT_IMPL_HPP
