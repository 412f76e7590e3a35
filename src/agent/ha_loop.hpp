// Automatic failover: the loop every agent runs when a store (etcd) is configured (private).
// docs/ha.md describes the rules; this is their one implementation.
#ifndef PGHA_AGENT_HA_LOOP_HPP
#define PGHA_AGENT_HA_LOOP_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fence.hpp"
#include "pgha/agent.hpp"
#include "pgha/cluster_store.hpp"
#include "pgha/failover_policy.hpp"
#include "pgha/store_cluster.hpp"
#include "remote_node.hpp"

namespace pgha::agent {

/// One agent's part of automatic failover. Each round (every ha_loop_interval, or at once when
/// the leader key changes): publish this member's status; then, unless the cluster is paused,
///
/// - a running primary holds the leader key (takes it when free; fenced when another holds
///   it, then rejoins that leader as a standby);
/// - a standby follows the leader; when there is no leader, the most advanced eligible
///   standby (ChooseCandidate) takes the key by compare-and-create and promotes;
/// - a stopped node rejoins the leader by the manual path's rules (validLsn, pg_rewind, or
///   refusal with the pg/sync hint); a leader whose server crashed restarts it in place while
///   it still holds the lease, and gives the key up when that fails.
///
/// While this node leads, a thread of its own renews the leader lease; the leader fences its
/// server (FencePostmaster) when a renewal has not been confirmed by LeaderDeadline's moment,
/// and so does the FenceGuard process when the agent is gone or frozen. Paused: only the
/// key's bookkeeping (a primary keeps or takes it, anyone else gives it up), no start, stop or
/// promotion. Thread-safe.
class HaLoop {
 public:
  HaLoop(Agent::Impl& agent, std::unique_ptr<ClusterStore> store);
  ~HaLoop();
  HaLoop(const HaLoop&) = delete;
  HaLoop& operator=(const HaLoop&) = delete;

  /// Starts the guard, the renewer, the watcher and the loop. Throws Error(kIo) when the
  /// guard cannot start.
  void Start();
  /// Stops the threads and the guard. A leader stops its server (fast) and releases the key.
  void Stop() noexcept;

  /// GET cluster: the leader, its lease's remaining time, whether paused, every member.
  nlohmann::json ClusterJson();
  /// POST cluster/pause and cluster/resume.
  void SetPaused(bool paused);
  /// POST cluster/config: merges `changes` (JSON object: pause, synchronous_mode,
  /// synchronous_mode_strict) into the store's settings. Error(kBadInput) for a bad field.
  void ChangeSettings(const std::string& changes);
  /// What the last round saw: the leader key's holder and every member's record, and when.
  struct View {
    std::optional<std::string> leader;
    std::vector<MemberStatus> members;
    std::optional<std::chrono::steady_clock::time_point> at;  ///< none before the first round
    bool synchronous_mode = false;
    /// The synchronous standbys on record for the leader (synchronous mode).
    std::vector<std::string> synchronous_standbys;
  };
  View LastView() const;
  /// True while this agent holds the leader key (its lease renewed in time).
  bool Leads() const;
  /// The lease of this node's leadership (0: not leading).
  StoreLease LeaderLease() const;
  std::chrono::milliseconds interval() const { return interval_; }

  /// The pause as last read from the store.
  bool Paused() const { return paused_.load(); }
  /// The pause as the store says now (a pause set through another agent counts at once);
  /// the store's Error when it cannot be asked.
  bool PausedNow();

  /// Holds the loop for `duration`: returns once no round runs (waiting at most 5 s, then
  /// Error(kConflict)); the rounds until then, or until Release, run as paused.
  void Hold(std::chrono::milliseconds duration);
  void Release();
  /// A manual switchover or failover while the loop is in charge (not paused): takes the
  /// store's operation lock (kept alive while `op` runs, so it outlives no coordinator by more
  /// than a TTL; Error(kConflict) naming the operation that holds it), holds every agent's
  /// loop (this one and the peers' that answer; the others see the lock in their next round
  /// before they act), and with `force` (the old master's agent may not answer) first waits
  /// until the leader key is free — the old leader's lease run out, so its fence guard has
  /// stopped its server — or this node's. Then `op`, then the leader key moved to the master
  /// `op` left, in one compare-and-swap, before the loops go on.
  OperationResult RunOperation(const std::string& what, bool force,
                               const std::function<OperationResult()>& op);

 private:
  using Clock = std::chrono::steady_clock;
  void LoopThread();
  void RenewThread();
  void WatchThread();
  void Round();
  /// Publishes this member; returns its status.
  MemberStatus Publish();
  bool TakeLeaderKey();
  void DropLeadership(bool release_key);
  void FenceNow(const std::string& why);
  void Act(const MemberStatus& me, const std::optional<StoreKeyValue>& leader);
  void Elect();
  void Rejoin(const std::string& why);
  /// The leader's part of synchronous mode, each round (PlanSynchronous): the record in the
  /// store, then synchronous_standby_names.
  void KeepSynchronous();
  /// Whom synchronous_standby_names names on this node when it does not lead: in synchronous
  /// mode every peer (ANY 1), so a promotion or a start as primary acknowledges nothing
  /// before the leader's first KeepSynchronous; nobody otherwise.
  void DefaultSynchronous();
  void ApplySynchronous(const std::vector<std::string>& names);
  /// RunOperation's end: the leader key to `master`, bound to a new lease that its loop
  /// adopts (at once when it is this node).
  void MoveLeaderKeyTo(const std::string& master);
  /// Waits until the leader key is free or this node's, at most `wait`; false otherwise.
  bool WaitForFreeLeaderKey(std::chrono::milliseconds wait);
  /// Takes `lease`, which the store says holds this node's key, as this node's leadership.
  void AdoptLeaderLease(StoreLease lease, Clock::time_point sent);
  void Log(const std::string& line);
  bool Held() const;

  Agent::Impl& a_;
  std::unique_ptr<ClusterStore> store_;
  StoreCluster cluster_;
  const std::string name_;
  const std::chrono::seconds ttl_;
  const std::chrono::milliseconds interval_;
  std::unique_ptr<FenceGuard> guard_;

  mutable std::mutex mutex_;  ///< guards the leadership fields below and wake_
  std::condition_variable wake_cv_;
  bool wake_ = false;
  StoreLease leader_lease_ = 0;  ///< 0: not leading
  LeaderDeadline deadline_;
  StoreLease member_lease_ = 0;
  std::optional<MemberStatus> last_leader_;  ///< the leader's last record seen
  std::optional<Clock::time_point> crashed_since_;
  std::optional<Clock::time_point> not_streaming_since_;  ///< a standby's (loop thread only)
  std::map<std::thread::id, std::string> last_log_;
  View view_;
  ClusterSettings settings_;  ///< as the last round read them (loop thread only)
  bool synchronous_ = false;  ///< synchronous mode in effect (loop thread only)
  std::optional<std::vector<std::string>> named_;  ///< last names applied (loop thread only)
  /// The `sync` record as this round read it (synchronous mode), for the round's
  /// KeepSynchronous to take instead of reading it again; consumed there (loop thread only).
  std::optional<std::optional<SyncRecord>> round_sync_;
  std::optional<Lsn> catchup_from_;  ///< PlanSynchronous's (loop thread only)

  std::timed_mutex round_mutex_;                 ///< held by the loop thread during a round
  std::optional<Clock::time_point> hold_until_;  ///< guarded by mutex_

  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::thread loop_;
  std::thread renewer_;
  std::thread watcher_;
};

}  // namespace pgha::agent

#endif  // PGHA_AGENT_HA_LOOP_HPP
