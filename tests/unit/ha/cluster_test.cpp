// The cluster operations over simulated nodes: the seed's sequences and the safety rules.
#include <doctest/doctest.h>

#include "fake_node.hpp"
#include "pgha/cluster.hpp"

using pgha::Cluster;
using pgha::ErrorCode;
using pgha::FailoverMethod;
using pgha::Lsn;
using pgha::OperationResult;
using pgha::Sequence;
using pgha::test::FakeWorld;

namespace {

using States = std::map<std::string, std::string>;

ErrorCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    return e.code();
  }
  return ErrorCode::kOk;
}

// n1 master, n2 its slave, started by POST instance/all on n1.
void Pair(FakeWorld& w) {
  Cluster c = w.MakeCluster("n1", {"n2"});
  CHECK(c.StartAll(Sequence::kMasterSlave).states == States{{"n1", "master"}, {"n2", "slave"}});
}

}  // namespace

TEST_CASE("instance/all starts the master then its slaves, in either order") {
  for (Sequence order : {Sequence::kMasterSlave, Sequence::kSlaveMaster}) {
    FakeWorld w;
    OperationResult r = w.MakeCluster("n1", {"n2", "n3"}).StartAll(order);
    CHECK(r.states == States{{"n1", "master"}, {"n2", "slave"}, {"n3", "slave"}});
    CHECK_FALSE(r.steps.empty());
  }
}

TEST_CASE("instance/current starts single, then a slave of the running master") {
  FakeWorld w;
  CHECK(w.MakeCluster("n1", {"n2"}).StartCurrent().states ==
        States{{"n1", "single"}, {"n2", "inactive"}});
  CHECK(w.MakeCluster("n2", {"n1"}).StartCurrent().states ==
        States{{"n2", "slave"}, {"n1", "master"}});
}

TEST_CASE("never two masters: start master refuses while another node is or may be one") {
  FakeWorld w;
  w.MakeCluster("n1", {"n2"}).StartMaster();
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).StartMaster(); }) == ErrorCode::kConflict);
  CHECK_FALSE(w["n2"].running);

  w["n1"].reachable = false;  // n1's agent does not answer: it may still be a master
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).StartMaster(); }) == ErrorCode::kPeerUnreachable);
  CHECK_FALSE(w["n2"].running);
  pgha::OperationOptions force;
  force.force = true;
  CHECK(w.MakeCluster("n2", {"n1"}).StartMaster(force).states.at("n2") == "single");
  CHECK(w.MakeCluster("n2", {"n1"}).StartMaster(force).states.at("n1") == "unreachable");
}

TEST_CASE("switchover masterSlave: roles swap on the same timeline with no WAL lost") {
  FakeWorld w;
  Pair(w);
  w.Write("n1", 0x5000);
  Lsn before = w["n1"].end;
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave);
  CHECK(r.states == States{{"n1", "slave"}, {"n2", "master"}});
  CHECK(w["n2"].timeline == 1);
  CHECK(w["n2"].end > before);  // the old master's shutdown checkpoint too
  CHECK(w["n1"].rewinds == 0);
}

TEST_CASE(
    "switchover slaveMaster copies the WAL the stopped slave missed before it becomes master") {
  FakeWorld w;
  Pair(w);
  w.Write("n1", 0x5000);
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kSlaveMaster);
  CHECK(r.states == States{{"n1", "slave"}, {"n2", "master"}});
  CHECK(w["n2"].pulled > 0);    // the shutdown checkpoint it did not stream
  CHECK(w["n1"].rewinds == 0);  // so the old master follows without a rewind
  CHECK(w["n2"].timeline == 1);
}

TEST_CASE("failover restart keeps the timeline; promote starts a new one") {
  for (FailoverMethod how : {FailoverMethod::kRestart, FailoverMethod::kPromote}) {
    FakeWorld w;
    Pair(w);
    w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kMaster);
    OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(how);
    CHECK(r.states == States{{"n2", "single"}, {"n1", "inactive"}});
    CHECK(w["n2"].timeline == (how == FailoverMethod::kRestart ? 1u : 2u));
    // The old master rejoins as a slave (seed test cases 05 and 06, step 21).
    CHECK(w.MakeCluster("n1", {"n2"}).StartSlave().states ==
          States{{"n1", "slave"}, {"n2", "master"}});
    CHECK(w["n1"].rewinds == 0);
  }
}

