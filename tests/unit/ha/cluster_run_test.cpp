// An operation's leases and deadline over simulated nodes whose leases expire on the world's
// clock, and whose changing calls need the caller's lease as an agent's internal routes do.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "fake_node.hpp"
#include "pgha/cluster.hpp"

using pgha::ErrorCode;
using pgha::OperationOptions;
using pgha::OperationResult;
using pgha::Sequence;
using pgha::test::FakeWorld;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

namespace {

using States = std::map<std::string, std::string>;

struct Outcome {
  ErrorCode code = ErrorCode::kOk;
  std::string message;
};

Outcome Run(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    return {e.code(), e.what()};
  }
  return {};
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// n1 master, n2 its slave.
void Pair(FakeWorld& w) {
  CHECK(w.MakeCluster("n1", {"n2"}).StartAll(Sequence::kMasterSlave).states ==
        States{{"n1", "master"}, {"n2", "slave"}});
}

// Another operation takes `node`'s lease (its holder's agent is elsewhere).
void TakenByAnother(FakeWorld& w, const std::string& node, const std::string& operation) {
  std::lock_guard<std::recursive_mutex> lock(w.mutex());
  w[node].lease = "n3/1/1";
  w[node].lease_operation = operation;
  w[node].lease_expires = steady_clock::time_point::max();
}

// Real time passes (a slow step), polled: the operation's own clock is steady_clock.
void LetTimePass(milliseconds d) {
  const auto until = steady_clock::now() + d;
  while (steady_clock::now() <= until) std::this_thread::sleep_for(milliseconds(5));
}

}  // namespace

TEST_CASE("an operation that runs longer than the lease TTL it started with keeps its leases") {
  // Until issue 11 a lease lasted the operation's timeout + 30 s from the start, never
  // renewed: a switchover whose stops and starts took 8 s each outlived it at its 5th change.
  FakeWorld w;
  Pair(w);
  w.call_cost = seconds(8);
  OperationOptions o;
  o.timeout = seconds(2);
  const auto start = w.Now();
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kSlaveMaster, o);
  CHECK(r.states == States{{"n1", "slave"}, {"n2", "master"}});
  CHECK(w.Now() - start > o.timeout + seconds(30));
  CHECK(w["n1"].calls_without_lease == 0);
  CHECK(w["n2"].calls_without_lease == 0);
  CHECK(w["n1"].lease.empty());
  CHECK(w["n2"].lease.empty());
}

TEST_CASE("a lease lost during an operation stops it before its next step") {
  FakeWorld w;
  Pair(w);
  // While the master stops, another operation takes the slave's lease.
  w.on_change = [&](const std::string& node, const std::string& call) {
    if (node == "n1" && call == "stop") TakenByAnother(w, "n2", "failover promote");
  };
  Outcome out = Run([&] { w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave); });
  CHECK(out.code == ErrorCode::kConflict);
  CHECK(Has(out.message, "lost the lease on n2"));
  CHECK(Has(out.message, "failover promote"));
  // Nothing was tried on n2 without its lease, nor changed anywhere after the loss.
  CHECK(w["n2"].calls_without_lease == 0);
  CHECK(w["n2"].running);
  CHECK(w["n2"].standby);
  CHECK_FALSE(w["n1"].running);  // the step under way when the lease was lost
  CHECK(w["n1"].lease.empty());
  CHECK(w["n2"].lease == "n3/1/1");  // the other operation's, untouched
}

TEST_CASE("a peer that did not answer at the start is locked before a step touches it") {
  FakeWorld w;  // both stopped, same WAL
  w["n2"].reachable = false;
  OperationOptions force;
  force.force = true;
  bool same_holder = false;
  w.on_change = [&](const std::string& node, const std::string& call) {
    std::lock_guard<std::recursive_mutex> lock(w.mutex());
    if (node == "n1" && call == "start master") w["n2"].reachable = true;
    if (node == "n2" && call == "start slave") {
      same_holder = !w["n2"].lease.empty() && w["n2"].lease == w["n1"].lease;
    }
  };
  OperationResult r = w.MakeCluster("n1", {"n2"}).StartAll(Sequence::kMasterSlave, force);
  CHECK(r.states == States{{"n1", "master"}, {"n2", "slave"}});
  CHECK(same_holder);
  CHECK(w["n2"].calls_without_lease == 0);
  CHECK(w["n2"].lease.empty());  // given back at the end
}

