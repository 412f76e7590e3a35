// The operation lease of one node: one holder at a time, expiry, and the holder check that
// frees a lease whose coordinating agent died and came back.
#include "lease_table.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>

using pgha::LeaseTable;
using std::chrono::milliseconds;

TEST_CASE("A lease has one holder until released") {
  LeaseTable t;
  CHECK_FALSE(t.TryAcquire("switchover masterSlave", "n1/1/1", milliseconds(60000)));
  CHECK(t.TryAcquire("failover promote", "n2/1/1", milliseconds(60000)) ==
        std::optional<std::string>("switchover masterSlave"));
  CHECK_FALSE(t.TryAcquire("switchover masterSlave", "n1/1/1", milliseconds(60000)));  // renewal
  CHECK(t.HeldBy("n1/1/1"));
  t.Release("n2/1/1");  // not the holder: nothing happens
  CHECK(t.Current() == std::optional<std::string>("switchover masterSlave"));
  t.Release("n1/1/1");
  CHECK_FALSE(t.Current());
  CHECK_FALSE(t.TryAcquire("failover promote", "n2/1/1", milliseconds(60000)));
}

TEST_CASE("An expired lease is free") {
  LeaseTable t;
  CHECK_FALSE(t.TryAcquire("a", "n1/1/1", milliseconds(0)));
  CHECK_FALSE(t.HeldBy("n1/1/1"));
  CHECK_FALSE(t.TryAcquire("b", "n2/1/1", milliseconds(60000)));
}

TEST_CASE("The holder check frees a lease only when it says the holder is gone") {
  LeaseTable t;
  std::atomic<int> asked{0};
  bool gone = false;
  std::string asked_about;
  t.SetHolderCheck([&](const std::string& holder) {
    ++asked;
    asked_about = holder;
    return gone;
  });
  CHECK_FALSE(t.TryAcquire("switchover slaveMaster", "n1/7/1", milliseconds(60000)));
  CHECK(t.TryAcquire("failover restart", "n2/9/1", milliseconds(60000)) ==
        std::optional<std::string>("switchover slaveMaster"));
  CHECK(asked == 1);
  CHECK(asked_about == "n1/7/1");
  CHECK(t.HeldBy("n1/7/1"));

  gone = true;
  CHECK_FALSE(t.TryAcquire("failover restart", "n2/9/1", milliseconds(60000)));
  CHECK(t.HeldBy("n2/9/1"));
  CHECK(asked == 2);

  // The holder itself and a free lease never ask.
  CHECK_FALSE(t.TryAcquire("failover restart", "n2/9/1", milliseconds(60000)));
  t.Release("n2/9/1");
  CHECK_FALSE(t.TryAcquire("x", "n1/8/1", milliseconds(60000)));
  CHECK(asked == 2);
}

namespace {

// A clock the test moves.
struct FakeClock {
  LeaseTable::Clock::time_point now{std::chrono::hours(1)};
  LeaseTable::Now Fn() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("A renewed lease outlives its first TTL; one not renewed runs out at its TTL") {
  FakeClock clock;
  LeaseTable t(clock.Fn());
  CHECK_FALSE(t.TryAcquire("switchover masterSlave", "n1/1/1", milliseconds(3000)));
  for (int i = 0; i < 10; ++i) {  // renewed every third of the TTL: 10 s, held throughout
    clock.now += milliseconds(1000);
    CHECK(t.HeldBy("n1/1/1"));
    CHECK(t.TryAcquire("failover promote", "n2/1/1", milliseconds(3000)) ==
          std::optional<std::string>("switchover masterSlave"));
    CHECK_FALSE(t.TryAcquire("switchover masterSlave", "n1/1/1", milliseconds(3000)));
  }
  clock.now += milliseconds(2999);  // not renewed any more
  CHECK(t.HeldBy("n1/1/1"));
  clock.now += milliseconds(1);
  CHECK_FALSE(t.HeldBy("n1/1/1"));
  CHECK_FALSE(t.Current());
}

TEST_CASE("An expired lease goes to the next holder, and its old holder's renewal is refused") {
  FakeClock clock;
  LeaseTable t(clock.Fn());
  CHECK_FALSE(t.TryAcquire("switchover masterSlave", "n1/1/1", milliseconds(3000)));
  clock.now += milliseconds(3000);
  CHECK_FALSE(t.TryAcquire("failover promote", "n2/1/1", milliseconds(3000)));
  CHECK(t.TryAcquire("switchover masterSlave", "n1/1/1", milliseconds(3000)) ==
        std::optional<std::string>("failover promote"));
  CHECK(t.HeldBy("n2/1/1"));
  t.Release("n1/1/1");  // the old holder giving back what it lost frees nothing
  CHECK(t.HeldBy("n2/1/1"));
  // An expired lease nobody took is granted to its old holder again (the operation, which
  // measures its renewals, tells a lapse from a renewal).
  clock.now += milliseconds(5000);
  CHECK_FALSE(t.TryAcquire("failover promote", "n2/1/1", milliseconds(3000)));
}