TEST_CASE("failover refuses while the master runs, and without force when it cannot be asked") {
  FakeWorld w;
  Pair(w);
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote); }) ==
        ErrorCode::kConflict);
  w["n1"].reachable = false;
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote); }) ==
        ErrorCode::kPeerUnreachable);
  CHECK(w["n2"].timeline == 1);
  pgha::OperationOptions force;
  force.force = true;
  w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote, force);
  CHECK(w["n2"].timeline == 2);
}

TEST_CASE("a diverged old master is rewound before it starts as a slave, never started diverged") {
  FakeWorld w;
  Pair(w);
  // A partition: n2 cannot reach n1, which keeps writing on timeline 1; n2 is promoted by
  // force (timeline 2); then n1's host goes down.
  w["n1"].reachable = false;
  w["n2"].upstream = "nobody";
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).PromoteLocal(); }) == ErrorCode::kPeerUnreachable);
  pgha::OperationOptions force;
  force.force = true;
  w.MakeCluster("n2", {"n1"}).PromoteLocal(force);
  CHECK(w["n2"].timeline == 2);
  w["n1"].end = w["n1"].end + 0x10000;
  w["n1"].running = false;
  w["n1"].reachable = true;
  CHECK(w.ValidCode("n2", 1, w["n1"].end) == 4);
  OperationResult r = w.MakeCluster("n1", {"n2"}).StartSlave();
  CHECK(w["n1"].rewinds == 1);
  CHECK(r.states == States{{"n1", "slave"}, {"n2", "master"}});
  bool rewound = false;
  for (const auto& step : r.steps)
    rewound |= step.action == "rewind from n2" && step.ok && step.detail == "pg_rewind";
  CHECK(rewound);
}

TEST_CASE("a node ahead of the master on the same timeline is refused, not started") {
  FakeWorld w;
  Pair(w);
  w.MakeCluster("n1", {"n2"}).StopRole(pgha::NodeState::kSlave);
  w.Write("n1", 0x100);
  w["n2"].end = w["n1"].end + 0x1000;  // WAL the master never had
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).StartSlave(); }) == ErrorCode::kConflict);
  CHECK_FALSE(w["n2"].running);
}

TEST_CASE("an old master diverged on the same timeline is refused, neither started nor rewound") {
  // A forced failover by restart: n2 goes on on timeline 1 from where it was; n1 had written
  // past that, WAL n2 never received, and n2 then writes different WAL at those positions.
  FakeWorld w;
  Pair(w);
  w["n1"].running = false;  // the master died with WAL it never sent
  w["n1"].end = w["n1"].end + 0x400;
  w["n1"].record_tag = 7;
  w["n1"].reachable = false;
  pgha::OperationOptions force;
  force.force = true;
  w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kRestart, force);
  CHECK(w["n2"].timeline == 1);
  w.Write("n2", 0x2000);  // past n1's end: the boundaries look valid
  w["n1"].reachable = true;
  CHECK(w.ValidCode("n2", 1, w["n1"].end) == 0);
  try {
    w.MakeCluster("n1", {"n2"}).StartSlave();
    FAIL("a diverged node was started");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kConflict);
    CHECK(std::string(e.what()).find("pg/sync") != std::string::npos);
  }
  CHECK_FALSE(w["n1"].running);
  CHECK(w["n1"].rewinds == 0);
  // The same node with the master's WAL (what pg/sync gives it) follows.
  w["n1"].record_tag = w["n2"].record_tag;
  w["n1"].end = w["n2"].end;
  CHECK(w.MakeCluster("n1", {"n2"}).StartSlave().states ==
        States{{"n1", "slave"}, {"n2", "master"}});
}

