// Agent-to-agent routes (not in the seed): the primitives a coordinating agent runs on its
// peers during an operation. Each mutating one needs the operation's lease.
#include "agent_impl.hpp"
#include "node_json.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

constexpr RouteOptions kBlocking{false, true, 0};

StopMode ParseMode(const std::optional<std::string>& m) {
  if (!m || *m == "fast") return StopMode::kFast;
  if (*m == "smart") return StopMode::kSmart;
  if (*m == "immediate") return StopMode::kImmediate;
  throw Error(ErrorCode::kBadInput, "stop mode \"" + *m + "\": smart, fast or immediate");
}

HttpResponse Done() {
  return Json({{"code", 0}, {"msg", "done"}});
}

}  // namespace

void AddInternalRoutes(Agent::Impl& a, Router& r) {
  // A fresh observation, for the operations of a coordinating agent (never the cache).
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/internal/state",
      [&a](const HttpRequest&) {
        return Json({{a.local->address().name, std::string(NodeStateName(a.local->State()))}});
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/internal/facts",
      [&a](const HttpRequest&) { return Json(ToJson(a.local->Facts())); }, kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/stop",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        a.local->Stop(ParseMode(req.Query("mode")));
        return Done();
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/start",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        std::string as = req.Query("as").value_or("current");
        if (as == "master") {
          a.local->StartMaster();
        } else if (as == "slave") {
          a.local->StartSlave(NodeAddressFromJson(ParseBody(req.body, "start").at("upstream")));
        } else if (as == "current") {
          a.local->StartCurrent();
        } else {
          throw Error(ErrorCode::kBadInput, "start as \"" + as + "\": master, slave or current");
        }
        return Done();
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/promote",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        a.local->Promote();
        return Done();
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/pull-wal",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        json j = ParseBody(req.body, "pull-wal");
        a.local->PullWalFile(NodeAddressFromJson(j.at("from")),
                             {j.at("file").get<std::string>(), j.at("md5").get<std::string>()});
        return Done();
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/rewind",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        a.local->Rewind(NodeAddressFromJson(ParseBody(req.body, "rewind").at("source")));
        return Done();
      },
      kBlocking);
  // Blocking: a conflict with a peer's holder asks that peer whether it still runs.
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/lease",
      [&a](const HttpRequest& req) {
        json j = ParseBody(req.body, "lease");
        auto running = a.local->TryLock(
            j.at("operation").get<std::string>(), j.at("holder").get<std::string>(),
            std::chrono::milliseconds(j.at("ttl_ms").get<std::int64_t>()));
        if (running) return Json({{"granted", false}, {"operation", *running}});
        return Json({{"granted", true}});
      },
      kBlocking);
  // Whether this node's lease is held by `holder`: how a peer learns that an operation this
  // agent coordinated died with it. Served on an io thread, so it answers while workers wait.
  r.Add(HttpMethod::kGet, "/api/pg/v1/internal/lease", [&a](const HttpRequest& req) {
    return Json({{"held", a.local->leases().HeldBy(req.Query("holder").value_or(""))}});
  });
  r.Add(HttpMethod::kDelete, "/api/pg/v1/internal/lease", [&a](const HttpRequest& req) {
    a.local->Unlock(req.Query("holder").value_or(""));
    return Done();
  });
}

}  // namespace pgha::agent
