#include "slot_keeper.hpp"

#include <atomic>
#include <iostream>

#include "agent_impl.hpp"

namespace pgha::agent {

namespace {

// How long a round waits for the master's slots (see Round).
constexpr auto kMasterCallBound = std::chrono::seconds(2);

/// The peer that runs as master now, when one does.
std::shared_ptr<RemoteNode> MasterPeer(Agent::Impl& a) {
  for (const auto& peer : a.peers()) {
    try {
      NodeState s = peer->State();
      if (s == NodeState::kMaster || s == NodeState::kSingle) return peer;
    } catch (const Error&) {
      // Unreachable peers are not the master this round.
    }
  }
  return nullptr;
}

}  // namespace

SlotKeeper::SlotKeeper(Agent::Impl& agent, std::chrono::milliseconds interval)
    : agent_(agent), interval_(interval) {}

SlotKeeper::~SlotKeeper() {
  Stop();
}

void SlotKeeper::Start() {
  if (interval_.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void SlotKeeper::Stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SlotKeeper::Loop() {
  std::string last_error;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    try {
      Round();
      last_error.clear();
    } catch (const std::exception& e) {
      // Logged once per distinct error: a stopped master fails every round the same way.
      if (last_error != e.what()) std::cerr << "pgha-agent: slot sync: " << e.what() << "\n";
      last_error = e.what();
    }
    lock.lock();
  }
}

std::optional<SlotSyncReport> SlotKeeper::Round() {
  LocalNode& local = *agent_.local;
  if (local.leases().Current()) return std::nullopt;  // an operation is changing the cluster
  if (local.State() != NodeState::kSlave) return std::nullopt;
  std::shared_ptr<RemoteNode> found = MasterPeer(agent_);
  if (!found) return std::nullopt;
  // A node of its own: RemoteNode carries an operation's lease header.
  RemoteNode master(found->address(), agent_.client);
  const std::string& self = local.address().name;
  // Bounded short: the round holds this node's lock while it asks the master, and a master
  // that is frozen or cut off must not keep the lock (and a failover) waiting for curl's own
  // timeout. A slow answer is only a round missed.
  MasterSlotsSource source = [&](const HoldChanges& c) {
    deadline::Scope bound(deadline::Clock::now() + kMasterCallBound);
    return master.MasterSlotsFor(self, c, /*ensure_physical_slot=*/false);
  };
  auto report = local.SyncSlotsFrom(master.address(), source, /*apply=*/true,
                                    /*allow_restart=*/false);
  if (!report || !report->restart_needed) return report;

  static std::atomic<std::uint64_t> counter{0};
  std::string holder = self + "/slot-sync/" + std::to_string(++counter);
  if (local.TryLock("slot sync: restart to load new slot copies", holder,
                    agent_.config()->operation_timeout)) {
    return report;  // an operation started meanwhile: next round
  }
  try {
    local.RestartStandby();
  } catch (...) {
    local.Unlock(holder);
    throw;
  }
  local.Unlock(holder);
  report = local.SyncSlotsFrom(master.address(), source, /*apply=*/true, /*allow_restart=*/false);
  if (report) report->restarted = true;
  return report;
}

}  // namespace pgha::agent
