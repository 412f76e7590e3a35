// The load balancers' routes, as Patroni's REST API has them (/primary, /replica, ...): no
// token, 200 or 503 with the node's JSON; HEAD and OPTIONS answer the status only.
#include <algorithm>
#include <cctype>
#include <optional>

#include "agent_impl.hpp"
#include "op_deadline.hpp"
#include "pgha/node_state.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr RouteOptions kPublicBlocking{true, true, 0};
// A health check must answer within the load balancer's own timeout (HAProxy's default
// check timeout is the connect timeout): a master's position is asked for this long at most.
constexpr auto kPeerBound = std::chrono::milliseconds(1000);

// `?lag=` as Patroni takes it: bytes, or a number with a PostgreSQL memory unit (kB, MB, GB,
// TB; 1024-based). Error(kBadInput) for anything else.
std::uint64_t ParseLag(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 15) throw Error(ErrorCode::kBadInput, "lag \"" + text + "\" is not a size");
  std::uint64_t n = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.empty() || unit == "b") return n;
  if (unit == "kb") return n << 10;
  if (unit == "mb") return n << 20;
  if (unit == "gb") return n << 30;
  if (unit == "tb") return n << 40;
  throw Error(ErrorCode::kBadInput, "lag \"" + text + "\": the unit must be B, kB, MB, GB or TB");
}

// What the routes decide on: this node's state (as the observer last saw it), its timeline
// and position, and the master's position when a route needs the lag.
struct View {
  NodeState state = NodeState::kInactive;
  TimelineId timeline = 0;
  Lsn position;
  bool ha = false;
  std::optional<std::string> leader;
  bool leads = false;  ///< holds the leader key (HA), or is a primary (manual mode)
  std::optional<std::uint64_t> lag;
};

View Look(Agent::Impl& a, bool want_lag) {
  View v;
  v.state = a.local->CachedState();
  if (IsPrimary(v.state) || IsStandby(v.state)) {
    try {
      LsnFacts f = a.local->instance().ReadLsnFacts();
      v.timeline = f.timeline;
      v.position = f.last_lsn;
    } catch (const Error&) {
      // Between states: no position, so no lag either.
    }
  }
  const std::string& me = a.local->address().name;
  if (a.ha) {
    v.ha = true;
    HaLoop::View hv = a.ha->LastView();
    v.leader = hv.leader;
    v.leads = a.ha->Leads() && hv.leader == me;
    if (want_lag && v.position.IsValid()) {
      for (const MemberStatus& m : hv.members) {
        if (hv.leader && m.name == *hv.leader && m.received.IsValid())
          v.lag = m.received > v.position ? m.received.value() - v.position.value() : 0;
      }
    }
    return v;
  }
  v.leads = IsPrimary(v.state);
  if (want_lag && IsStandby(v.state) && v.position.IsValid()) {
    deadline::Scope bound(Clock::now() + kPeerBound);
    for (const auto& peer : a.peers()) {
      try {
        NodeFacts f = peer->Facts();
        if (!IsPrimary(f.state) || !f.end_of_wal.IsValid()) continue;
        v.lag = f.end_of_wal > v.position ? f.end_of_wal.value() - v.position.value() : 0;
        v.leader = peer->address().name;
      } catch (const Error&) {
        // A peer that does not answer in time is not the master this check can measure.
      }
    }
  }
  return v;
}

json Body(Agent::Impl& a, const View& v) {
  json j = {{"name", a.local->address().name},
            {"state", std::string(NodeStateName(v.state))},
            {"role", IsPrimary(v.state)   ? "master"
                     : IsStandby(v.state) ? "replica"
                                          : ""},
            {"timeline", v.timeline},
            {"position", v.position.IsValid() ? v.position.ToString() : ""}};
  if (v.ha) j["leader"] = v.leader ? json(*v.leader) : json(nullptr);
  if (v.lag) j["lag_bytes"] = *v.lag;
  return j;
}

