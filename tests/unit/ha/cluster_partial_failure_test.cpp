// The cluster operations under partial failure (issue 11, items 1 and 2): a start that fails
// half-way, a stop whose answer is lost, a node that is starting and cannot say its role yet.
// The fake records every point where two servers run as primaries: never more than one.
#include <doctest/doctest.h>

#include <string>

#include "fake_node.hpp"
#include "pgha/cluster.hpp"

using pgha::Cluster;
using pgha::ErrorCode;
using pgha::FailoverMethod;
using pgha::NodeState;
using pgha::Sequence;
using pgha::test::FakeWorld;
using pgha::test::HalfWay;

namespace {

using States = std::map<std::string, std::string>;

// What fn threw (code kOk and no message when it did not).
pgha::Error ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    return e;
  }
  return pgha::Error(ErrorCode::kOk, "");
}

bool Has(const pgha::Error& e, const std::string& text) {
  return std::string(e.what()).find(text) != std::string::npos;
}

// n1 master, n2 its slave, with WAL written.
void Pair(FakeWorld& w) {
  Cluster c = w.MakeCluster("n1", {"n2"});
  REQUIRE(c.StartAll(Sequence::kMasterSlave).states == States{{"n1", "master"}, {"n2", "slave"}});
  w.Write("n1", 0x5000);
}

// n1 was the master and is coming back up (crash recovery, or a start still going on): its
// server does not accept connections yet and has no standby configuration.
void StartingAsPrimary(FakeWorld& w, const std::string& name) {
  w[name].running = true;
  w[name].standby = false;
  w[name].upstream.clear();
  w[name].starting = true;
}

// The stops of `pg` fail as `how` once it runs as a primary (the switchover's own stop of the
// slave works).
void FailStopsOnceMaster(pgha::test::FakePg& pg, HalfWay how) {
  pg.on_state = [how](pgha::test::FakePg& p) {
    if (p.running && !p.standby) p.stop_fails = how;
  };
}

}  // namespace

TEST_CASE("switchover: a new master's start that fails half-way is stopped before the rollback") {
  for (Sequence order : {Sequence::kMasterSlave, Sequence::kSlaveMaster}) {
    for (HalfWay stop : {HalfWay::kNo, HalfWay::kAfter}) {
      CAPTURE(static_cast<int>(order));
      CAPTURE(static_cast<int>(stop));
      FakeWorld w;
      Pair(w);
      // The start times out while the postmaster goes on (or its answer is lost): n2 runs as
      // a primary. The stop of the rollback may lose its answer too: what is seen counts.
      w["n2"].start_fails = HalfWay::kAfter;
      FailStopsOnceMaster(w["n2"], stop);
      pgha::Error e = ErrorOf([&] { w.MakeCluster("n1", {"n2"}).Switchover(order); });
      CHECK(w.MostPrimaries() == 1);
      // The first error is the one thrown, with the rollback's outcome after it.
      CHECK(e.code() == ErrorCode::kTimeout);
      CHECK(Has(e, "start as master on n2 failed: fake start timed out"));
      CHECK(Has(e, "rollback: n2 is stopped, n1 runs as master again"));
      CHECK_FALSE(w["n2"].running);
      CHECK(w["n1"].running);
      CHECK_FALSE(w["n1"].standby);
    }
  }
}

TEST_CASE("switchover: a new master that cannot be seen stopped leaves the old master stopped") {
  FakeWorld w;
  Pair(w);
  w["n2"].start_fails = HalfWay::kAfter;
  FailStopsOnceMaster(w["n2"], HalfWay::kBefore);  // the rollback's stop: n2 goes on running
  pgha::Error e = ErrorOf([&] { w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave); });
  CHECK(w.MostPrimaries() == 1);
  CHECK(e.code() == ErrorCode::kTimeout);
  CHECK(Has(e, "start as master on n2 failed"));
  CHECK(Has(e, "n1 is left stopped"));
  CHECK(Has(e, "fake stop timed out"));  // why n2 could not be stopped
  CHECK_FALSE(w["n1"].running);

  // Its agent stops answering after the half-way start: it cannot be seen stopped either.
  FakeWorld w2;
  Pair(w2);
  w2["n2"].start_fails = HalfWay::kAfter;
  w2["n2"].on_state = [](pgha::test::FakePg& pg) {
    if (pg.running && !pg.standby) pg.reachable = false;
  };
  e = ErrorOf([&] { w2.MakeCluster("n1", {"n2"}).Switchover(Sequence::kSlaveMaster); });
  CHECK(w2.MostPrimaries() == 1);
  CHECK(e.code() == ErrorCode::kTimeout);
  CHECK(Has(e, "n2 is not answering"));
  CHECK_FALSE(w2["n1"].running);
}

