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
