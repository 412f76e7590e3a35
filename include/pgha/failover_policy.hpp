// The decisions of automatic failover that need no I/O: which member takes over when the
// leader is gone, and by when a leader that cannot renew its lease must fence itself.
#ifndef PGHA_FAILOVER_POLICY_HPP
#define PGHA_FAILOVER_POLICY_HPP

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgha/export.hpp"
#include "pgha/instance.hpp"
#include "pgha/store_cluster.hpp"
#include "pgha/timeline.hpp"

namespace pgha {

/// What the leader was last known to be (its member record when it still had one).
struct LeaderFacts {
  std::string name;
  TimelineId timeline = 0;
  Lsn position;  ///< its last published flush position; invalid when unknown
  /// The history of `timeline` (the replicas have its file); none: a candidate must be on
  /// `timeline` itself.
  const TimelineHistory* history = nullptr;
};

/// The rules a candidate must pass.
struct CandidateRules {
  /// A candidate may be at most this far behind the leader's last known position (bytes);
  /// it would lose the rest. Ignored when the leader's position is unknown.
  std::uint64_t maximum_lag_bytes = 1u << 20;
  /// Only these members may take over when not empty (synchronous mode: the synchronous
  /// standbys, which have every acknowledged commit).
  std::vector<std::string> only;
  /// `only` applies even when empty: nobody may take over (synchronous mode with no
  /// synchronous standby on record: none is known to have every acknowledged commit).
  bool only_listed = false;
};

/// One member's verdict.
struct CandidateVerdict {
  std::string name;
  bool eligible = false;
  std::string reason;  ///< why not, when not
};

/// The choice: the member to take over (none when no member is eligible) and every member's
/// verdict, for GET cluster and the logs.
struct CandidateChoice {
  std::optional<std::string> winner;
  std::vector<CandidateVerdict> verdicts;
};

/// Chooses the member that takes the leader key when the leader is gone: of the members
/// that are running standbys, not `nofailover`, on the leader's history, within the maximum
/// lag and allowed by `rules.only`, the one that received the most WAL; ties go to the
/// higher priority, then to the lower name, so every member computing it from the same
/// records picks the same one. The old leader itself is never chosen.
PGHA_API CandidateChoice ChooseCandidate(const std::vector<MemberStatus>& members,
                                         const LeaderFacts& leader, const CandidateRules& rules);

/// What the leader knows when it keeps synchronous replication (synchronous mode), each round.
struct SyncInputs {
  std::string leader;   ///< this node, the leader
  bool strict = false;  ///< never acknowledge a commit without a synchronous standby
  /// The store's record, when there is one (SyncRecord); another leader's names none of ours.
  std::optional<SyncRecord> record;
  /// The standbys synchronous_standby_names names now (what the last plan set, applied).
  std::vector<std::string> named;
  /// pg_stat_replication of the leader's server, and its flush position now.
  std::vector<StreamingStandby> standbys;
  Lsn flush;
  /// The members (a standby must be one, not `nofailover`, to be made synchronous).
  std::vector<MemberStatus> members;
  /// Every other node of the configuration: whom a strict leader with no synchronous standby
  /// waits for (any one of them), so that nothing is acknowledged until one confirms.
  std::vector<std::string> peers;
  /// Carried from the last plan: the flush position when the candidate first showed as
  /// synchronous; it is recorded once it has flushed that far.
  std::optional<Lsn> catchup_from;
};

/// What the leader does: write the record first (when set), then set synchronous_standby_names
/// to `names` (ANY 1 of them; empty: asynchronous). The order is the safety: a standby enters
/// the record only once every commit acknowledged so far is on it and every later one waits
/// for it, and it leaves the record before the leader stops waiting for it, so a standby on
/// record always has every acknowledged commit.
struct SyncPlan {
  std::optional<std::vector<std::string>> record;  ///< the record's new standbys, if it changes
  std::vector<std::string> names;
  std::optional<Lsn> catchup_from;  ///< carry to the next round's SyncInputs
  /// "synchronous" (a standby on record), "asynchronous" (none: commits are acknowledged
  /// without one) or "blocked" (strict and none: commits wait).
  std::string state;
  std::string why;  ///< for the log and GET cluster
};

/// One round of synchronous mode on the leader (no I/O; the rules above). Of several
/// streaming candidates the one that flushed the most is taken (then the lower name).
PGHA_API SyncPlan PlanSynchronous(const SyncInputs& in);

/// When a leader must stop acknowledging commits if its lease is not renewed. etcd counts a
/// lease's TTL from when it received the renewal, which is after the leader sent it: the
/// lease cannot have expired before send time + TTL (clocks advancing at the same rate), so
/// a leader that fences at send time + TTL - margin is fenced before another member can
/// take the key. Thread-compatible.
class PGHA_API LeaderDeadline {
 public:
  using Clock = std::chrono::steady_clock;
  /// `margin` covers clock-rate drift and the time fencing itself takes; it must be shorter
  /// than the TTL. Error(kBadInput) otherwise.
  LeaderDeadline(std::chrono::seconds ttl, std::chrono::milliseconds margin);

  /// A renewal sent at `sent` was confirmed (the store answered with the full TTL).
  void Renewed(Clock::time_point sent);
  /// The moment to be fenced by: the last confirmed renewal's send time + TTL - margin
  /// (none before the first renewal: a member that never held the lease has nothing to fence).
  std::optional<Clock::time_point> FenceBy() const;
  /// True when `now` is at or past FenceBy (also after a freeze: the check is made against
  /// the clock, not a timer that a stopped process would not see fire).
  bool MustFence(Clock::time_point now) const;

 private:
  std::chrono::seconds ttl_;
  std::chrono::milliseconds margin_;
  std::optional<Clock::time_point> last_sent_;
};

}  // namespace pgha

#endif  // PGHA_FAILOVER_POLICY_HPP