TEST_CASE("one operation at a time across the cluster") {
  FakeWorld w;
  Pair(w);
  w["n2"].lease = "someone-else";
  w["n2"].lease_operation = "switchover masterSlave";
  try {
    w.MakeCluster("n1", {"n2"}).StopAll(Sequence::kSlaveMaster);
    FAIL("ran while another operation held a lease");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kConflict);
    CHECK(std::string(e.what()).find("switchover masterSlave") != std::string::npos);
  }
  CHECK(w["n1"].lease.empty());  // what it took was given back
  CHECK(w["n1"].running);
  w["n2"].lease.clear();
  CHECK(w.MakeCluster("n1", {"n2"}).StopAll(Sequence::kSlaveMaster).states ==
        States{{"n1", "inactive"}, {"n2", "inactive"}});
}

TEST_CASE("stop by role and by sequence") {
  FakeWorld w;
  Pair(w);
  CHECK(w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kSlave).states ==
        States{{"n1", "single"}, {"n2", "inactive"}});
  Pair(w);
  CHECK(w.MakeCluster("n1", {"n2"}).StopAll(Sequence::kMasterSlave).states ==
        States{{"n1", "inactive"}, {"n2", "inactive"}});
}

TEST_CASE("a stopped node becoming master first takes the WAL a stopped peer wrote after it") {
  for (Sequence order : {Sequence::kMasterSlave, Sequence::kSlaveMaster}) {
    FakeWorld w;
    Pair(w);
    w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave);  // n2 master
    w.Write("n2", 0x3000);
    w.MakeCluster("n1", {"n2"}).StopAll(Sequence::kSlaveMaster);  // n1 stops first: behind n2
    Lsn n2_end = w["n2"].end;
    CHECK(w["n1"].end < n2_end);
    OperationResult r = w.MakeCluster("n1", {"n2"}).StartAll(order);
    CHECK(r.states == States{{"n1", "master"}, {"n2", "slave"}});
    CHECK(w["n1"].pulled > 0);
    CHECK(w["n1"].end >= n2_end);
    CHECK(w["n2"].rewinds == 0);
  }
}

TEST_CASE("a node does not become master over a peer with a newer timeline continuing its WAL") {
  FakeWorld w;
  Pair(w);
  w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kMaster);
  w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote);  // n2 on timeline 2
  w.MakeCluster("n2", {"n1"}).StopLocal();
  CHECK(CodeOf([&] { w.MakeCluster("n1", {"n2"}).StartMaster(); }) == ErrorCode::kConflict);
  CHECK_FALSE(w["n1"].running);
  CHECK(w.MakeCluster("n2", {"n1"}).StartMaster().states.at("n2") == "single");
}

namespace {

bool HasStep(const OperationResult& r, const std::string& node, const std::string& action) {
  for (const auto& step : r.steps) {
    if (step.node == node && step.action.find(action) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a switchover copies no WAL when the slave already ends where the old master does") {
  FakeWorld w;
  Pair(w);
  w.Write("n1", 0x5000);
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave);
  CHECK(r.states == States{{"n1", "slave"}, {"n2", "master"}});
  // The slave streamed the shutdown checkpoint: the last segment is not listed or copied again.
  CHECK(w["n2"].pulled == 0);
  CHECK_FALSE(HasStep(r, "n1", "list WAL"));
  CHECK(w["n2"].end == w["n1"].end);
}

TEST_CASE("failover promote promotes a slave that has all the WAL as it runs") {
  FakeWorld w;
  Pair(w);
  w.Write("n1", 0x2000);
  w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kMaster);
  OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote);
  CHECK(r.states == States{{"n2", "single"}, {"n1", "inactive"}});
  CHECK(w["n2"].timeline == 2);
  CHECK_FALSE(HasStep(r, "n2", "stop"));
  CHECK_FALSE(HasStep(r, "n2", "start as standby"));
  CHECK(HasStep(r, "n2", "promote"));
  CHECK(w["n2"].pulled == 0);
}

TEST_CASE("failover promote first copies the WAL a stopped old master did not ship") {
  for (FailoverMethod how : {FailoverMethod::kRestart, FailoverMethod::kPromote}) {
    FakeWorld w;
    Pair(w);
    w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kMaster);
    w["n1"].end = w["n1"].end + 0x3000;  // written and flushed, never sent
    Lsn old_end = w["n1"].end;
    OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(how);
    CHECK(r.states == States{{"n2", "single"}, {"n1", "inactive"}});
    CHECK(w["n2"].pulled > 0);
    CHECK(w["n2"].end >= old_end);
    CHECK(HasStep(r, "n2", "stop"));
    CHECK(w["n2"].timeline == (how == FailoverMethod::kRestart ? 1u : 2u));
  }
}

