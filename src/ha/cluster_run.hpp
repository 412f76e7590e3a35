// One operation in progress: the leases it holds, its deadline and the steps it took.
#ifndef PGHA_HA_CLUSTER_RUN_HPP
#define PGHA_HA_CLUSTER_RUN_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "op_deadline.hpp"
#include "pgha/cluster.hpp"

namespace pgha {

/// What a step returns to have its result's `detail` say how it went (when it succeeded).
struct StepDetail {
  std::string text;
};

class Cluster::Run {
 public:
  /// Takes the operation lease on every reachable node (this one first) for
  /// options.lease_ttl, and from then on keeps them: a thread renews every lease each third
  /// of the TTL and tries again to take those of nodes that did not answer, until the Run
  /// ends (or twice its deadline has passed: a coordinator stuck that long lets them run
  /// out). Throws Error(kConflict) naming the operation that holds a lease already,
  /// Error(kBadInput) for a TTL out of range. From here on, what the operation waits for, here
  /// and on its peers, ends by its deadline (options.timeout from now); the few calls after
  /// it (releasing the leases, the states of Finish) get a short chance each
  /// (kCallAfterDeadline, src/net/curl_call.cpp). Must be used and destroyed on the thread
  /// that made it.
  Run(Cluster& cluster, std::string operation, const OperationOptions& options, bool lock = true);
  /// Stops renewing, then gives every lease it holds back.
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  /// Runs `fn` as a step on `node` named `action`, recording time and outcome. A failure is
  /// recorded and rethrown with the step named in the message. Nothing runs (BeforeStep)
  /// once the operation's deadline has passed (Error(kTimeout)) or one of its leases was lost
  /// (Error(kConflict) when another operation took it, Error(kTimeout) when it lapsed),
  /// the node named; the lease of `node` is renewed, or taken if `node` did not answer
  /// before, right before `fn` runs.
  template <typename Fn>
  auto Step(NodeControl& node, const std::string& action, Fn&& fn) -> decltype(fn());

  /// The state of `node`, or nullopt when it cannot be reached.
  std::optional<NodeState> TryState(NodeControl& node);
  /// The state of `peer`, which may hold WAL `self` lacks: Error(kPeerUnreachable) when its
  /// agent does not answer, unless forced (then nullopt: the operation goes on without it).
  /// Error(kConflict) when it is, or may be, a master (MayBePrimary): `self`, about to become
  /// master, must not.
  std::optional<NodeState> StateOfWalHolder(NodeControl& peer, NodeControl& self);
  /// Every node other than `self` that runs as a primary; throws kPeerUnreachable for a node
  /// that cannot be asked unless options.force, kConflict (StartingConflict) for a node that is
  /// starting: it may come up as a primary any moment, and cannot be followed yet. The caller
  /// retries once it is up.
  std::vector<NodeControl*> OtherMasters(NodeControl& self);
  /// The one running primary among all nodes but `self`; throws kWrongState when none,
  /// kConflict when several.
  NodeControl& TheMaster(NodeControl& self);
  /// Refuses (kConflict) when another node is a master, (kPeerUnreachable) when one may be.
  void CheckNoOtherMaster(NodeControl& self);
  /// Starts stopped `node` as a slave of `master` after checking its WAL against the
  /// master's history: rewinds a diverged node, refuses one that cannot follow.
  void StartSlaveOf(NodeControl& node, NodeControl& master);
  /// Before stopped `self` starts as master: copies the WAL a stopped peer wrote past `self`'s
  /// end on the same timeline (so nothing it acknowledged is lost), and refuses (kConflict)
  /// when a peer has a newer timeline whose history `self`'s WAL is on: that peer should be
  /// the master.
  void CatchUpBeforeMaster(NodeControl& self);
  /// Copies the WAL `to` lacks from `from` (both stopped or `from` stopped), MD5-checked;
  /// nothing when `to` already ends where `from` does (HasAllWalOf). `from_facts`: `from`'s
  /// facts when the caller has just read them (it is stopped: they do not change). Returns
  /// `to`'s facts afterwards.
  NodeFacts PullMissingWal(NodeControl& to, NodeControl& from,
                           std::optional<NodeFacts> from_facts = std::nullopt);
  /// True when a node at `have` holds all the WAL of one at `theirs`: the same timeline and
  /// the same end of WAL. A node ahead on the same timeline does not count: that is WAL the
  /// other never wrote (diverged), which the copy's extend check is there to catch.
  static bool HasAllWalOf(const NodeFacts& have, const NodeFacts& theirs);
  /// Before `to` becomes master: gives it `from`'s logical slots (see
  /// NodeControl::TakeLogicalSlots), or, with no `from`, reports the copies `to` has. A
  /// failure is recorded in the result's slots, never fails the operation: the database's
  /// availability comes first, and the caller is told which slots did not follow.
  void CarryLogicalSlots(NodeControl& to, NodeControl* from);
  /// After `candidate` failed to become master (`cause`) with `old_master` stopped: gives the
  /// cluster its old master back, but only once `candidate` is seen inactive (stopped first
  /// when it is not: a start can fail half-way and leave it running as a master). Always
  /// throws `cause`'s code with `cause`'s message and the rollback's outcome appended: the
  /// old master restarted, its restart failed, or `candidate` could not be seen stopped, in
  /// which case the old master is left stopped (never two masters).
  [[noreturn]] void RollBackToOldMaster(NodeControl& candidate, NodeControl& old_master,
                                        const Error& cause);
  /// Error(kConflict): `node` is starting (MayBePrimary) and may come up as a master.
  static Error StartingConflict(const NodeControl& node);
  /// Polls `node` until its state is `want`: kTimeout when the deadline passes, kWrongState
  /// at once when `node` is inactive (it stopped or crashed: it will not get there).
  void WaitForState(NodeControl& node, NodeState want);
  /// Polls until `slave` streams from `master` on the master's timeline, and `master` sees
  /// it streaming (its sender leaves "catchup" a moment after the receiver says streaming; a
  /// receiver that follows a timeline switch streams the old timeline to the switch point
  /// first, then reconnects for the new one).
  void WaitForSlaveOf(NodeControl& slave, NodeControl& master);
  /// Polls until `node`'s end of WAL reaches `target` on `timeline`; false at the deadline,
  /// or as soon as `node` does not stream (stopped, or its upstream gone: it cannot get more).
  bool WaitForPosition(NodeControl& node, TimelineId timeline, Lsn target);

