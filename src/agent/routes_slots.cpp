// Logical slots: GET slots (per slot and per standby: installed, safe, why not), and the
// agent-to-agent routes slot sync and the operations use (docs/slots.md).
#include <set>

#include "agent_impl.hpp"
#include "json_fields.hpp"
#include "node_json.hpp"
#include "slot_json.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr RouteOptions kBlocking{false, true, 0};

std::shared_ptr<RemoteNode> PeerNamed(Agent::Impl& a, const std::string& name) {
  for (const auto& p : a.peers())
    if (p->address().name == name) return std::make_shared<RemoteNode>(p->address(), a.client);
  return nullptr;
}

/// This node's copies as a standby of `master_name`: evaluated now when the master answers,
/// else the last slot sync round's, marked stale. Null when this node is no standby.
json LocalStatus(Agent::Impl& a, const std::string& master_name) {
  NodeState state = a.local->State();
  if (state != NodeState::kSlave && state != NodeState::kRecovery) return nullptr;
  std::string error;
  if (auto master = PeerNamed(a, master_name)) {
    try {
      const std::string& self = a.local->address().name;
      MasterSlotsSource source = [&](const HoldChanges& c) {
        return master->MasterSlotsFor(self, c, false);
      };
      if (auto r = a.local->SyncSlotsFrom(master->address(), source, /*apply=*/false, false)) {
        json j = ToJson(*r);
        j["stale"] = false;
        return j;
      }
      error = "not streaming from " + master_name;
    } catch (const Error& e) {
      error = e.what();
    }
  } else {
    error = master_name.empty() ? "no master is running" : "no peer named " + master_name;
  }
  json j;
  if (auto last = a.local->LastSlotReport()) {
    j = ToJson(last->first);
    j["age_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last->second).count();
  } else {
    j = ToJson(SlotSyncReport{a.local->address().name, {}, {}, false, false});
  }
  j["stale"] = true;
  j["error"] = error;
  return j;
}

/// GET slots: the master's logical slots, each with its copy on every standby.
json SlotsView(Agent::Impl& a) {
  std::string master_name;
  std::vector<LogicalSlot> master_slots;
  json errors = json::object();
  if (IsPrimary(a.local->State())) {
    master_name = a.local->address().name;
    master_slots = a.local->LogicalSlots();
  } else {
    for (const auto& p : a.peers()) {
      RemoteNode peer(p->address(), a.client);
      try {
        if (!IsPrimary(peer.State())) continue;
        master_name = peer.address().name;
        master_slots = peer.LogicalSlots();
        break;
      } catch (const Error& e) {
        errors[peer.address().name] = e.what();
      }
    }
  }
  std::vector<json> reports;
  if (!master_name.empty() && master_slots.empty()) {
    // Nothing to copy: no standby needs asking (pghactl list calls this every time).
    return {{"master", master_name}, {"slots", json::array()}};
  }
  if (json r = LocalStatus(a, master_name); !r.is_null()) reports.push_back(r);
  for (const auto& p : a.peers()) {
    if (p->address().name == master_name) continue;
    RemoteNode peer(p->address(), a.client);
    try {
      if (auto r = peer.SlotStatus(master_name)) {
        json j = ToJson(*r);
        reports.push_back(j);
      }
    } catch (const Error& e) {
      errors[peer.address().name] = e.what();
    }
  }
  json slots = json::array();
  auto copies_of = [&](const std::string& slot) {
    json copies = json::array();
    for (const json& r : reports)
      for (const json& st : r.at("slots"))
        if (st.at("slot") == slot) {
          json c = st;
          if (r.value("stale", false)) c["stale"] = true;
          copies.push_back(c);
        }
    return copies;
  };
  for (const LogicalSlot& s : master_slots) {
    json j = ToJson(s, /*with_state=*/false);
    j["copies"] = copies_of(s.name);
    slots.push_back(j);
  }
  if (master_name.empty()) {
    // No master: what each standby's last round knew, so an operator can judge a failover.
    std::set<std::string> names;
    for (const json& r : reports)
      for (const json& st : r.at("slots")) names.insert(st.at("slot").get<std::string>());
    for (const std::string& n : names) slots.push_back({{"slot", n}, {"copies", copies_of(n)}});
  }
  json out = {{"master", master_name.empty() ? json(nullptr) : json(master_name)},
              {"slots", slots}};
  if (!errors.empty()) out["unreachable"] = errors;
  return out;
}

}  // namespace

void AddSlotRoutes(Agent::Impl& a, Router& r) {
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/slots", [&a](const HttpRequest&) { return Json(SlotsView(a)); },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/internal/slots",
      [&a](const HttpRequest&) {
        return Json({{"slots", ToJson(a.local->LogicalSlots())}});
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/slots/take",
      [&a](const HttpRequest& req) {
        a.RequireLease(req);
        CallerDeadline bounded(req);
        json body = ParseBody(req.body, "slots/take");
        std::vector<LogicalSlot> slots =
            LogicalSlotsFromJson(Field<json>(body, "slots", json::array()));
        return Json(ToJson(a.local->TakeLogicalSlots(slots)));
      },
      kBlocking);
  r.Add(
      HttpMethod::kPost, "/api/pg/v1/internal/slots/master",
      [&a](const HttpRequest& req) {
        CallerDeadline bounded(req);
        json body = ParseBody(req.body, "slots/master");
        std::string standby = Field<std::string>(body, "standby", std::string());
        bool known = false;
        for (const auto& p : a.peers()) known = known || p->address().name == standby;
        if (!known)
          throw Error(ErrorCode::kBadInput,
                      "slots/master: \"" + standby + "\" is not a peer of this node");
        return Json(ToJson(a.local->MasterSlotsFor(
            standby, HoldChangesFromJson(body), Field<bool>(body, "ensure_physical_slot", false))));
      },
      kBlocking);
  r.Add(
      HttpMethod::kGet, "/api/pg/v1/internal/slots/status",
      [&a](const HttpRequest& req) {
        return Json(LocalStatus(a, req.Query("master").value_or("")));
      },
      kBlocking);
}

}  // namespace pgha::agent
