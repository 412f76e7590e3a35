#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pgha/node_state.hpp"

using pgha::NodeObservation;
using pgha::NodeState;

TEST_CASE("Node state names round-trip with the seed's spelling") {
  struct Case {
    NodeState state;
    const char* name;
  };
  for (const Case& c :
       {Case{NodeState::kInactive, "inactive"}, Case{NodeState::kSingle, "single"},
        Case{NodeState::kMaster, "master"}, Case{NodeState::kSlave, "slave"},
        Case{NodeState::kRecovery, "recovery"}, Case{NodeState::kStarting, "starting"}}) {
    CAPTURE(c.name);
    CHECK(pgha::NodeStateName(c.state) == c.name);
    REQUIRE(pgha::ParseNodeState(c.name).has_value());
    CHECK(*pgha::ParseNodeState(c.name) == c.state);
  }
  for (const char* bad : {"", "Master", "SLAVE", "primary", "standby", " single", "single ",
                          "inactiv", "recoveryx"}) {
    CAPTURE(bad);
    CHECK_FALSE(pgha::ParseNodeState(bad).has_value());
  }
  CHECK_FALSE(pgha::ParseNodeState(std::string("master\0", 7)).has_value());
}

TEST_CASE("DeriveNodeState follows DESIGN.md's table") {
  // The table, row by row.
  struct Row {
    bool running;
    bool in_recovery;
    bool receiver_streaming;
    int standbys;
    NodeState state;
  };
  for (const Row& r : {
           Row{false, false, false, 0, NodeState::kInactive},
           Row{true, false, false, 0, NodeState::kSingle},
           Row{true, false, false, 1, NodeState::kMaster},
           Row{true, false, false, 3, NodeState::kMaster},
           Row{true, true, true, 0, NodeState::kSlave},
           Row{true, true, false, 0, NodeState::kRecovery},
       }) {
    CAPTURE(r.running);
    CAPTURE(r.in_recovery);
    CAPTURE(r.receiver_streaming);
    CAPTURE(r.standbys);
    CHECK(pgha::DeriveNodeState({r.running, r.in_recovery, r.receiver_streaming, r.standbys}) ==
          r.state);
  }
  // Every observation: the columns of the table that decide, and only those.
  int seen = 0;
  for (bool running : {false, true}) {
    for (bool in_recovery : {false, true}) {
      for (bool streaming : {false, true}) {
        for (int standbys : {-1, 0, 1, 2, 100}) {
          NodeObservation o{running, in_recovery, streaming, standbys};
          NodeState s = pgha::DeriveNodeState(o);
          CAPTURE(pgha::NodeStateName(s));
          ++seen;
          if (!running) {
            CHECK(s == NodeState::kInactive);  // nothing else counts without a postmaster
          } else if (in_recovery) {
            // A cascading standby may have standbys of its own: still slave or recovery.
            CHECK(s == (streaming ? NodeState::kSlave : NodeState::kRecovery));
          } else {
            // A primary with a stale WAL receiver flag is still a primary.
            CHECK(s == (standbys > 0 ? NodeState::kMaster : NodeState::kSingle));
          }
        }
      }
    }
  }
  CHECK(seen == 40);
}

TEST_CASE("a postmaster that refuses connections is starting unless it starts as a standby") {
  for (bool in_recovery : {false, true}) {
    for (bool streaming : {false, true}) {
      for (int standbys : {0, 1}) {
        NodeObservation o{true, in_recovery, streaming, standbys};
        o.accepting_connections = false;
        // What a refused connection cannot tell does not count: only the start mode does.
        CHECK(pgha::DeriveNodeState(o) == NodeState::kStarting);
        o.starts_as_standby = true;
        CHECK(pgha::DeriveNodeState(o) == NodeState::kRecovery);
        o.running = false;
        CHECK(pgha::DeriveNodeState(o) == NodeState::kInactive);
      }
    }
  }
}

TEST_CASE("MayBePrimary: master, single and starting count as possible masters") {
  CHECK(pgha::MayBePrimary(NodeState::kMaster));
  CHECK(pgha::MayBePrimary(NodeState::kSingle));
  CHECK(pgha::MayBePrimary(NodeState::kStarting));
  CHECK_FALSE(pgha::MayBePrimary(NodeState::kSlave));
  CHECK_FALSE(pgha::MayBePrimary(NodeState::kRecovery));
  CHECK_FALSE(pgha::MayBePrimary(NodeState::kInactive));
}
