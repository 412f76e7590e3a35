#include "pgha/failover_policy.hpp"

#include <algorithm>

#include "pgha/error.hpp"

namespace pgha {

namespace {

bool RunsAsStandby(const MemberStatus& m) {
  return m.state == "slave" || m.state == "recovery";
}

// Why `m` may not take over, or "" when it may.
std::string Ineligible(const MemberStatus& m, const LeaderFacts& leader,
                       const CandidateRules& rules) {
  if (m.name == leader.name) return "the old leader";
  if (m.nofailover) return "tagged nofailover";
  if (!RunsAsStandby(m)) return "not a running standby (" + m.state + ")";
  if ((rules.only_listed || !rules.only.empty()) &&
      std::find(rules.only.begin(), rules.only.end(), m.name) == rules.only.end()) {
    return "not a synchronous standby";
  }
  if (leader.history != nullptr) {
    if (leader.history->CanFollow(m.timeline, m.received).verdict != FollowVerdict::kValid) {
      return "timeline " + std::to_string(m.timeline) + " at " + m.received.ToString() +
             " is not on the leader's history";
    }
  } else if (m.timeline != leader.timeline) {
    return "on timeline " + std::to_string(m.timeline) + ", the leader on " +
           std::to_string(leader.timeline);
  }
  if (leader.position.IsValid() && m.received < leader.position &&
      leader.position.value() - m.received.value() > rules.maximum_lag_bytes) {
    return "lags " + std::to_string(leader.position.value() - m.received.value()) +
           " bytes behind the leader (maximum " + std::to_string(rules.maximum_lag_bytes) + ")";
  }
  return {};
}

}  // namespace

CandidateChoice ChooseCandidate(const std::vector<MemberStatus>& members, const LeaderFacts& leader,
                                const CandidateRules& rules) {
  CandidateChoice choice;
  const MemberStatus* best = nullptr;
  auto better = [](const MemberStatus& a, const MemberStatus& b) {
    if (a.received != b.received) return a.received > b.received;
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.name < b.name;
  };
  for (const MemberStatus& m : members) {
    std::string why = Ineligible(m, leader, rules);
    choice.verdicts.push_back({m.name, why.empty(), why});
    if (why.empty() && (best == nullptr || better(m, *best))) best = &m;
  }
  if (best != nullptr) choice.winner = best->name;
  return choice;
}

SyncPlan PlanSynchronous(const SyncInputs& in) {
  auto row = [&in](const std::string& name) -> const StreamingStandby* {
    for (const StreamingStandby& s : in.standbys) {
      if (s.application_name == name && s.state == "streaming") return &s;
    }
    return nullptr;
  };
  auto confirms = [&row](const std::string& name) {
    const StreamingStandby* s = row(name);
    return s != nullptr && (s->sync_state == "sync" || s->sync_state == "quorum");
  };
  // The streaming member that flushed the most (then the lower name), other than `except`.
  auto best = [&](const std::string& except) -> const StreamingStandby* {
    const StreamingStandby* out = nullptr;
    for (const MemberStatus& m : in.members) {
      if (m.name == in.leader || m.name == except || m.nofailover) continue;
      const StreamingStandby* s = row(m.name);
      if (s == nullptr) continue;
      if (out == nullptr || s->flush_lsn > out->flush_lsn ||
          (s->flush_lsn == out->flush_lsn && s->application_name < out->application_name)) {
        out = s;
      }
    }
    return out;
  };

  SyncPlan plan;
  std::vector<std::string> on_record;
  if (in.record && in.record->leader == in.leader) {
    on_record = in.record->standbys;
  } else {
    // Absent, or another leader's: this leader's own, with no standby yet.
    plan.record = std::vector<std::string>{};
  }

  if (!on_record.empty()) {
    const std::string& s = on_record.front();
    if (confirms(s)) {
      plan.names = {s};
      plan.state = "synchronous";
      plan.why = s + " confirms every commit";
      return plan;
    }
    const StreamingStandby* c = best(s);
    if (in.strict) {
      // Commits wait for `s`, so everything acknowledged is at or below the flush position
      // now: a candidate that flushed that far has it all, and takes over the record first.
      if (c != nullptr && c->flush_lsn >= in.flush) {
        plan.record = std::vector<std::string>{c->application_name};
        plan.names = {c->application_name};
        plan.state = "synchronous";
        plan.why = c->application_name + " replaces " + s + ", which does not stream";
        return plan;
      }
      plan.names = {s};
      plan.state = "blocked";
      plan.why = s + " does not stream (strict: commits wait for it" +
                 (c != nullptr ? ", or for " + c->application_name + " to catch up)" : ")");
      return plan;
    }
    // Off the record first, then no longer waited for.
    plan.record = std::vector<std::string>{};
    plan.names = {};
    plan.state = "asynchronous";
    plan.why = s + " does not stream: commits are acknowledged without a synchronous standby";
    return plan;
  }

  const StreamingStandby* c = best("");
  if (c == nullptr) {
    plan.names = in.strict ? in.peers : std::vector<std::string>{};
    plan.state = in.strict ? "blocked" : "asynchronous";
    plan.why = in.strict ? "no standby streams (strict: commits wait for one)"
                         : "no standby streams: commits are acknowledged without one";
    return plan;
  }
  const std::string& name = c->application_name;
  plan.names = {name};
  plan.state = in.strict ? "blocked" : "asynchronous";
  if (in.named == std::vector<std::string>{name} && confirms(name)) {
    // Every later commit waits for it; the earlier ones are at or below `catchup_from`.
    if (!in.catchup_from) {
      plan.catchup_from = in.flush;
    } else if (c->flush_lsn >= *in.catchup_from) {
      plan.record = std::vector<std::string>{name};
      plan.state = "synchronous";
      plan.why = name + " caught up and confirms every commit";
      return plan;
    } else {
      plan.catchup_from = in.catchup_from;
    }
    plan.why = name + " confirms new commits; catching up to " + plan.catchup_from->ToString();
    return plan;
  }
  plan.why = name + " streams: made synchronous";
  return plan;
}

LeaderDeadline::LeaderDeadline(std::chrono::seconds ttl, std::chrono::milliseconds margin)
    : ttl_(ttl), margin_(margin) {
  if (ttl.count() < 1 || margin.count() < 0 || margin >= ttl) {
    throw Error(ErrorCode::kBadInput,
                "leader lease: the margin (" + std::to_string(margin.count()) +
                    " ms) must be shorter than the TTL (" + std::to_string(ttl.count()) + " s)");
  }
}

void LeaderDeadline::Renewed(Clock::time_point sent) {
  if (!last_sent_ || sent > *last_sent_) last_sent_ = sent;
}

std::optional<LeaderDeadline::Clock::time_point> LeaderDeadline::FenceBy() const {
  if (!last_sent_) return std::nullopt;
  return *last_sent_ + ttl_ - margin_;
}

bool LeaderDeadline::MustFence(Clock::time_point now) const {
  std::optional<Clock::time_point> by = FenceBy();
  return by && now >= *by;
}

}  // namespace pgha
