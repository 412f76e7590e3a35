// Health, configuration (nodes/env), pg/init, pg/sync and the seed's test cases.
#include "agent_impl.hpp"
#include "node_json.hpp"
#include "pgha/version.hpp"
#include "scenarios.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

constexpr RouteOptions kBlocking{false, true, 0};

json EnvJson(const AgentConfig& c) {
  json remotes = json::array();
  for (const auto& p : c.Peers()) remotes.push_back(p.name);
  return {{"local_node", c.local_node},
          {"remote_node", remotes.empty() ? json(nullptr) : remotes[0]},
          {"remote_nodes", remotes}};
}

// The running master among the peers, to copy from.
NodeAddress SyncSource(Agent::Impl& a) {
  for (const auto& peer : a.peers()) {
    try {
      NodeState s = peer->State();
      if (s == NodeState::kMaster || s == NodeState::kSingle) return peer->address();
    } catch (const Error&) {
    }
  }
  throw Error(ErrorCode::kWrongState, "pg/sync needs a running master among the peers");
}

}  // namespace

void AddAdminRoutes(Agent::Impl& a, Router& r) {
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/health",
      [&a](const HttpRequest&) {
        return Json({{"status", "ok"}, {"node", a.local->address().name}, {"version", kVersion}});
      },
      RouteOptions{true, false, 0});
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/nodes/env",
      [&a](const HttpRequest& req) {
        // One update at a time, from reading the configuration to applying it; readers keep
        // the snapshot they took (ConfigStore).
        std::lock_guard<std::mutex> update(a.configs->update_mutex());
        const AgentConfig before = *a.config();
        AgentConfig next = before;
        next.Update(req.body);  // refuses the start-only fields (auth, token, TLS, bindir...)
        next.Save();
        a.configs->Publish(next);
        a.Rebuild();
        // synchronous_mode and the node list decide synchronous_standby_names.
        a.local->ApplySynchronousMode();
        a.local->WritePassfile();
        json answer = EnvJson(next);
        if (next.parameters != before.parameters) {
          try {
            answer["pending_restart"] = a.local->ApplyParameters();
          } catch (const Error& e) {
            // PostgreSQL refused a value: the previous configuration comes back whole.
            if (e.code() != ErrorCode::kBadInput) throw;
            before.Save();
            a.configs->Publish(before);
            a.Rebuild();
            a.local->ApplySynchronousMode();
            a.local->WritePassfile();
            throw;
          }
        }
        return Json(answer);
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/cluster",
      [&a](const HttpRequest&) {
        if (!a.ha) {
          throw Error(ErrorCode::kNotFound,
                      "GET cluster: no store is configured (etcd_endpoints): the seed's manual "
                      "mode. HINT: GET instance/all");
        }
        return Json(a.ha->ClusterJson());
      },
      kBlocking);
  r.Add(HttpMethod::kPost, "/api/pg/v1/cluster/:action",
        Tracked(a,
                [&a](const HttpRequest& req) {
                  const std::string& action = req.Param("action");
                  if (action != "pause" && action != "resume" && action != "config") {
                    throw Error(ErrorCode::kNotFound,
                                "cluster/" + action + ": pause, resume or config");
                  }
                  if (!a.ha) {
                    throw Error(ErrorCode::kNotFound,
                                "cluster/" + action + ": no store is configured (etcd_endpoints)");
                  }
                  if (action == "config") {
                    a.ha->ChangeSettings(req.body);
                  } else {
                    a.ha->SetPaused(action == "pause");
                  }
                  return Json(a.ha->ClusterJson());
                }),
        kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/parameters",
      [&a](const HttpRequest&) {
        auto c = a.config();
        json params = json::object();
        for (const auto& [name, value] : c->ServerParameters(a.local->instance().binaries().major))
          params[name] = value;
        return Json({{"parameters", params}, {"pending_restart", a.local->PendingRestart()}});
      },
      kBlocking);
  r.Add(HttpMethod::kPost, "/api/pg/v1/pg/:scope/:db",
        Tracked(a,
                [&a](const HttpRequest& req) {
                  const std::string& scope = req.Param("scope");
                  const std::string& db = req.Param("db");
                  a.RequireManualMode("pg/" + scope);
                  if (scope == "init") {
                    WithLocalLease(a, "pg/init", [&] { a.local->Init(db); });
                  } else if (scope == "sync") {
                    NodeAddress source = SyncSource(a);
                    WithLocalLease(a, "pg/sync", [&] { a.local->Sync(source, db); });
                  } else {
                    throw Error(ErrorCode::kNotFound, "pg/" + scope + ": init or sync");
                  }
                  return Json(StatesJson(a.cluster()->LocalState()));
                }),
        kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/test/:case",
      [&a](const HttpRequest& req) {
        a.RequireManualMode("test/" + req.Param("case"));
        return Json(RunScenario(a, req.Param("case")));
      },
      kBlocking);
}

}  // namespace pgha::agent
