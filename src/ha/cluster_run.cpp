#include "cluster_run.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "fault_point.hpp"

namespace pgha {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);

std::string NewHolder(const std::string& node) {
  static std::atomic<std::uint64_t> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return node + "/" + std::to_string(now) + "/" + std::to_string(++counter);
}

}  // namespace

Cluster::Run::Run(Cluster& cluster, std::string operation, const OperationOptions& options,
                  bool lock)
    : lease_ttl_(options.lease_ttl),
      cluster_(cluster),
      operation_(std::move(operation)),
      holder_(NewHolder(cluster.local_->address().name)),
      options_(options),
      deadline_(std::chrono::steady_clock::now() + options.timeout),
      deadline_scope_(deadline_) {
  if (!lock) return;
  if (lease_ttl_.count() <= 0 || lease_ttl_ > kMaxLeaseTtl) {
    throw Error(ErrorCode::kBadInput, "lease TTL " + std::to_string(lease_ttl_.count()) +
                                          " ms is not from 1 ms to " +
                                          std::to_string(kMaxLeaseTtl.count()) + " ms");
  }
  TakeLeases();
  try {
    renewer_ = std::thread([this] { RenewLeases(); });
  } catch (...) {
    ReleaseLeases();
    throw;
  }
}

Cluster::Run::~Run() {
  ReleaseLeases();
}

void Cluster::Run::TakeLeases() {
  for (NodeControl* node : AllNodes()) leases_.push_back({node, false, false, {}});
  try {
    for (Lease& lease : leases_) {
      NodeControl& node = *lease.node;
      auto sent = std::chrono::steady_clock::now();
      std::optional<std::string> running;
      try {
        running = node.TryLock(operation_, holder_, lease_ttl_);
      } catch (const Error& e) {
        // A peer that does not answer is locked as soon as it does (KeepLease).
        if (e.code() == ErrorCode::kPeerUnreachable && &node != cluster_.local_.get()) continue;
        throw;
      }
      if (running) {
        throw Error(ErrorCode::kConflict, "cannot run " + operation_ + ": " + *running +
                                              " is running (lease on " + node.address().name + ")");
      }
      lease.held = true;
      lease.renewed = sent;
    }
  } catch (...) {
    ReleaseLeases();
    throw;
  }
}

void Cluster::Run::BeforeStep(NodeControl& node, const std::string& action) {
  const std::string step = action + " on " + node.address().name;
  if (std::chrono::steady_clock::now() > deadline_) {
    throw Error(ErrorCode::kTimeout, operation_ + ": its deadline (" +
                                         std::to_string(options_.timeout.count()) +
                                         " ms) passed before " + step);
  }
  std::lock_guard<std::mutex> lock(lease_mutex_);
  for (Lease& lease : leases_) {
    if (lease.node == &node) KeepLease(lease);
  }
  if (lost_) {
    throw Error(lost_->code(), operation_ + ": stopped before " + step + ": " + lost_->what());
  }
}

void Cluster::Run::KeepLease(Lease& lease) {
  if (lease.lost) return;
  const std::string& name = lease.node->address().name;
  auto sent = std::chrono::steady_clock::now();
  std::optional<std::string> running;
  try {
    running = lease.node->TryLock(operation_, holder_, lease_ttl_);
  } catch (const Error& e) {
    // No answer: tried again at the next renewal; a step on the node finds it unreachable.
    if (e.code() == ErrorCode::kPeerUnreachable || e.code() == ErrorCode::kTimeout) return;
    lease.lost = true;
    if (!lost_) lost_ = Error(e.code(), "cannot keep the lease on " + name + ": " + e.what());
    return;
  }
  auto answered = std::chrono::steady_clock::now();
  if (running) {
    lease.lost = true;
    if (!lost_) {
      lost_ = Error(ErrorCode::kConflict,
                    (lease.held ? "lost the lease on " : "cannot take the lease on ") + name +
                        ": " + *running + " holds it now");
    }
    return;
  }
  if (lease.held && answered > lease.renewed + lease_ttl_ && !lost_) {
    // Granted again, but it may have run out in between, and another operation may have
    // taken it, changed the node and given it back.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(answered - lease.renewed);
    lost_ = Error(ErrorCode::kTimeout, "the lease on " + name + " lapsed: not renewed for " +
                                           std::to_string(ms.count()) + " ms (TTL " +
                                           std::to_string(lease_ttl_.count()) + " ms)");
  }
  lease.held = true;
  lease.renewed = sent;
}

