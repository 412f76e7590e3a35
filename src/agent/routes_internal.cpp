// Agent-to-agent routes (not in the seed): the primitives a coordinating agent runs on its
// peers during an operation. Each mutating one needs the operation's lease.
#include "agent_impl.hpp"
#include "json_fields.hpp"
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
          a.local->StartSlave(NodeAddressField(ParseBody(req.body, "start"), "upstream"));
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
        a.local->PullWalFile(NodeAddressField(j, "from"), WalFileRefFromJson(j));
        return Done();
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/rewind",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        std::string how =
            a.local->Rewind(NodeAddressField(ParseBody(req.body, "rewind"), "source"));
        return Json({{"code", 0}, {"msg", "done"}, {"rewind", how}});
      },
      kBlocking);
  // Blocking: a conflict with a peer's holder asks that peer whether it still runs.
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/lease",
      [&a](const HttpRequest& req) {
        json j = ParseBody(req.body, "lease");
        auto operation = Field<std::string>(j, "operation");
        auto holder = Field<std::string>(j, "holder");
        auto ttl_ms = Field<std::int64_t>(j, "ttl_ms");
        if (holder.empty()) throw Error(ErrorCode::kBadInput, "lease: the holder is empty");
        // Coordinators renew every third of a short TTL: a long one would only keep a dead
        // coordinator's lease.
        if (ttl_ms <= 0 || ttl_ms > kMaxLeaseTtl.count()) {
          throw Error(ErrorCode::kBadInput, "lease: ttl_ms " + std::to_string(ttl_ms) +
                                                " is not from 1 to " +
                                                std::to_string(kMaxLeaseTtl.count()));
        }
        auto running = a.local->TryLock(operation, holder, std::chrono::milliseconds(ttl_ms));
        if (running) return Json({{"granted", false}, {"operation", *running}});
        return Json({{"granted", true}});
      },
      kBlocking);
  // Whether the operation `holder` of this agent still runs (LocalNode::HolderRuns), with
  // this node's name: how a peer learns that an operation this agent coordinated died with
  // it. Served on an io thread, so it answers while workers wait.
  r.Add(HttpMethod::kGet, "/api/pg/v1/internal/lease", [&a](const HttpRequest& req) {
    return Json({{"node", a.local->address().name},
                 {"held", a.local->HolderRuns(req.Query("holder").value_or(""))}});
  });
  r.Add(HttpMethod::kDelete, "/api/pg/v1/internal/lease", [&a](const HttpRequest& req) {
    a.local->Unlock(req.Query("holder").value_or(""));
    return Done();
  });
  // A manual operation under the store's operation lock holds every agent's HA loop
  // (HaLoop::RunOperation): answered once this loop is between rounds and paused.
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/ha/hold",
      [&a](const HttpRequest& req) {
        if (!a.ha) throw Error(ErrorCode::kNotFound, "internal/ha/hold: no store is configured");
        const std::string ms = req.Query("ms").value_or("");
        long long n = 0;
        try {
          n = std::stoll(ms);
        } catch (const std::exception&) {
          n = 0;
        }
        if (n < 1 || n > 600000)
          throw Error(ErrorCode::kBadInput, "internal/ha/hold: ms=1..600000, not '" + ms + "'");
        a.ha->Hold(std::chrono::milliseconds(n));
        return Done();
      },
      kBlocking);
  r.Add(
      HttpMethod::kDelete, "/api/pg/v1/internal/ha/hold",
      [&a](const HttpRequest&) {
        if (a.ha) a.ha->Release();
        return Done();
      },
      kBlocking);
}

}  // namespace pgha::agent