TEST_CASE("failover stops when the old master's agent stops answering after the first check") {
  // Found by the fault suite (kill the old master's agent as the failover begins): skipping
  // the node then lost the WAL it had not shipped, and with restart left it diverged.
  for (FailoverMethod how : {FailoverMethod::kRestart, FailoverMethod::kPromote}) {
    FakeWorld w;
    Pair(w);
    w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kMaster);
    w["n1"].end = w["n1"].end + 0x3000;  // written and flushed, never sent
    Lsn slave_end = w["n2"].end;
    w["n1"].state_answers_left = 1;  // answers "is it a master?", then its agent dies
    CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).Failover(how); }) ==
          ErrorCode::kPeerUnreachable);
    // The slave is as it was: running, streaming configuration, nothing promoted or pulled.
    CHECK(w["n2"].running);
    CHECK(w["n2"].standby);
    CHECK(w["n2"].timeline == 1);
    CHECK(w["n2"].end == slave_end);
    CHECK(w["n2"].pulled == 0);
    // Its agent restarted (leases are in memory), the retried failover copies the WAL first.
    w["n1"].reachable = true;
    w["n1"].state_answers_left = -1;
    w["n1"].lease.clear();
    OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(how);
    CHECK(w["n2"].pulled > 0);
    CHECK(w["n2"].end >= w["n1"].end);
    CHECK(r.states.at("n2") == "single");
  }
}

TEST_CASE("starting a stopped node as master stops when a peer stops answering") {
  FakeWorld w;
  Pair(w);
  w.MakeCluster("n1", {"n2"}).StopRole(pgha::NodeState::kMaster);
  w.MakeCluster("n2", {"n1"}).StopRole(pgha::NodeState::kSlave);
  w["n1"].end = w["n1"].end + 0x3000;  // the old master's WAL n2 never received
  w["n1"].state_answers_left = 1;
  CHECK(CodeOf([&] { w.MakeCluster("n2", {"n1"}).StartCurrent(); }) == ErrorCode::kPeerUnreachable);
  CHECK_FALSE(w["n2"].running);
  CHECK(w["n2"].pulled == 0);
}

TEST_CASE("a forced failover promote with the old master's host down promotes as it runs") {
  FakeWorld w;
  Pair(w);
  w["n1"].running = false;  // the host died: PostgreSQL and agent gone
  w["n1"].reachable = false;
  pgha::OperationOptions force;
  force.force = true;
  OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote, force);
  CHECK(r.states == States{{"n2", "single"}, {"n1", "unreachable"}});
  CHECK_FALSE(HasStep(r, "n2", "stop"));
  CHECK(w["n2"].timeline == 2);
}

TEST_CASE("failover refuses a slave when another running slave received more WAL") {
  FakeWorld w;
  CHECK(w.MakeCluster("n1", {"n2", "n3"}).StartAll(Sequence::kMasterSlave).states ==
        States{{"n1", "master"}, {"n2", "slave"}, {"n3", "slave"}});
  w.MakeCluster("n2", {"n1", "n3"}).StopRole(pgha::NodeState::kMaster);
  // The old master's last WAL reached n3 only (in sync mode, `ANY 1` may acknowledge a commit
  // that only n3 has).
  w["n1"].end = w["n1"].end + 0x100;
  w["n3"].end = w["n1"].end;
  CHECK(CodeOf([&] {
          w.MakeCluster("n2", {"n1", "n3"}).Failover(FailoverMethod::kPromote);
        }) == ErrorCode::kConflict);
  CHECK(w["n2"].timeline == 1);
  CHECK(w["n2"].standby);
  OperationResult r = w.MakeCluster("n3", {"n1", "n2"}).Failover(FailoverMethod::kPromote);
  CHECK(r.states.at("n3") == "single");
  CHECK(w["n3"].timeline == 2);
}