void Cluster::Run::RenewLeases() {
  const auto interval = std::max(lease_ttl_ / 3, std::chrono::milliseconds(1));
  // Every step starts before the deadline, and a local one (pg_ctl) waits at most the
  // operation's timeout: past that, the coordinator is stuck, and its leases run out.
  const auto stop_at = deadline_ + options_.timeout;
  std::unique_lock<std::mutex> lock(lease_mutex_);
  while (!stopping_) {
    if (renew_cv_.wait_for(lock, interval, [this] { return stopping_.load(); })) return;
    if (std::chrono::steady_clock::now() > stop_at) return;
    for (Lease& lease : leases_) {
      if (stopping_) return;
      KeepLease(lease);
    }
  }
}

void Cluster::Run::ReleaseLeases() noexcept {
  stopping_ = true;
  { std::lock_guard<std::mutex> lock(lease_mutex_); }
  renew_cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  for (Lease& lease : leases_) {
    try {
      if (lease.held) lease.node->Unlock(holder_);
    } catch (...) {  // an unreachable peer's lease runs out by itself
    }
  }
  leases_.clear();
}

void Cluster::Run::FaultPoint(std::size_t index, const char* when, NodeControl& node,
                              const std::string& action) const {
  fault::Point("op:" + operation_ + ":" + std::to_string(index) + ":" + when,
               node.address().name + ": " + action);
}

std::vector<NodeControl*> Cluster::Run::AllNodes() {
  std::vector<NodeControl*> all{cluster_.local_.get()};
  for (auto& p : cluster_.peers_) all.push_back(p.get());
  return all;
}

std::optional<NodeState> Cluster::Run::TryState(NodeControl& node) {
  try {
    return node.State();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kPeerUnreachable) return std::nullopt;
    throw;
  }
}

std::optional<NodeState> Cluster::Run::StateOfWalHolder(NodeControl& peer, NodeControl& self) {
  std::optional<NodeState> state = TryState(peer);
  if (!state && !options_.force) {
    // Going on without it would skip the WAL its server wrote and never sent: lost
    // acknowledged writes, and after a start on the same timeline a diverged node.
    throw Error(ErrorCode::kPeerUnreachable,
                peer.address().name + " stopped answering: its WAL may not all be on " +
                    self.address().name +
                    ". HINT: retry; if that node is down, repeat with force=true");
  }
  if (state == NodeState::kStarting) throw StartingConflict(peer);
  if (state && MayBePrimary(*state)) {
    throw Error(ErrorCode::kConflict, peer.address().name + " runs as a " +
                                          std::string(NodeStateName(*state)) + ": " +
                                          self.address().name + " cannot become master");
  }
  return state;
}

std::vector<NodeControl*> Cluster::Run::OtherMasters(NodeControl& self) {
  std::vector<NodeControl*> masters;
  for (NodeControl* node : AllNodes()) {
    if (node == &self) continue;
    auto state = TryState(*node);
    if (!state) {
      if (options_.force) continue;
      throw Error(
          ErrorCode::kPeerUnreachable,
          "cannot ask " + node->address().name + " (" + node->address().agent_url +
              ") whether it is a master. HINT: if that node is down, repeat with force=true");
    }
    if (*state == NodeState::kStarting) throw StartingConflict(*node);
    if (IsPrimary(*state)) masters.push_back(node);
  }
  return masters;
}

NodeControl& Cluster::Run::TheMaster(NodeControl& self) {
  std::vector<NodeControl*> masters = OtherMasters(self);
  if (masters.empty()) {
    throw Error(ErrorCode::kWrongState,
                "no running master for " + self.address().name + " to follow");
  }
  if (masters.size() > 1) {
    throw Error(ErrorCode::kConflict, "several masters run (" + masters[0]->address().name + ", " +
                                          masters[1]->address().name + "): refusing to choose");
  }
  return *masters[0];
}

void Cluster::Run::CheckNoOtherMaster(NodeControl& self) {
  std::vector<NodeControl*> masters = OtherMasters(self);
  if (!masters.empty()) {
    throw Error(ErrorCode::kConflict, "cannot start " + self.address().name + " as master: " +
                                          masters[0]->address().name + " is already one");
  }
}