bool Synchronous(Agent::Impl& a, const View& v) {
  if (v.state != NodeState::kSlave) return false;
  if (a.ha) {
    // Automatic failover: the standbys on the leader's record (the only ones that may take
    // over in synchronous mode).
    HaLoop::View seen = a.ha->LastView();
    const auto& on = seen.synchronous_standbys;
    return seen.synchronous_mode &&
           std::find(on.begin(), on.end(), a.config()->local_node) != on.end();
  }
  // Manual mode: every standby is named in synchronous_standby_names (ANY 1 of them); one
  // that streams can confirm commits.
  return a.config()->synchronous_mode;
}

// Whether this node passes `check` for `req`'s parameters.
bool Passes(Agent::Impl& a, const std::string& check, const HttpRequest& req, View* out) {
  auto lag_param = req.Query("lag");
  auto state_param = req.Query("replication_state");
  std::optional<std::uint64_t> max_lag;
  if (lag_param) max_lag = ParseLag(*lag_param);
  View v = Look(a, max_lag.has_value() || check == "readiness");
  *out = v;
  const bool primary = IsPrimary(v.state) && v.leads;
  auto replica_ok = [&] {
    if (!IsStandby(v.state) || (v.ha && v.leader == a.local->address().name)) return false;
    if (max_lag && (!v.lag || *v.lag > *max_lag)) return false;
    if (state_param) {
      if (*state_param != "streaming")
        throw Error(ErrorCode::kBadInput, "replication_state: only streaming is known");
      if (v.state != NodeState::kSlave) return false;
    }
    return true;
  };
  if (check == "primary" || check == "read-write" || check == "master" || check == "leader")
    return primary;
  if (check == "replica") return replica_ok();
  if (check == "read-only") return primary || replica_ok();
  if (check == "synchronous" || check == "sync") return replica_ok() && Synchronous(a, v);
  if (check == "asynchronous" || check == "async") return replica_ok() && !Synchronous(a, v);
  if (check == "health") return IsPrimary(v.state) || IsStandby(v.state);
  if (check == "readiness") return primary || (v.state == NodeState::kSlave && replica_ok());
  throw Error(ErrorCode::kInternal, "unknown check " + check);
}

// OPTIONS, as Patroni answers it: the status of the check, no body.
HttpResponse StatusOnly(HttpResponse r) {
  return HttpResponse::Text(r.status, "");
}

}  // namespace

void AddHealthRoutes(Agent::Impl& a, Router& r) {
  for (const char* name : {"primary", "read-write", "master", "leader", "replica", "read-only",
                           "synchronous", "sync", "asynchronous", "async", "health", "readiness"}) {
    const std::string check = name;
    auto handler = [&a, check](const HttpRequest& req) {
      View v;
      bool ok = Passes(a, check, req, &v);
      return Json(Body(a, v), ok ? 200 : 503);
    };
    r.Add(HttpMethod::kGet, "/" + check, handler, kPublicBlocking);  // HEAD too (router)
    r.Add(
        HttpMethod::kOptions, "/" + check,
        [handler](const HttpRequest& req) { return StatusOnly(handler(req)); }, kPublicBlocking);
  }
  // The agent's loop ran lately: no SQL, and no peer asked.
  auto liveness = [&a](const HttpRequest&) {
    if (!a.ha) return Json({{"name", a.local->address().name}, {"ha", false}});
    HaLoop::View hv = a.ha->LastView();
    const auto bound = a.ha->interval() * 3 + std::chrono::seconds(2);
    bool live = hv.at && Clock::now() - *hv.at <= bound;
    json j = {{"name", a.local->address().name}, {"ha", true}};
    if (hv.at)
      j["last_round_ms_ago"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *hv.at).count();
    return Json(j, live ? 200 : 503);
  };
  r.Add(HttpMethod::kGet, "/liveness", liveness, RouteOptions{true, false, 0});
  r.Add(
      HttpMethod::kOptions, "/liveness",
      [liveness](const HttpRequest& req) { return StatusOnly(liveness(req)); },
      RouteOptions{true, false, 0});
}

}  // namespace pgha::agent
