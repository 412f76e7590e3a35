// Logical slots carried by switchover and failover over simulated nodes (the slot files
// themselves are tested on real servers: tests/integration/test_logical_slots_pg.py).
#include <doctest/doctest.h>

#include <algorithm>

#include "fake_node.hpp"
#include "pgha/cluster.hpp"

using pgha::Cluster;
using pgha::FailoverMethod;
using pgha::LogicalSlot;
using pgha::Lsn;
using pgha::OperationResult;
using pgha::Sequence;
using pgha::StopMode;
using pgha::test::FakeWorld;

namespace {

LogicalSlot Slot(const std::string& name, std::uint64_t confirmed) {
  LogicalSlot s;
  s.name = name;
  s.plugin = "test_decoding";
  s.confirmed_flush = Lsn(confirmed);
  return s;
}

// n1 master with slot "cdc", n2 its slave.
void Pair(FakeWorld& w) {
  w.MakeCluster("n1", {"n2"}).StartAll(Sequence::kMasterSlave);
  w["n1"].slots = {Slot("cdc", 0x3000100)};
}

std::size_t StepIndex(const OperationResult& r, const std::string& node,
                      const std::string& action) {
  auto it = std::find_if(r.steps.begin(), r.steps.end(),
                         [&](const auto& s) { return s.node == node && s.action == action; });
  REQUIRE(it != r.steps.end());
  return static_cast<std::size_t>(it - r.steps.begin());
}

}  // namespace

TEST_CASE("switchover copies the stopped master's slots to the slave before it starts as master") {
  for (Sequence order : {Sequence::kMasterSlave, Sequence::kSlaveMaster}) {
    FakeWorld w;
    Pair(w);
    OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(order);
    CHECK(r.states.at("n2") == "master");
    REQUIRE(r.slots.size() == 1);
    CHECK(r.slots[0].slot == "cdc");
    CHECK(r.slots[0].node == "n2");
    CHECK(r.slots[0].safe);
    CHECK(w["n2"].slots.size() == 1);
    CHECK(w["n2"].slots_taken_while_running == 0);  // written into its files, stopped
    CHECK(StepIndex(r, "n2", "copy logical slots") < StepIndex(r, "n2", "start as master"));
  }
}

TEST_CASE("a slot copy that fails is reported and does not stop the switchover") {
  FakeWorld w;
  Pair(w);
  w["n2"].slot_copy_fails = true;
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave);
  CHECK(r.states.at("n2") == "master");
  CHECK(r.states.at("n1") == "slave");
  REQUIRE(r.slots.size() == 1);
  CHECK_FALSE(r.slots[0].safe);
  CHECK(r.slots[0].reason.find("cannot write pg_replslot") != std::string::npos);
}

TEST_CASE("failover takes the old master's slots when its agent answers, else reports the copies") {
  for (FailoverMethod how : {FailoverMethod::kRestart, FailoverMethod::kPromote}) {
    FakeWorld w;
    Pair(w);
    w["n1"].running = false;  // the master stopped; its agent answers
    OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(how);
    REQUIRE(r.slots.size() == 1);
    CHECK(r.slots[0].safe);
    CHECK(w["n2"].slots.size() == 1);
  }
  FakeWorld w;
  Pair(w);
  w["n2"].slots = {Slot("cdc", 0x3000000)};  // the copy slot sync kept
  w["n1"].running = false;
  w["n1"].reachable = false;
  pgha::OperationOptions forced;
  forced.force = true;
  OperationResult r = w.MakeCluster("n2", {"n1"}).Failover(FailoverMethod::kPromote, forced);
  REQUIRE(r.slots.size() == 1);
  CHECK(r.slots[0].installed);
  CHECK_FALSE(r.slots[0].safe);
  CHECK(r.slots[0].reason.find("could not be asked") != std::string::npos);
  CHECK(r.slots[0].confirmed_flush == Lsn(0x3000000));
}

TEST_CASE("no slots, no slot report: the seed's response shape is unchanged") {
  FakeWorld w;
  w.MakeCluster("n1", {"n2"}).StartAll(Sequence::kMasterSlave);
  OperationResult r = w.MakeCluster("n1", {"n2"}).Switchover(Sequence::kMasterSlave);
  CHECK(r.slots.empty());
}
