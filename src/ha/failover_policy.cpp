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
  if (!rules.only.empty() &&
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
