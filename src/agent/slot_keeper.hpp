// Keeps this node's copies of the master's logical slots while it is a standby: one round
// every slot_sync_interval (docs/slots.md).
#ifndef PGHA_AGENT_SLOT_KEEPER_HPP
#define PGHA_AGENT_SLOT_KEEPER_HPP

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "pgha/agent.hpp"
#include "pgha/logical_slots.hpp"

namespace pgha::agent {

class SlotKeeper {
 public:
  SlotKeeper(Agent::Impl& agent, std::chrono::milliseconds interval);
  ~SlotKeeper();
  SlotKeeper(const SlotKeeper&) = delete;
  SlotKeeper& operator=(const SlotKeeper&) = delete;

  /// Starts the rounds (none when the interval is 0).
  void Start();
  void Stop() noexcept;
  /// One round now: nothing unless this node is a streaming standby, its master answers and
  /// no operation holds the lease. New copies are loaded by a restart taken under the lease.
  /// Returns the round's report, if one ran. Errors are returned to the caller.
  std::optional<SlotSyncReport> Round();

 private:
  void Loop();

  Agent::Impl& agent_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pgha::agent

#endif  // PGHA_AGENT_SLOT_KEEPER_HPP
