// A node's state kept by a background observer, for readers that may see it a little late
// (the agent's GET instance/current). Operations never read it: they observe afresh
// (NodeControl::State), and every fresh observation also refreshes the cache (private).
#ifndef PGHA_HA_STATE_CACHE_HPP
#define PGHA_HA_STATE_CACHE_HPP

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "pgha/error.hpp"
#include "pgha/node_state.hpp"

namespace pgha {

/// The last observed state of one node and the thread that refreshes it.
///
/// Ordering: each observation takes a ticket before it starts; its result is kept only when
/// no observation that started later (and no Invalidate) was published before it. So once
/// Refresh() returns after a state change, no observation begun before the change can bring
/// the old state back.
///
/// Staleness: Cached() serves a state only while it is younger than `max_age`, measured from
/// the start of its observation; it never observes itself (it never blocks on the node).
/// With the observer thread running, the state served is at most `interval` plus one
/// observation old.
///
/// Thread-safe. `observe` must be callable from several threads at once.
class StateCache {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    /// How often the observer thread refreshes.
    std::chrono::milliseconds interval{100};
    /// The oldest state Cached() serves.
    std::chrono::milliseconds max_age{1000};
    /// The clock (tests replace it).
    std::function<Clock::time_point()> now = [] { return Clock::now(); };
  };

  /// `observe` asks the node for its state now; it may throw.
  StateCache(std::function<NodeState()> observe, Options options);
  ~StateCache();
  StateCache(const StateCache&) = delete;
  StateCache& operator=(const StateCache&) = delete;

  /// The cached state. Never observes. Throws the error of the last observation when it
  /// failed, Error(kTimeout) when there is no observation younger than max_age.
  NodeState Cached() const;
  /// Observes now, publishes the result (see Ordering) and returns it. When observe throws,
  /// the cache is invalidated (Cached() reports that error) and the error rethrown.
  NodeState Refresh();
  /// Refresh() that never throws: for after a state change, whose own outcome is what the
  /// caller reports, and for the observer thread.
  void RefreshQuietly() noexcept;
  /// Forgets the cached state; an observation that began before is not published.
  void Invalidate();

  /// Starts the observer thread: a Refresh now and every `interval` after. Idempotent.
  void StartObserver();
  /// Stops the observer thread and waits for it (at most one observation). Idempotent.
  void StopObserver() noexcept;

  /// How many observations were started (tests and statistics).
  std::uint64_t observations() const;

 private:
  void Publish(std::uint64_t ticket, Clock::time_point started, NodeState state);
  void Fail(std::uint64_t ticket, const Error& error);
  void ObserverLoop();

  std::function<NodeState()> observe_;
  Options options_;

  mutable std::mutex mutex_;
  std::uint64_t next_ticket_ = 1;
  std::uint64_t published_ticket_ = 0;
  bool valid_ = false;
  NodeState state_ = NodeState::kInactive;
  Clock::time_point observed_at_{};
  // Why the last published observation failed. Kept as code and text, not as the Error: a
  // copy of an Error shares its message buffer (libstdc++'s reference-counted exception
  // string) with the exception the observing thread rethrows, so readers on other threads
  // would touch a buffer whose count ThreadSanitizer cannot see.
  struct Failure {
    ErrorCode code;
    std::string message;
  };
  std::optional<Failure> failure_;
  std::uint64_t observations_ = 0;

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread observer_;
};

}  // namespace pgha

#endif  // PGHA_HA_STATE_CACHE_HPP