void Cluster::Run::StartSlaveOf(NodeControl& node, NodeControl& master) {
  NodeFacts facts = Step(node, "read WAL position", [&] { return node.Facts(); });
  if (facts.timeline != 0 && facts.end_of_wal.IsValid()) {
    ValidLsnAnswer answer = Step(
        master, "validLsn " + std::to_string(facts.timeline) + "/" + facts.end_of_wal.ToString(),
        [&] { return master.ValidLsn(facts.timeline, facts.end_of_wal, facts.last_record); });
    // Only 4 (past the switch point of an older timeline) is pg_rewind's to repair. 5 (the
    // node's last record is not the master's) and 2 (its end is not even a record boundary
    // there) mean different WAL at the same positions of one timeline: PostgreSQL would not
    // stream into it, and pg_rewind, which finds divergence at timeline switches, says "no
    // rewind required". Those, like 1 and 3, need a new copy of the master.
    if (answer.code == 4) {
      Step(node, "rewind from " + master.address().name,
           [&] { return StepDetail{node.Rewind(master.address())}; });
    } else if (answer.code != 0) {
      throw Error(ErrorCode::kConflict, node.address().name + " cannot follow " +
                                            master.address().name + ": " + answer.msg +
                                            " (timeline " + std::to_string(facts.timeline) + ", " +
                                            facts.end_of_wal.ToString() +
                                            "). HINT: re-create it from the master with pg/sync");
    }
  }
  Step(node, "start as slave of " + master.address().name,
       [&] { node.StartSlave(master.address()); });
}

void Cluster::Run::CatchUpBeforeMaster(NodeControl& self) {
  NodeFacts mine = Step(self, "read WAL position", [&] { return self.Facts(); });
  for (NodeControl* peer : AllNodes()) {
    if (peer == &self) continue;
    if (StateOfWalHolder(*peer, self) != NodeState::kInactive) continue;
    NodeFacts theirs = Step(*peer, "read WAL position", [&] { return peer->Facts(); });
    if (theirs.timeline == mine.timeline && theirs.end_of_wal > mine.end_of_wal) {
      mine = PullMissingWal(self, *peer, theirs);
    } else if (theirs.timeline > mine.timeline) {
      ValidLsnAnswer on = peer->ValidLsn(mine.timeline, mine.end_of_wal);
      if (on.code == 0) {
        throw Error(ErrorCode::kConflict, peer->address().name + " has a newer timeline (" +
                                              std::to_string(theirs.timeline) +
                                              ") that continues " + self.address().name +
                                              "'s WAL: start " + peer->address().name +
                                              " as master instead");
      }
    }
  }
}

bool Cluster::Run::HasAllWalOf(const NodeFacts& have, const NodeFacts& theirs) {
  return have.timeline == theirs.timeline && have.end_of_wal == theirs.end_of_wal;
}

NodeFacts Cluster::Run::PullMissingWal(NodeControl& to, NodeControl& from,
                                       std::optional<NodeFacts> from_facts) {
  NodeFacts have = Step(to, "read WAL position", [&] { return to.Facts(); });
  NodeFacts theirs =
      from_facts ? *from_facts : Step(from, "read WAL position", [&] { return from.Facts(); });
  // Listing would hash, and copying re-install, the segment both already have.
  if (HasAllWalOf(have, theirs)) return have;
  std::vector<WalFileRef> files = Step(from, "list WAL after " + have.end_of_wal.ToString(), [&] {
    return from.WalFilesFrom(have.timeline, have.end_of_wal);
  });
  for (const WalFileRef& file : files) {
    Step(to, "copy " + file.name + " from " + from.address().name,
         [&] { to.PullWalFile(from.address(), file); });
  }
  return files.empty() ? have : Step(to, "read WAL position", [&] { return to.Facts(); });
}

