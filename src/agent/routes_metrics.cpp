// GET /metrics: the node in Prometheus' text exposition format (version 0.0.4), names under
// pgha_. No token, as the load balancers' routes: nothing in it is a secret.
#include <sstream>

#include "agent_impl.hpp"
#include "pgha/node_state.hpp"

namespace pgha::agent {

namespace {

using Clock = std::chrono::steady_clock;

// A label value with Prometheus' escapes (backslash, double quote, line feed).
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Exposition {
 public:
  explicit Exposition(std::string node) : node_(std::move(node)) {}
  // Declares a metric family (once, before its samples).
  void Family(const std::string& name, const std::string& type, const std::string& help) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void Sample(const std::string& name, double value,
              const std::vector<std::pair<std::string, std::string>>& labels = {}) {
    out_ << name << "{node=\"" << Escape(node_) << "\"";
    for (const auto& [k, v] : labels) out_ << "," << k << "=\"" << Escape(v) << "\"";
    out_ << "} " << Number(value) << "\n";
  }
  std::string Text() const { return out_.str(); }

 private:
  static std::string Number(double v) {
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
  }
  std::string node_;
  std::ostringstream out_;
};

double Num(const std::optional<std::string>& text) {
  if (!text || text->empty()) return 0;
  try {
    return std::stod(*text);
  } catch (const std::exception&) {
    return 0;
  }
}

void ServerMetrics(Agent::Impl& a, Exposition& e, NodeState state) {
  Instance& in = a.local->instance();
  e.Family("pgha_timeline", "gauge", "The timeline this node is on (0 when stopped).");
  e.Family("pgha_wal_position_bytes", "gauge",
           "WAL positions as byte offsets: a primary's insert, write and flush; a standby's "
           "receive and replay.");
  if (!IsPrimary(state) && !IsStandby(state)) {
    e.Sample("pgha_timeline", 0);
    return;
  }
  try {
    LsnFacts f = in.ReadLsnFacts();
    e.Sample("pgha_timeline", f.timeline);
    if (IsPrimary(state)) {
      auto rows = in.Query(
          "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0'), "
          "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'), "
          "pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')");
      e.Sample("pgha_wal_position_bytes", Num(rows[0][0]), {{"kind", "insert"}});
      e.Sample("pgha_wal_position_bytes", Num(rows[0][1]), {{"kind", "write"}});
      e.Sample("pgha_wal_position_bytes", Num(rows[0][2]), {{"kind", "flush"}});
      auto standbys = in.Query(
          "SELECT application_name, "
          "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn), 0), "
          "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn), 0), "
          "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0), "
          "coalesce(extract(epoch FROM write_lag), 0), coalesce(extract(epoch FROM flush_lag), 0), "
          "coalesce(extract(epoch FROM replay_lag), 0), sync_state, state "
          "FROM pg_stat_replication WHERE application_name <> '' ORDER BY 1");
      e.Family("pgha_standby_lag_bytes", "gauge",
               "How far each standby streaming from this primary is behind its write position.");
      for (const auto& r : standbys) {
        const std::string name = r[0].value_or("");
        e.Sample("pgha_standby_lag_bytes", Num(r[1]), {{"standby", name}, {"kind", "write"}});
        e.Sample("pgha_standby_lag_bytes", Num(r[2]), {{"standby", name}, {"kind", "flush"}});
        e.Sample("pgha_standby_lag_bytes", Num(r[3]), {{"standby", name}, {"kind", "replay"}});
      }
      e.Family("pgha_standby_lag_seconds", "gauge",
               "pg_stat_replication's write, flush and replay lag of each standby.");
      for (const auto& r : standbys) {
        const std::string name = r[0].value_or("");
        e.Sample("pgha_standby_lag_seconds", Num(r[4]), {{"standby", name}, {"kind", "write"}});
        e.Sample("pgha_standby_lag_seconds", Num(r[5]), {{"standby", name}, {"kind", "flush"}});
        e.Sample("pgha_standby_lag_seconds", Num(r[6]), {{"standby", name}, {"kind", "replay"}});
      }
      e.Family("pgha_standby_synchronous", "gauge",
               "1 for a standby that can confirm synchronous commits (sync_state sync or "
               "quorum), 0 for an asynchronous one.");
      for (const auto& r : standbys) {
        const std::string sync = r[7].value_or("");
        e.Sample("pgha_standby_synchronous", sync == "sync" || sync == "quorum" ? 1 : 0,
                 {{"standby", r[0].value_or("")}});
      }
    } else {
      auto rows = in.Query(
          "SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0'), 0), "
          "coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0'), 0)");
      e.Sample("pgha_wal_position_bytes", Num(rows[0][0]), {{"kind", "receive"}});
      e.Sample("pgha_wal_position_bytes", Num(rows[0][1]), {{"kind", "replay"}});
    }
    e.Family("pgha_pending_restart", "gauge",
             "Settings whose configured value waits for a restart of the server.");
    e.Sample("pgha_pending_restart", static_cast<double>(in.PendingRestart().size()));
  } catch (const Error&) {
    // Between states: the families above stay without samples this scrape.
  }
}

void SlotMetrics(Agent::Impl& a, Exposition& e) {
  auto report = a.local->LastSlotReport();
  if (!report) return;
  e.Family("pgha_logical_slot_safe", "gauge",
           "1 when failing over to this standby keeps the master's logical slot usable (the "
           "slot keeper's last round), 0 when not.");
  for (const SlotCopyStatus& s : report->first.slots)
    e.Sample("pgha_logical_slot_safe", s.safe ? 1 : 0, {{"slot", s.slot}});
  e.Family("pgha_logical_slot_report_age_seconds", "gauge",
           "How long ago the slot keeper's last round on this standby ran.");
  e.Sample("pgha_logical_slot_report_age_seconds",
           std::chrono::duration<double>(Clock::now() - report->second).count());
}

void OperationMetrics(Agent::Impl& a, Exposition& e) {
  std::optional<Agent::Impl::LastOperation> op = a.last_operation();
  e.Family("pgha_last_operation_info", "gauge",
           "The last operation a route of this agent ran, and its result (ok or failed).");
  e.Family("pgha_last_operation_timestamp_seconds", "gauge",
           "When that operation ended (Unix time).");
  if (!op) return;
  e.Sample("pgha_last_operation_info", 1,
           {{"operation", op->name}, {"result", op->ok ? "ok" : "failed"}});
  e.Sample("pgha_last_operation_timestamp_seconds",
           std::chrono::duration<double>(op->at.time_since_epoch()).count());
}

void HaMetrics(Agent::Impl& a, Exposition& e) {
  e.Family("pgha_ha_enabled", "gauge", "1 when automatic failover (a store) is configured.");
  e.Sample("pgha_ha_enabled", a.ha ? 1 : 0);
  if (!a.ha) return;
  HaLoop::View v = a.ha->LastView();
  e.Family("pgha_ha_leader", "gauge", "1 while this node holds the leader key.");
  e.Sample("pgha_ha_leader", a.ha->Leads() ? 1 : 0);
  e.Family("pgha_ha_paused", "gauge", "1 while automatic actions are paused.");
  e.Sample("pgha_ha_paused", a.ha->Paused() ? 1 : 0);
  e.Family("pgha_store_last_contact_seconds", "gauge",
           "How long ago the HA loop last completed a round with the store (the loop's age).");
  if (v.at) {
    e.Sample("pgha_store_last_contact_seconds",
             std::chrono::duration<double>(Clock::now() - *v.at).count());
  }
  e.Family("pgha_ha_members", "gauge", "The members publishing their status in the store.");
  e.Sample("pgha_ha_members", static_cast<double>(v.members.size()));
}

}  // namespace

void AddMetricsRoute(Agent::Impl& a, Router& r) {
  r.Add(
      HttpMethod::kGet, "/metrics",
      [&a](const HttpRequest&) {
        Exposition e(a.local->address().name);
        const NodeState state = a.local->CachedState();
        e.Family("pgha_up", "gauge", "1 when PostgreSQL runs on this node.");
        e.Sample("pgha_up", IsPrimary(state) || IsStandby(state) ? 1 : 0);
        e.Family("pgha_state", "gauge", "This node's state: 1 for the one it is in.");
        for (NodeState s : {NodeState::kInactive, NodeState::kSingle, NodeState::kMaster,
                            NodeState::kSlave, NodeState::kRecovery, NodeState::kStarting})
          e.Sample("pgha_state", s == state ? 1 : 0, {{"state", std::string(NodeStateName(s))}});
        e.Family("pgha_role", "gauge", "This node's role: 1 for master or replica, else 0.");
        e.Sample("pgha_role", IsPrimary(state) ? 1 : 0, {{"role", "master"}});
        e.Sample("pgha_role", IsStandby(state) ? 1 : 0, {{"role", "replica"}});
        ServerMetrics(a, e, state);
        SlotMetrics(a, e);
        OperationMetrics(a, e);
        HaMetrics(a, e);
        return HttpResponse::Text(200, e.Text(), "text/plain; version=0.0.4; charset=utf-8");
      },
      RouteOptions{true, true, 0});
}

}  // namespace pgha::agent
