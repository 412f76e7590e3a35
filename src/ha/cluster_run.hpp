// One operation in progress: the leases it holds, its deadline and the steps it took.
#ifndef PGHA_HA_CLUSTER_RUN_HPP
#define PGHA_HA_CLUSTER_RUN_HPP

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "op_deadline.hpp"
#include "pgha/cluster.hpp"

namespace pgha {

class Cluster::Run {
 public:
  /// Takes the operation lease on every reachable node (this one first). Throws
  /// Error(kConflict) naming the operation that holds a lease already. From here on, what
  /// the operation waits for, here and on its peers, ends by its deadline (options.timeout
  /// from now); the few calls after it (releasing the leases, the states of Finish) get a
  /// short chance each (kCallAfterDeadline, src/net/curl_call.cpp). Must be used and destroyed
  /// on the thread that made it.
  Run(Cluster& cluster, std::string operation, const OperationOptions& options, bool lock = true);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  /// Runs `fn` as a step on `node` named `action`, recording time and outcome. A failure is
  /// recorded and rethrown with the step named in the message.
  template <typename Fn>
  auto Step(NodeControl& node, const std::string& action, Fn&& fn) -> decltype(fn());

  /// The state of `node`, or nullopt when it cannot be reached.
  std::optional<NodeState> TryState(NodeControl& node);
  /// The state of `peer`, which may hold WAL `self` lacks: Error(kPeerUnreachable) when its
  /// agent does not answer, unless forced (then nullopt: the operation goes on without it).
  std::optional<NodeState> StateOfWalHolder(NodeControl& peer, NodeControl& self);
  /// Every node other than `self` that runs as a primary; throws kPeerUnreachable for a node
  /// that cannot be asked unless options.force.
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

  Cluster& cluster_;
  std::string operation_;
  std::string holder_;
  OperationOptions options_;
  std::chrono::steady_clock::time_point deadline_;
  // Bounds every call the operation makes on this thread, and its peers' work for it, by
  // deadline_ (op_deadline.hpp); open until the leases are released.
  deadline::Scope deadline_scope_;
  std::vector<NodeControl*> locked_;
  std::vector<OperationStep> steps_;
  std::vector<SlotCopyStatus> slots_;
};

template <typename Fn>
auto Cluster::Run::Step(NodeControl& node, const std::string& action, Fn&& fn) -> decltype(fn()) {
  const std::size_t index = steps_.size();
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
