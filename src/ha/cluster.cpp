#include "pgha/cluster.hpp"

#include <algorithm>

#include "cluster_run.hpp"

namespace pgha {

namespace {

bool InRecovery(NodeState s) {
  return s == NodeState::kSlave || s == NodeState::kRecovery;
}

const char* SequenceName(Sequence order) {
  return order == Sequence::kMasterSlave ? "masterSlave" : "slaveMaster";
}

}  // namespace

Cluster::Cluster(std::shared_ptr<NodeControl> local,
                 std::vector<std::shared_ptr<NodeControl>> peers)
    : local_(std::move(local)), peers_(std::move(peers)) {
  if (!local_) throw Error(ErrorCode::kBadInput, "a cluster needs its local node");
}

OperationResult Cluster::LocalState() {
  OperationResult r;
  r.operation = "state";
  r.states[local_->address().name] = std::string(NodeStateName(local_->State()));
  return r;
}

OperationResult Cluster::AllStates() {
  return Run(*this, "state", {}, /*lock=*/false).Finish();
}

OperationResult Cluster::StartCurrent(const OperationOptions& options) {
  Run run(*this, "start current", options);
  NodeControl& self = *local_;
  if (run.TryState(self) != NodeState::kInactive) return run.Finish();
  std::vector<NodeControl*> masters = run.OtherMasters(self);
  if (masters.empty()) {
    run.CatchUpBeforeMaster(self);
    run.Step(self, "start as master", [&] { self.StartMaster(); });
  } else {
    run.StartSlaveOf(self, *masters.front());
    run.WaitForSlaveOf(self, *masters.front());
  }
  return run.Finish();
}

OperationResult Cluster::StartMaster(const OperationOptions& options) {
  Run run(*this, "start master", options);
  NodeControl& self = *local_;
  run.CheckNoOtherMaster(self);
  auto state = run.TryState(self);
  if (state && InRecovery(*state)) {
    throw Error(ErrorCode::kWrongState, self.address().name + " runs as a " +
                                            std::string(NodeStateName(*state)) +
                                            ". HINT: use failover or node/promote");
  }
  if (state == NodeState::kInactive) {
    run.CatchUpBeforeMaster(self);
    run.Step(self, "start as master", [&] { self.StartMaster(); });
  }
  return run.Finish();
}

OperationResult Cluster::StartSlave(const OperationOptions& options) {
  Run run(*this, "start slave", options);
  NodeControl& self = *local_;
  auto state = run.TryState(self);
  if (state && MayBePrimary(*state)) {
    throw Error(ErrorCode::kWrongState, self.address().name + " runs (or starts) as a master. " +
                                            "HINT: stop it first (DELETE instance/current)");
  }
  NodeControl& master = run.TheMaster(self);
  if (state == NodeState::kSlave) return run.Finish();
  if (state == NodeState::kRecovery) run.Step(self, "stop", [&] { self.Stop(StopMode::kFast); });
  run.StartSlaveOf(self, master);
  run.WaitForSlaveOf(self, master);
  return run.Finish();
}

OperationResult Cluster::StartAll(Sequence order, const OperationOptions& options) {
  Run run(*this, std::string("start all ") + SequenceName(order), options);
  NodeControl& self = *local_;
  auto self_state = run.TryState(self);
  if (self_state && InRecovery(*self_state)) {
    throw Error(ErrorCode::kWrongState,
                self.address().name + " runs as a standby: cannot be the master");
  }
  run.CheckNoOtherMaster(self);
  if (self_state == NodeState::kInactive) run.CatchUpBeforeMaster(self);
  auto start_master = [&] {
    if (run.TryState(self) == NodeState::kInactive) {
      run.Step(self, "start as master", [&] { self.StartMaster(); });
    }
  };
  auto start_slaves = [&] {
    for (auto& peer : peers_) {
      auto s = run.TryState(*peer);
      if (!s) continue;  // reported in the states as unreachable
      if (*s == NodeState::kInactive) run.StartSlaveOf(*peer, self);
    }
  };
  if (order == Sequence::kMasterSlave) {
    start_master();
    start_slaves();
  } else {
    start_slaves();
    start_master();
  }
  for (auto& peer : peers_) {
    if (run.TryState(*peer)) run.WaitForSlaveOf(*peer, self);
  }
  run.WaitForState(self, NodeState::kMaster);
  return run.Finish();
}

OperationResult Cluster::StopLocal(StopMode mode) {
  Run run(*this, "stop current", {});
  run.Step(*local_, "stop", [&] { local_->Stop(mode); });
  return run.Finish();
}

OperationResult Cluster::StopRole(NodeState role, const OperationOptions& options) {
  Run run(*this, std::string("stop ") + std::string(NodeStateName(role)), options);
  bool want_primary = IsPrimary(role);
  std::vector<NodeControl*> standbys;
  for (NodeControl* node : run.AllNodes()) {
    auto s = run.TryState(*node);
    // A starting node stops with the masters: it may be one in a moment.
    if (s && *s != NodeState::kInactive && MayBePrimary(*s) == want_primary) {
      run.Step(*node, "stop", [&] { node->Stop(StopMode::kFast); });
    } else if (s && InRecovery(*s)) {
      standbys.push_back(node);
    }
  }
  // The state returned is what holds: the standbys of a stopped master notice it is gone, a
  // master whose standbys all stopped has no walsender left.
  if (want_primary) {
    for (NodeControl* node : standbys) run.WaitForState(*node, NodeState::kRecovery);
  } else {
    for (NodeControl* node : run.AllNodes()) {
      if (run.TryState(*node) == NodeState::kMaster) run.WaitForState(*node, NodeState::kSingle);
    }
  }
  return run.Finish();
}

OperationResult Cluster::StopAll(Sequence order, const OperationOptions& options) {
  Run run(*this, std::string("stop all ") + SequenceName(order), options);
  auto stop_where = [&](bool primary) {
    for (NodeControl* node : run.AllNodes()) {
      auto s = run.TryState(*node);
      if (s && *s != NodeState::kInactive && MayBePrimary(*s) == primary) {
        run.Step(*node, "stop", [&] { node->Stop(StopMode::kFast); });
      }
    }
  };
  bool masters_first = order == Sequence::kMasterSlave;
  stop_where(masters_first);
  stop_where(!masters_first);
  return run.Finish();
}

OperationResult Cluster::Failover(FailoverMethod method, const OperationOptions& options) {
  const char* how = method == FailoverMethod::kRestart ? "restart" : "promote";
  Run run(*this, std::string("failover ") + how, options);
  NodeControl& self = *local_;
  auto state = run.TryState(self);
  if (!state || !InRecovery(*state)) {
    throw Error(ErrorCode::kWrongState, self.address().name + " is " +
                                            (state ? std::string(NodeStateName(*state)) : "?") +
                                            ", not a running slave: nothing to fail over to");
  }
  std::vector<NodeControl*> masters = run.OtherMasters(self);
  if (!masters.empty()) {
    throw Error(ErrorCode::kConflict, "master " + masters[0]->address().name +
                                          " is running. HINT: use switchover, or stop it first");
  }
  NodeFacts before = run.Step(self, "read WAL position", [&] { return self.Facts(); });
  // A stopped old master's WAL that never reached this node is copied first (when its agent
  // still answers), which needs this node stopped; a running standby that received more than
  // this node should take over instead, or its WAL would be lost.
  std::vector<std::pair<NodeControl*, NodeFacts>> stopped;
  bool copy_first = false;
  for (auto& peer : peers_) {
    // It answered OtherMasters a moment ago; nothing has changed yet if it stopped since.
    auto s = run.StateOfWalHolder(*peer, self);
    if (!s || (*s != NodeState::kInactive && !InRecovery(*s))) continue;
    NodeFacts theirs = run.Step(*peer, "read WAL position", [&] { return peer->Facts(); });
    if (*s == NodeState::kInactive) {
      stopped.emplace_back(peer.get(), theirs);
      copy_first |= !Run::HasAllWalOf(before, theirs);
    } else if (theirs.timeline == before.timeline && theirs.end_of_wal > before.end_of_wal) {
      throw Error(ErrorCode::kConflict,
                  peer->address().name + " received more WAL (" + theirs.end_of_wal.ToString() +
                      ") than " + self.address().name + " (" + before.end_of_wal.ToString() +
                      "). HINT: fail over to " + peer->address().name + " instead");
    }
  }
  // The old master, whose logical slots this node takes: of the stopped peers, the one that
  // wrote the most WAL. A running standby can only advance the copies it has: when the old
  // master has a slot this node has no copy of, it is stopped to write the copy's files.
  NodeControl* old_master = nullptr;
  Lsn old_end;
  for (auto& [peer, theirs] : stopped) {
    if (old_master == nullptr || theirs.end_of_wal > old_end) {
      old_master = peer;
      old_end = theirs.end_of_wal;
    }
  }
  if (!copy_first && old_master != nullptr && method == FailoverMethod::kPromote) {
    try {
      std::vector<LogicalSlot> have = self.LogicalSlots();
      for (const LogicalSlot& s : old_master->LogicalSlots()) {
        bool found = std::any_of(have.begin(), have.end(),
                                 [&](const LogicalSlot& c) { return c.name == s.name; });
        copy_first |= !found;
      }
    } catch (const Error&) {
      // Reported by CarryLogicalSlots below.
    }
  }
  if (method == FailoverMethod::kRestart || copy_first) {
    run.Step(self, "stop", [&] { self.Stop(StopMode::kFast); });
    for (auto& [peer, theirs] : stopped) run.PullMissingWal(self, *peer, theirs);
  }
  run.CarryLogicalSlots(self, old_master);
  if (method == FailoverMethod::kRestart) {
    run.Step(self, "start as master (same timeline)", [&] { self.StartMaster(); });
  } else {
    // A standby that has all the WAL there is is promoted as it runs.
    if (copy_first) run.Step(self, "start as standby to replay", [&] { self.StartCurrent(); });
    run.Step(self, "promote (new timeline)", [&] { self.Promote(); });
  }
  NodeFacts after = run.Step(self, "read WAL position", [&] { return self.Facts(); });
  bool timeline_ok = method == FailoverMethod::kRestart ? after.timeline == before.timeline
                                                        : after.timeline > before.timeline;
  if (!timeline_ok) {
    throw Error(ErrorCode::kInternal, std::string("failover ") + how + " left timeline " +
                                          std::to_string(after.timeline) + " (was " +
                                          std::to_string(before.timeline) + ")");
  }
  return run.Finish();
}

OperationResult Cluster::Switchover(Sequence order, const OperationOptions& options) {
  Run run(*this, std::string("switchover ") + SequenceName(order), options);
  NodeControl* master = nullptr;
  NodeControl* slave = nullptr;
  for (NodeControl* node : run.AllNodes()) {
    auto s = run.TryState(*node);
    if (!s) {
      throw Error(ErrorCode::kPeerUnreachable,
                  "switchover needs every node: " + node->address().name + " does not answer");
    }
    if (*s == NodeState::kStarting) throw Run::StartingConflict(*node);
    if (IsPrimary(*s)) master = node;
    if (*s == NodeState::kSlave && (slave == nullptr || node == local_.get())) slave = node;
  }
  if (master == nullptr || slave == nullptr) {
    throw Error(ErrorCode::kWrongState, "switchover needs a running master and a streaming slave");
  }
  NodeFacts old_end;
  if (order == Sequence::kMasterSlave) {
    run.Step(*master, "stop", [&] { master->Stop(StopMode::kFast); });
    old_end = run.Step(*master, "read WAL position", [&] { return master->Facts(); });
    // The slave normally receives the shutdown checkpoint by streaming; what it did not get
    // is copied below.
    run.WaitForPosition(*slave, old_end.timeline, old_end.end_of_wal);
    run.Step(*slave, "stop", [&] { slave->Stop(StopMode::kFast); });
  } else {
    run.Step(*slave, "stop", [&] { slave->Stop(StopMode::kFast); });
    run.Step(*master, "stop", [&] { master->Stop(StopMode::kFast); });
    old_end = run.Step(*master, "read WAL position", [&] { return master->Facts(); });
  }
  try {
    NodeFacts have = run.PullMissingWal(*slave, *master, old_end);
    if (have.timeline != old_end.timeline || have.end_of_wal < old_end.end_of_wal) {
      throw Error(ErrorCode::kConflict,
                  slave->address().name + " has WAL to " + have.end_of_wal.ToString() +
                      " on timeline " + std::to_string(have.timeline) + ", the master to " +
                      old_end.end_of_wal.ToString() + ": refusing to lose WAL");
    }
    run.CarryLogicalSlots(*slave, master);
    run.Step(*slave, "start as master", [&] { slave->StartMaster(); });
  } catch (const Error& e) {
    // The slave did not become master (or not for sure): give the cluster its old one back.
    run.RollBackToOldMaster(*slave, *master, e);
  }
  run.StartSlaveOf(*master, *slave);
  run.WaitForSlaveOf(*master, *slave);
  return run.Finish();
}

OperationResult Cluster::PromoteLocal(const OperationOptions& options) {
  Run run(*this, "promote", options);
  NodeControl& self = *local_;
  auto state = run.TryState(self);
  if (!state || !InRecovery(*state)) {
    throw Error(ErrorCode::kWrongState, self.address().name + " is not a running slave");
  }
  run.CheckNoOtherMaster(self);
  run.Step(self, "promote", [&] { self.Promote(); });
  return run.Finish();
}

}  // namespace pgha