  std::vector<NodeControl*> AllNodes();
  OperationResult Finish();
  const OperationOptions& options() const { return options_; }

 private:
  /// The test-only fault point "op:<operation>:<index>:<when>" (src/core/fault_point.hpp).
  void FaultPoint(std::size_t index, const char* when, NodeControl& node,
                  const std::string& action) const;

  /// One node's operation lease, as this operation last saw it.
  struct Lease {
    NodeControl* node = nullptr;
    bool held = false;  ///< granted, at the start or since (false: it did not answer yet)
    bool lost = false;  ///< refused or failed since: never renewed or taken again
    /// When the request of the last grant was sent: the node keeps the lease at least
    /// lease_ttl_ after that.
    std::chrono::steady_clock::time_point renewed{};
  };
  /// Takes every lease (the constructor's work); throws as the constructor does.
  void TakeLeases();
  /// Throws when the step `action` on `node` must not run (see Step).
  void BeforeStep(NodeControl& node, const std::string& action);
  /// Renews `lease` (takes it when not held yet). A refusal, or a grant that comes after the
  /// lease may have lapsed, is recorded in lost_; a node that does not answer is left as it
  /// is (its lease lapses unless it answers again in time). Needs lease_mutex_.
  void KeepLease(Lease& lease);
  /// The renewer thread's loop.
  void RenewLeases();
  /// Stops the renewer and gives the leases back. Never throws.
  void ReleaseLeases() noexcept;

  std::chrono::milliseconds lease_ttl_;
  std::mutex lease_mutex_;
  std::vector<Lease> leases_;  ///< every node's, in AllNodes order; empty without locking
  std::optional<Error> lost_;  ///< the first lease lost, as the error the operation ends with
  std::condition_variable renew_cv_;
  std::atomic<bool> stopping_{false};  ///< the renewer ends
  std::thread renewer_;

  Cluster& cluster_;
  std::string operation_;
  std::string holder_;
  OperationOptions options_;
  std::chrono::steady_clock::time_point deadline_;
  // Bounds every call the operation makes on this thread, and its peers' work for it, by
  // deadline_ (op_deadline.hpp); open until the leases are released.
  deadline::Scope deadline_scope_;
  std::vector<OperationStep> steps_;
  std::vector<SlotCopyStatus> slots_;
};

template <typename Fn>
auto Cluster::Run::Step(NodeControl& node, const std::string& action, Fn&& fn) -> decltype(fn()) {
  const std::size_t index = steps_.size();
  BeforeStep(node, action);
  FaultPoint(index, "begin", node, action);
  auto start = std::chrono::steady_clock::now();
  auto record = [&](bool ok, const std::string& detail) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    steps_.push_back({node.address().name, action, ok, detail, ms});
    FaultPoint(index, "end", node, action);
  };
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      record(true, "");
    } else if constexpr (std::is_same_v<decltype(fn()), StepDetail>) {
      StepDetail d = fn();
      record(true, d.text);
      return d;
    } else {
      auto value = fn();
      record(true, "");
      return value;
    }
  } catch (const Error& e) {
    record(false, e.what());
    throw Error(e.code(),
                operation_ + ": " + action + " on " + node.address().name + " failed: " + e.what());
  }
}

}  // namespace pgha

#endif  // PGHA_HA_CLUSTER_RUN_HPP
