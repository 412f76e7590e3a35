// An operation ends by its deadline and frees its leases, however long a step would wait.
#include <doctest/doctest.h>

#include <thread>

#include "fake_node.hpp"
#include "op_deadline.hpp"
#include "pgha/cluster.hpp"

using namespace std::chrono_literals;
using pgha::Cluster;
using pgha::ErrorCode;
using pgha::Sequence;
using pgha::test::FakeNode;
using pgha::test::FakeWorld;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kHang = 20s;

// A peer whose agent does not answer a start. The call gives up when its deadline passes:
// the operation's, when the call is made for one (as HttpClient bounds its calls), else
// kHang later. It stands for any step that waits on something that does not come.
class UnansweredStart : public FakeNode {
 public:
  using FakeNode::FakeNode;
  void StartSlave(const pgha::NodeAddress&) override {
    std::this_thread::sleep_for(pgha::deadline::Bound(kHang, 0ms));  // the hung call itself
    throw pgha::Error(ErrorCode::kTimeout, address().name + " did not answer the start");
  }
};

// A standby that starts but never streams from its upstream.
class NeverStreams : public FakeNode {
 public:
  NeverStreams(FakeWorld& world, std::string name) : FakeNode(world, name), world_(world) {}
  void StartSlave(const pgha::NodeAddress& upstream) override {
    FakeNode::StartSlave(upstream);
    world_[address().name].upstream = "nowhere";
  }

 private:
  FakeWorld& world_;
};

}  // namespace

TEST_CASE("an operation whose peer does not answer ends with its deadline and frees every lease") {
  for (Sequence order : {Sequence::kSlaveMaster, Sequence::kMasterSlave}) {
    CAPTURE(static_cast<int>(order));
    FakeWorld w;
    Cluster c(std::make_shared<FakeNode>(w, "n1"), {std::make_shared<UnansweredStart>(w, "n2")});
    pgha::OperationOptions o;
    o.timeout = 300ms;
    const auto start = Clock::now();
    ErrorCode code = ErrorCode::kOk;
    try {
      c.StartAll(order, o);
    } catch (const pgha::Error& e) {
      code = e.code();
    }
    CHECK(code == ErrorCode::kTimeout);
    CHECK(Clock::now() - start < 3s);
    CHECK(w["n1"].lease.empty());
    CHECK(w["n2"].lease.empty());
    CHECK_FALSE(pgha::deadline::Current());  // the operation's scope ended with it
  }
}

TEST_CASE("a slave started first that never streams: 504 at the deadline, leases freed") {
  // As a standby configured with a slot its master does not have (the seed case 04 flake):
  // started, in recovery, never streaming.
  FakeWorld w;
  Cluster c(std::make_shared<FakeNode>(w, "n1"), {std::make_shared<NeverStreams>(w, "n2")});
  pgha::OperationOptions o;
  o.timeout = 300ms;
  const auto start = Clock::now();
  ErrorCode code = ErrorCode::kOk;
  try {
    c.StartAll(Sequence::kSlaveMaster, o);
  } catch (const pgha::Error& e) {
    code = e.code();
  }
  CHECK(code == ErrorCode::kTimeout);
  CHECK(Clock::now() - start < 3s);
  CHECK(w["n2"].running);
  CHECK(w["n1"].lease.empty());
  CHECK(w["n2"].lease.empty());
}
