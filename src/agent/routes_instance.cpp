// The seed's instance, node and lsn routes.
#include "agent_impl.hpp"
#include "node_json.hpp"
#include "slot_json.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

constexpr RouteOptions kBlocking{false, true, 0};

Sequence ParseSequence(const std::string& text) {
  if (text == "masterSlave") return Sequence::kMasterSlave;
  if (text == "slaveMaster") return Sequence::kSlaveMaster;
  throw Error(ErrorCode::kBadInput,
              "unknown sequence \"" + text + "\": masterSlave or slaveMaster");
}

// The seed's state map; when the operation carried logical slots, their outcome as "slots";
// when a node could not be rewound (no pg_rewind of its major) and was copied afresh
// instead, which and why as "fresh_copies".
HttpResponse States(const OperationResult& r) {
  json j = StatesJson(r);
  if (!r.slots.empty()) {
    json slots = json::array();
    for (const SlotCopyStatus& s : r.slots) slots.push_back(ToJson(s));
    j["slots"] = slots;
  }
  json copies = FreshCopiesJson(r);
  if (!copies.empty()) j["fresh_copies"] = copies;
  return Json(j);
}

OperationResult Post(Agent::Impl& a, const HttpRequest& req, const std::string& scope) {
  a.RequireManualMode("POST instance/" + scope);
  auto cluster = a.cluster();
  OperationOptions o = a.Options(req);
  if (scope == "current") return cluster->StartCurrent(o);
  if (scope == "master") return cluster->StartMaster(o);
  if (scope == "slave") return cluster->StartSlave(o);
  if (scope == "all") return cluster->StartAll(Sequence::kMasterSlave, o);
  throw Error(ErrorCode::kNotFound,
              "POST instance/" + scope + ": scope must be current, master, slave or all");
}

OperationResult Delete(Agent::Impl& a, const HttpRequest& req, const std::string& scope) {
  a.RequireManualMode("DELETE instance/" + scope);
  auto cluster = a.cluster();
  OperationOptions o = a.Options(req);
  if (scope == "current") return cluster->StopLocal(StopMode::kFast);
  if (scope == "master") return cluster->StopRole(NodeState::kMaster, o);
  if (scope == "slave") return cluster->StopRole(NodeState::kSlave, o);
  if (scope == "all" || scope == "slaveMaster") return cluster->StopAll(Sequence::kSlaveMaster, o);
  if (scope == "masterSlave") return cluster->StopAll(Sequence::kMasterSlave, o);
  throw Error(ErrorCode::kNotFound, "DELETE instance/" + scope +
                                        ": scope must be current, master, slave, all, "
                                        "slaveMaster or masterSlave");
}

json LsnFactsJson(Instance& instance) {
  LsnFacts f = instance.ReadLsnFacts();
  return {{"chkPoint", f.checkpoint.ToString()},
          {"chkRedoPoint", f.redo.ToString()},
          {"walFile", f.wal_file},
          {"timeLineID", std::to_string(f.timeline)},
          {"lastLsn", f.last_lsn.ToString()}};
}

}  // namespace

void AddInstanceRoutes(Agent::Impl& a, Router& r) {
  // instance/current answers from the state the background observer keeps (docs/agent.md,
  // "How fresh is GET instance/current"): never a query, so it runs on an io thread.
  r.Add(HttpMethod::kGet, "/api/pg/v1/instance/current", [&a](const HttpRequest&) {
    return Json({{a.local->address().name, std::string(NodeStateName(a.local->CachedState()))}});
  });
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/instance/:scope",
      [&a](const HttpRequest& req) {
        const std::string& scope = req.Param("scope");
        if (scope == "all") return States(a.cluster()->AllStates());
        throw Error(ErrorCode::kNotFound,
                    "GET instance/" + scope + ": scope must be current or all");
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/instance/:scope",
      Tracked(a, [&a](const HttpRequest& req) { return States(Post(a, req, req.Param("scope"))); }),
      kBlocking);
  r.Add(HttpMethod::kPost, "/api/pg/v1/instance/all/:order",
        Tracked(a,
                [&a](const HttpRequest& req) {
                  a.RequireManualMode("POST instance/all");
                  return States(
                      a.cluster()->StartAll(ParseSequence(req.Param("order")), a.Options(req)));
                }),
        kBlocking);
  r.Add(HttpMethod::kPost, "/api/pg/v1/instance/failover/:how",
        Tracked(a,
                [&a](const HttpRequest& req) {
                  const std::string& how = req.Param("how");
                  if (how != "restart" && how != "promote") {
                    throw Error(ErrorCode::kNotFound, "failover/" + how + ": restart or promote");
                  }
                  const OperationOptions o = a.Options(req);
                  auto run = [&] {
                    return a.cluster()->Failover(
                        how == "restart" ? FailoverMethod::kRestart : FailoverMethod::kPromote, o);
                  };
                  if (a.ha && !a.ha->PausedNow())
                    return States(a.ha->RunOperation("failover " + how, o.force, run));
                  return States(run());
                }),
        kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/instance/switchover/:order",
      Tracked(a,
              [&a](const HttpRequest& req) {
                const Sequence order = ParseSequence(req.Param("order"));
                const OperationOptions o = a.Options(req);
                auto run = [&] { return a.cluster()->Switchover(order, o); };
                if (a.ha && !a.ha->PausedNow())
                  return States(a.ha->RunOperation("switchover " + req.Param("order"), false, run));
                return States(run());
              }),
      kBlocking);
  r.Add(HttpMethod::kDelete, "/api/pg/v1/instance/:scope",
        Tracked(
            a, [&a](const HttpRequest& req) { return States(Delete(a, req, req.Param("scope"))); }),
        kBlocking);
  r.Add(HttpMethod::kPost, "/api/pg/v1/node/:scope",
        Tracked(a,
                [&a](const HttpRequest& req) {
                  if (req.Param("scope") != "promote") {
                    throw Error(ErrorCode::kNotFound,
                                "node/" + req.Param("scope") + ": only node/promote exists");
                  }
                  a.RequireManualMode("node/promote");
                  return States(a.cluster()->PromoteLocal(a.Options(req)));
                }),
        kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/lsn/:scope",
      [&a](const HttpRequest& req) {
        const std::string& scope = req.Param("scope");
        if (scope != "current" && scope != "all") {
          throw Error(ErrorCode::kNotFound, "lsn/" + scope + ": scope must be current or all");
        }
        json out = {{a.local->address().name, LsnFactsJson(a.local->instance())}};
        if (scope == "all") {
          for (const auto& peer : a.peers()) {
            try {
              HttpResponse resp =
                  a.client->Get(peer->address().agent_url + "/api/pg/v1/lsn/current");
              ThrowIfHttpError(resp, "lsn/current of " + peer->address().name);
              out.update(ParseBody(resp.body, "lsn/current"));
            } catch (const Error& e) {
              out[peer->address().name] = {{"error", e.what()}};
            }
          }
        }
        return Json(out);
      },
      kBlocking);
}

}  // namespace pgha::agent