TEST_CASE("switchover: a rollback that fails keeps the first error") {
  FakeWorld w;
  Pair(w);
  w["n2"].start_fails = HalfWay::kAfter;
  w["n1"].start_fails = HalfWay::kBefore;  // the old master does not start again
  pgha::Error e = ErrorOf([&] { w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave); });
  CHECK(w.MostPrimaries() == 1);
  CHECK(e.code() == ErrorCode::kTimeout);  // n2's, not the rollback's kPostgresFailed
  CHECK(std::string(e.what()).rfind("switchover masterSlave: start as master on n2 failed", 0) ==
        0);
  CHECK(Has(e, "restarting n1 failed"));
  CHECK_FALSE(w["n1"].running);
  CHECK_FALSE(w["n2"].running);

  // A refusal before the start (nothing started) rolls back too, the refusal first.
  FakeWorld w2;
  Pair(w2);
  w2["n2"].start_fails = HalfWay::kBefore;
  e = ErrorOf([&] { w2.MakeCluster("n1", {"n2"}).Switchover(Sequence::kSlaveMaster); });
  CHECK(e.code() == ErrorCode::kPostgresFailed);
  CHECK(Has(e, "n1 runs as master again"));
  CHECK(w2["n1"].running);
  CHECK(w2.MostPrimaries() == 1);
}

TEST_CASE("a node starting as a primary counts as a master for every safety check") {
  FakeWorld w;
  Pair(w);
  StartingAsPrimary(w, "n1");  // the master crashed and is in crash recovery
  CHECK(w.MakeCluster("n1", {"n2"}).AllStates().states ==
        States{{"n1", "starting"}, {"n2", "recovery"}});
  auto refused = [&](const std::function<void(Cluster&)>& op) {
    Cluster c = w.MakeCluster("n2", {"n1"});
    pgha::Error e = ErrorOf([&] { op(c); });
    CHECK(e.code() == ErrorCode::kConflict);
    CHECK(Has(e, "n1 is starting as a primary"));
    CHECK(w.MostPrimaries() == 1);
    CHECK(w["n2"].standby);  // neither promoted nor restarted as a master
  };
  refused([](Cluster& c) { c.Failover(FailoverMethod::kPromote); });
  refused([](Cluster& c) { c.Failover(FailoverMethod::kRestart); });
  refused([](Cluster& c) { c.PromoteLocal(); });
  refused([](Cluster& c) { c.Switchover(Sequence::kMasterSlave); });
  refused([](Cluster& c) { c.StartSlave(); });  // it cannot be followed yet either
  w.MakeCluster("n2", {"n1"}).StopRole(NodeState::kSlave);
  refused([](Cluster& c) { c.StartMaster(); });
  refused([](Cluster& c) { c.StartCurrent(); });
  refused([](Cluster& c) { c.StartAll(Sequence::kSlaveMaster); });
  CHECK_FALSE(w["n2"].running);

  // Once up, it is the master the others follow.
  w["n1"].starting = false;
  CHECK(w.MakeCluster("n2", {"n1"}).StartSlave().states ==
        States{{"n2", "slave"}, {"n1", "master"}});
  CHECK(w.MostPrimaries() == 1);
}

TEST_CASE("a node that turns out to be starting as the failover looks for WAL is a master") {
  FakeWorld w;
  Pair(w);
  w.MakeCluster("n2", {"n1"}).StopRole(NodeState::kMaster);
  // Stopped when asked "is it a master?", starting (as a primary) when asked for its WAL.
  int looks = 0;
  w["n1"].on_state = [&looks, &w](pgha::test::FakePg& pg) {
    if (++looks == 2) StartingAsPrimary(w, "n1");
    (void)pg;
  };
  pgha::Error e = ErrorOf([&] { w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote); });
  CHECK(e.code() == ErrorCode::kConflict);
  CHECK(w.MostPrimaries() == 1);
  CHECK(w["n2"].timeline == 1);
}

TEST_CASE("a starting standby is in recovery: no master, the others may become one") {
  FakeWorld w;
  Pair(w);
  w.MakeCluster("n1", {"n2"}).StopAll(Sequence::kMasterSlave);
  w["n2"].running = true;
  w["n2"].starting = true;  // standby configuration kept: it comes up as a standby
  CHECK(w.MakeCluster("n1", {"n2"}).AllStates().states ==
        States{{"n1", "inactive"}, {"n2", "recovery"}});
  CHECK(w.MakeCluster("n1", {"n2"}).StartMaster().states.at("n1") == "single");
  CHECK(w.MostPrimaries() == 1);
}

TEST_CASE("stopping the masters stops a node starting as one") {
  FakeWorld w;
  Pair(w);
  StartingAsPrimary(w, "n1");
  w.MakeCluster("n2", {"n1"}).StopRole(NodeState::kMaster);
  CHECK_FALSE(w["n1"].running);
  w["n2"].running = false;
  StartingAsPrimary(w, "n1");
  CHECK(w.MakeCluster("n2", {"n1"}).StopAll(Sequence::kMasterSlave).states ==
        States{{"n2", "inactive"}, {"n1", "inactive"}});
}
