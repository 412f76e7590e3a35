// The thread's operation deadline: nesting, what Bound gives, other threads unaffected.
#include <doctest/doctest.h>

#include <thread>

#include "op_deadline.hpp"

using namespace std::chrono_literals;
namespace deadline = pgha::deadline;

TEST_CASE("a deadline scope bounds the calls of its thread, nested scopes keep the earliest") {
  CHECK_FALSE(deadline::Current());
  CHECK(deadline::Bound(30s, 3s) == 30s);  // no operation: the call's own timeout
  auto now = deadline::Clock::now();
  {
    deadline::Scope outer(now + 10s);
    CHECK(deadline::Current() == now + 10s);
    CHECK(deadline::Bound(30s, 3s) <= 10s);
    CHECK(deadline::Bound(30s, 3s) > 9s);
    CHECK(deadline::Bound(2s, 3s) == 2s);  // a shorter own timeout stays
    CHECK(deadline::Bound(0ms, 3s) > 9s);  // "no limit" is limited by the operation
    {
      deadline::Scope later(now + 60s);  // a peer's longer deadline does not extend it
      CHECK(deadline::Current() == now + 10s);
      deadline::Scope sooner(now + 1s);
      CHECK(deadline::Current() == now + 1s);
    }
    CHECK(deadline::Current() == now + 10s);
    bool other_thread_has_one = true;
    std::thread([&] { other_thread_has_one = deadline::Current().has_value(); }).join();
    CHECK_FALSE(other_thread_has_one);
  }
  CHECK_FALSE(deadline::Current());
}

TEST_CASE("after the deadline a call still gets the floor, and Remaining is zero") {
  deadline::Scope passed(deadline::Clock::now() - 1s);
  CHECK(deadline::Remaining() == 0ms);
  CHECK(deadline::Bound(30s, 3s) == 3s);
  CHECK(deadline::Bound(30s, 0ms) == 1ms);  // never 0, "no limit" for a timeout
}