TEST_CASE("a peer that answers again under another operation's lease stops the operation") {
  FakeWorld w;
  w["n2"].reachable = false;
  OperationOptions force;
  force.force = true;
  w.on_change = [&](const std::string& node, const std::string& call) {
    if (node != "n1" || call != "start master") return;
    std::lock_guard<std::recursive_mutex> lock(w.mutex());
    w["n2"].reachable = true;
    TakenByAnother(w, "n2", "start slave");
  };
  Outcome out = Run([&] { w.MakeCluster("n1", {"n2"}).StartAll(Sequence::kMasterSlave, force); });
  CHECK(out.code == ErrorCode::kConflict);
  CHECK(Has(out.message, "lease on n2"));
  CHECK(Has(out.message, "start slave"));
  CHECK(w["n2"].calls_without_lease == 0);
  CHECK_FALSE(w["n2"].running);
  CHECK(w["n1"].running);  // started before n2 answered again
  CHECK(w["n2"].lease == "n3/1/1");
}

TEST_CASE("no step starts after the operation's deadline") {
  FakeWorld w;
  Pair(w);
  OperationOptions o;
  o.timeout = milliseconds(100);
  // The slave's stop (the first step of slaveMaster) takes longer than the whole deadline.
  w.on_change = [&](const std::string& node, const std::string& call) {
    if (node == "n2" && call == "stop") LetTimePass(milliseconds(300));
  };
  Outcome out = Run([&] { w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kSlaveMaster, o); });
  CHECK(out.code == ErrorCode::kTimeout);
  CHECK(Has(out.message, "deadline"));
  CHECK(Has(out.message, "stop on n1"));
  CHECK(w["n1"].running);  // the master was not stopped after the deadline
  CHECK_FALSE(w["n1"].standby);
  CHECK_FALSE(w["n2"].running);
}

TEST_CASE("the leases are renewed while one long step runs") {
  FakeWorld w;
  Pair(w);
  OperationOptions o;
  o.lease_ttl = milliseconds(300);
  bool renewed = true;
  // The master's stop lasts 5 half-TTLs of world time; each half waits for a renewal of both
  // leases by the operation's renewer thread.
  w.on_change = [&](const std::string& node, const std::string& call) {
    if (node != "n1" || call != "stop") return;
    for (int i = 0; i < 5 && renewed; ++i) {
      w.Advance(o.lease_ttl / 2);
      int n1 = 0, n2 = 0;
      {
        std::lock_guard<std::recursive_mutex> lock(w.mutex());
        n1 = w["n1"].lease_renewals;
        n2 = w["n2"].lease_renewals;
      }
      const auto give_up = steady_clock::now() + seconds(10);
      while (true) {
        {
          std::lock_guard<std::recursive_mutex> lock(w.mutex());
          if (w["n1"].lease_renewals > n1 && w["n2"].lease_renewals > n2) break;
        }
        if (steady_clock::now() > give_up) {
          renewed = false;
          break;
        }
        std::this_thread::sleep_for(milliseconds(5));
      }
    }
  };
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave, o);
  CHECK(renewed);
  CHECK(r.states == States{{"n1", "slave"}, {"n2", "master"}});
  CHECK(w["n1"].calls_without_lease == 0);
}

TEST_CASE("a lease that lapsed while its node did not answer stops the operation") {
  FakeWorld w;
  Pair(w);
  OperationOptions o;
  o.lease_ttl = milliseconds(100);
  // n2's agent stops answering during the master's stop for longer than the TTL, then
  // answers again: its lease may have been another operation's meanwhile.
  w.on_change = [&](const std::string& node, const std::string& call) {
    if (node != "n1" || call != "stop") return;
    {
      std::lock_guard<std::recursive_mutex> lock(w.mutex());
      w["n2"].reachable = false;
    }
    LetTimePass(milliseconds(400));
    std::lock_guard<std::recursive_mutex> lock(w.mutex());
    w["n2"].reachable = true;  // the world's clock did not move: its lease looks held there
  };
  Outcome out = Run([&] { w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave, o); });
  CHECK(out.code == ErrorCode::kTimeout);
  CHECK(Has(out.message, "lease on n2 lapsed"));
  CHECK(w["n2"].calls_without_lease == 0);
  CHECK(w["n2"].running);
  CHECK(w["n2"].standby);
}

TEST_CASE("a lease TTL out of range is refused before anything is locked") {
  FakeWorld w;
  Pair(w);
  for (milliseconds ttl :
       {milliseconds(0), milliseconds(-5), pgha::kMaxLeaseTtl + milliseconds(1)}) {
    OperationOptions o;
    o.lease_ttl = ttl;
    CHECK(Run([&] { w.MakeCluster("n1", {"n2"}).StopAll(Sequence::kMasterSlave, o); }).code ==
          ErrorCode::kBadInput);
    CHECK(w["n1"].lease.empty());
    CHECK(w["n1"].running);
  }
}