void Cluster::Run::WaitForState(NodeControl& node, NodeState want) {
  Step(node, "wait for state " + std::string(NodeStateName(want)), [&] {
    while (true) {
      auto state = TryState(node);
      if (state == want) return;
      if (state == NodeState::kInactive) {  // it stopped (or crashed): it will not get there
        throw Error(ErrorCode::kWrongState,
                    node.address().name + " is inactive, not " + std::string(NodeStateName(want)));
      }
      if (std::chrono::steady_clock::now() > deadline_) {
        throw Error(ErrorCode::kTimeout,
                    node.address().name + " is " +
                        (state ? std::string(NodeStateName(*state)) : "unreachable") + ", not " +
                        std::string(NodeStateName(want)) + ", at the deadline");
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  });
}

void Cluster::Run::WaitForSlaveOf(NodeControl& slave, NodeControl& master) {
  WaitForState(slave, NodeState::kSlave);
  Step(slave, "wait for the timeline of " + master.address().name, [&] {
    while (true) {
      TimelineId want = master.Facts().timeline;
      NodeFacts facts = slave.Facts();
      TimelineId have = facts.timeline;
      if (have == want) return;
      if (facts.state == NodeState::kInactive) {
        throw Error(ErrorCode::kWrongState, slave.address().name + " is inactive, on timeline " +
                                                std::to_string(have) + ", not " +
                                                std::to_string(want));
      }
      if (std::chrono::steady_clock::now() > deadline_) {
        throw Error(ErrorCode::kTimeout, slave.address().name + " streams timeline " +
                                             std::to_string(have) + ", not " +
                                             std::to_string(want) + ", at the deadline");
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  });
  WaitForState(slave, NodeState::kSlave);
  WaitForState(master, NodeState::kMaster);
}

bool Cluster::Run::WaitForPosition(NodeControl& node, TimelineId timeline, Lsn target) {
  return Step(node, "wait for WAL up to " + target.ToString(), [&] {
    while (true) {
      NodeFacts f = node.Facts();
      if (f.timeline == timeline && f.end_of_wal >= target) return true;
      // Only a streaming node receives more: one that stopped, or whose upstream is gone,
      // ends where it is (the caller copies what it lacks).
      if (f.state != NodeState::kSlave) return false;
      if (std::chrono::steady_clock::now() > deadline_) return false;
      std::this_thread::sleep_for(kPollInterval);
    }
  });
}

void Cluster::Run::CarryLogicalSlots(NodeControl& to, NodeControl* from) {
  if (from == nullptr) {
    // The master cannot be asked: the copies stay as the last slot sync left them.
    std::vector<LogicalSlot> copies;
    try {
      copies = to.LogicalSlots();
    } catch (const Error&) {
      return;
    }
    for (const LogicalSlot& c : copies) {
      SlotCopyStatus st;
      st.slot = c.name;
      st.node = to.address().name;
      st.installed = true;
      st.restart_lsn = c.restart_lsn;
      st.confirmed_flush = c.confirmed_flush;
      st.catalog_xmin = c.catalog_xmin;
      st.reason = "the old master could not be asked: the copy is as the last slot sync left it";
      slots_.push_back(st);
    }
    return;
  }
  try {
    std::vector<LogicalSlot> slots =
        Step(*from, "read logical slots", [&] { return from->LogicalSlots(); });
    if (slots.empty()) {
      // Still drops copies of slots the master dropped.
      to.TakeLogicalSlots(slots);
      return;
    }
    SlotSyncReport report =
        Step(to, "copy logical slots", [&] { return to.TakeLogicalSlots(slots); });
    for (SlotCopyStatus& st : report.slots) {
      st.node = to.address().name;
      slots_.push_back(st);
    }
  } catch (const Error& e) {
    for (const SlotCopyStatus& st : slots_)
      if (st.node == to.address().name) return;
    SlotCopyStatus st;
    st.node = to.address().name;
    st.reason = std::string("logical slots not carried: ") + e.what();
    slots_.push_back(st);
  }
}

Error Cluster::Run::StartingConflict(const NodeControl& node) {
  return Error(ErrorCode::kConflict,
               node.address().name +
                   " is starting as a primary (or in a role not known yet: its server does not "
                   "accept connections yet). HINT: retry when it is up");
}

void Cluster::Run::RollBackToOldMaster(NodeControl& candidate, NodeControl& old_master,
                                       const Error& cause) {
  auto failed = [&](const std::string& outcome) {
    return Error(cause.code(), std::string(cause.what()) + "; rollback: " + outcome);
  };
  const std::string& name = candidate.address().name;
  std::string why;  // what the stop said; its answer may be lost, the state seen decides
  auto seen = [&]() -> std::optional<NodeState> {
    try {
      return TryState(candidate);
    } catch (const Error& e) {
      why = e.what();
      return std::nullopt;
    }
  };
  std::optional<NodeState> state = seen();
  if (state != NodeState::kInactive) {
    try {
      Step(candidate, "stop before the old master restarts",
           [&] { candidate.Stop(StopMode::kFast); });
    } catch (const Error& e) {
      why = e.what();
    }
    state = seen();
  }
  if (state != NodeState::kInactive) {
    throw failed(name + " is " + (state ? std::string(NodeStateName(*state)) : "not answering") +
                 (why.empty() ? "" : " (" + why + ")") +
                 ", not seen stopped: " + old_master.address().name +
                 " is left stopped, so that only one of them can be a master. HINT: stop " + name +
                 " or see that it runs as the master, then start the other as its slave");
  }
  try {
    Step(old_master, "restart old master", [&] { old_master.StartMaster(); });
  } catch (const Error& e) {
    throw failed(name + " is stopped; restarting " + old_master.address().name +
                 " failed: " + e.what());
  }
  throw failed(name + " is stopped, " + old_master.address().name + " runs as master again");
}

OperationResult Cluster::Run::Finish() {
  OperationResult result;
  result.operation = operation_;
  result.steps = steps_;
  result.slots = slots_;
  for (NodeControl* node : AllNodes()) {
    auto state = TryState(*node);
    result.states[node->address().name] =
        state ? std::string(NodeStateName(*state)) : "unreachable";
  }
  return result;
}

}  // namespace pgha
