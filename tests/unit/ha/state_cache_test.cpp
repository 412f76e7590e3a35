// The cached node state behind GET instance/current: what it serves and for how long, the
// order in which observations count, failures, and its observer thread.
#include <doctest/doctest.h>

#include <atomic>
#include <future>

#include "pgha/error.hpp"
#include "state_cache.hpp"

using pgha::ErrorCode;
using pgha::NodeState;
using pgha::StateCache;

namespace {

using namespace std::chrono_literals;

// A node whose state the test sets, and a clock the test moves.
struct World {
  std::atomic<NodeState> state{NodeState::kMaster};
  std::atomic<int> asked{0};
  std::atomic<bool> fail{false};
  StateCache::Clock::time_point now{};

  StateCache::Options Options(std::chrono::milliseconds interval = 100ms) {
    StateCache::Options o;
    o.interval = interval;
    o.max_age = 500ms;
    o.now = [this] { return now; };
    return o;
  }
  std::function<NodeState()> Observe() {
    return [this] {
      ++asked;
      if (fail) throw pgha::Error(ErrorCode::kPostgresFailed, "fake: no answer");
      return state.load();
    };
  }
};

ErrorCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    return e.code();
  }
  return ErrorCode::kOk;
}

// A bounded wait on a condition (no sleep as synchronisation).
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// An observe function whose first call sees `first` and then waits inside until released
// (a slow query that began before a state change); later calls see the world's state.
class SlowFirst {
 public:
  SlowFirst(World& w, NodeState first) : w_(w), first_(first), release_(gate_.get_future()) {}
  std::function<NodeState()> Observe() {
    return [this] {
      if (calls_++ > 0) return w_.state.load();
      entered_.set_value();
      release_.wait();
      return first_;
    };
  }
  void WaitEntered() { entered_.get_future().wait(); }
  void Release() { gate_.set_value(); }

 private:
  World& w_;
  NodeState first_;
  std::atomic<int> calls_{0};
  std::promise<void> entered_;
  std::promise<void> gate_;
  std::shared_future<void> release_;
};

}  // namespace

TEST_CASE("the cache serves its last observation while it is younger than max_age") {
  World w;
  StateCache cache(w.Observe(), w.Options());
  CHECK(CodeOf([&] { cache.Cached(); }) == ErrorCode::kTimeout);  // nothing observed yet
  CHECK(w.asked == 0);                                            // and Cached never asks
  CHECK(cache.Refresh() == NodeState::kMaster);
  w.state = NodeState::kInactive;  // an external change, not seen yet
  w.now += 499ms;
  CHECK(cache.Cached() == NodeState::kMaster);
  w.now += 1ms;  // max_age reached: an older state is never served
  CHECK(CodeOf([&] { cache.Cached(); }) == ErrorCode::kTimeout);
  CHECK(w.asked == 1);
  CHECK(cache.Refresh() == NodeState::kInactive);
  CHECK(cache.Cached() == NodeState::kInactive);
}

TEST_CASE("a change made through the node is served as soon as its Refresh returns") {
  World w;
  StateCache cache(w.Observe(), w.Options());
  cache.Refresh();
  w.state = NodeState::kSlave;
  CHECK(cache.Cached() == NodeState::kMaster);  // not yet refreshed: the change is running
  cache.RefreshQuietly();                       // the change returns
  CHECK(cache.Cached() == NodeState::kSlave);
}

TEST_CASE("a failed observation is reported by Cached until one succeeds") {
  World w;
  StateCache cache(w.Observe(), w.Options());
  cache.Refresh();
  w.fail = true;
  CHECK(CodeOf([&] { cache.Refresh(); }) == ErrorCode::kPostgresFailed);
  CHECK(CodeOf([&] { cache.Cached(); }) == ErrorCode::kPostgresFailed);  // not the old state
  cache.RefreshQuietly();                                                // never throws
  w.fail = false;
  w.state = NodeState::kSingle;
  cache.RefreshQuietly();
  CHECK(cache.Cached() == NodeState::kSingle);
  cache.Invalidate();
  CHECK(CodeOf([&] { cache.Cached(); }) == ErrorCode::kTimeout);
}

TEST_CASE("an observation begun before a later one cannot bring back the older state") {
  World w;
  SlowFirst slow_first(w, NodeState::kMaster);
  StateCache cache(slow_first.Observe(), w.Options());
  auto slow = std::async(std::launch::async, [&] { return cache.Refresh(); });
  slow_first.WaitEntered();
  w.state = NodeState::kInactive;  // the stop finished; its refresh publishes "inactive"
  CHECK(cache.Refresh() == NodeState::kInactive);
  slow_first.Release();
  CHECK(slow.get() == NodeState::kMaster);        // what it saw goes to its caller...
  CHECK(cache.Cached() == NodeState::kInactive);  // ...but not over the newer observation
}

TEST_CASE("an observation begun before Invalidate is not published") {
  World w;
  SlowFirst slow_first(w, NodeState::kMaster);
  StateCache cache(slow_first.Observe(), w.Options());
  auto slow = std::async(std::launch::async, [&] { return cache.Refresh(); });
  slow_first.WaitEntered();
  cache.Invalidate();
  slow_first.Release();
  slow.get();
  CHECK(CodeOf([&] { cache.Cached(); }) == ErrorCode::kTimeout);
}

TEST_CASE("the observer thread refreshes at once, and stops without waiting an interval") {
  World w;
  // An hour between refreshes: this passes only if the thread observes when it starts and
  // wakes up when told to stop.
  StateCache cache(w.Observe(), w.Options(std::chrono::hours(1)));
  cache.StartObserver();
  cache.StartObserver();  // idempotent: one thread
  REQUIRE(Eventually([&] { return w.asked >= 1; }));
  cache.StopObserver();
  CHECK(w.asked == 1);
  CHECK(cache.Cached() == NodeState::kMaster);
  cache.StopObserver();   // idempotent
  cache.StartObserver();  // and it starts again
  REQUIRE(Eventually([&] { return w.asked >= 2; }));
}

TEST_CASE("the observer thread keeps the cache current and survives failing observations") {
  World w;
  StateCache cache(w.Observe(), w.Options(1ms));
  cache.StartObserver();
  REQUIRE(Eventually([&] { return w.asked >= 3; }));
  w.fail = true;
  REQUIRE(
      Eventually([&] { return CodeOf([&] { cache.Cached(); }) == ErrorCode::kPostgresFailed; }));
  w.state = NodeState::kRecovery;
  w.fail = false;
  REQUIRE(Eventually([&] {
    return CodeOf([&] { cache.Cached(); }) == ErrorCode::kOk &&
           cache.Cached() == NodeState::kRecovery;
  }));
  cache.StopObserver();
}
