// A simulated PostgreSQL cluster for the ha layer's unit tests: nodes with timelines, WAL
// ends, standby configuration and streaming, reached through NodeControl like real ones.
#ifndef PGHA_TESTS_FAKE_NODE_HPP
#define PGHA_TESTS_FAKE_NODE_HPP

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pgha/cluster.hpp"

namespace pgha::test {

/// How a start or stop of a FakeNode fails: not at all, before doing anything, or after doing
/// it (half-way: the effect happened, the caller is told it failed).
enum class HalfWay { kNo, kBefore, kAfter };

/// One simulated server.
struct FakePg {
  bool running = false;
  bool standby = false;  // standby configuration present
  std::string upstream;  // the node it follows
  TimelineId timeline = 1;
  Lsn end{0x3000028};                       // end of WAL
  std::map<TimelineId, Lsn> switch_points;  // ancestors: timeline -> where it ended
  bool reachable = true;
  // The content of its last WAL record (the CRC a stopped node reports): nodes whose tags
  // differ wrote different WAL at the same positions; validLsn answers 5 for them.
  std::uint32_t record_tag = 0;
  // The agent answers this many more State() calls, then stops answering (-1: always).
  int state_answers_left = -1;
  int pulled = 0;  // WAL files copied into it
  int rewinds = 0;
  std::string lease;  // holder of its operation lease
  std::string lease_operation;
  // When the lease runs out, on the world's clock (TryLock sets it from the TTL; a lease a
  // test sets by hand never does). An expired lease is free for any holder.
  std::chrono::steady_clock::time_point lease_expires =
      std::chrono::steady_clock::time_point::max();
  int lease_renewals = 0;       // TryLock calls granted to the holder that had it already
  int calls_without_lease = 0;  // changing calls refused: the caller's lease was not held
  // Logical slots: a master's own, a standby's copies. `slots_taken_while_running` counts the
  // TakeLogicalSlots calls that found the server running; `slot_copy_fails` makes them throw.
  std::vector<LogicalSlot> slots;
  int slots_taken_while_running = 0;
  bool slot_copy_fails = false;
  // Starts throw: kBefore Error(kPostgresFailed) with nothing done; kAfter Error(kTimeout)
  // with the server running as asked (a start that timed out while the postmaster goes on,
  // a remote start whose answer was lost). Stops throw: kBefore Error(kTimeout), still
  // running; kAfter Error(kPeerUnreachable) once stopped (the answer was lost).
  HalfWay start_fails = HalfWay::kNo;
  HalfWay stop_fails = HalfWay::kNo;
  // A running server that does not accept connections yet (starting up, crash recovery): it
  // is seen as a real one is (DeriveNodeState: starting, or recovery when a standby).
  bool starting = false;
  // Called at each State() call, before it answers (a test changes the server between two
  // looks of an operation).
  std::function<void(FakePg&)> on_state;
};

class FakeWorld;

/// NodeControl over a FakePg of a FakeWorld.
class FakeNode : public NodeControl {
 public:
  FakeNode(FakeWorld& world, std::string name);
  const NodeAddress& address() const override { return address_; }
  NodeState State() override;
  NodeFacts Facts() override;
  void Stop(StopMode mode) override;
  void StartMaster() override;
  void StartSlave(const NodeAddress& upstream) override;
  void StartCurrent() override;
  void Promote() override;
  using NodeControl::ValidLsn;
  ValidLsnAnswer ValidLsn(TimelineId timeline, Lsn lsn,
                          const std::optional<WalRecordRef>& last) override;
  std::vector<WalFileRef> WalFilesFrom(TimelineId timeline, Lsn lsn) override;
  void PullWalFile(const NodeAddress& from, const WalFileRef& file) override;
  std::string Rewind(const NodeAddress& source) override;
  std::optional<std::string> TryLock(const std::string& operation, const std::string& holder,
                                     std::chrono::milliseconds ttl) override;
  void Unlock(const std::string& holder) override;
  std::vector<LogicalSlot> LogicalSlots() override;
  SlotSyncReport TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) override;

 private:
  FakePg& pg();
  /// As an agent's internal routes do: a call that changes the node needs the lease this
  /// object took (TryLock), unexpired; Error(kConflict) otherwise. The call then takes the
  /// world's call_cost.
  void Changing(const char* call);
  FakeWorld& world_;
  NodeAddress address_;
  std::string holder_;  // the lease this node granted through this object
};

/// The simulated servers and the streaming between them.
class FakeWorld {
 public:
  FakePg& operator[](const std::string& name) { return nodes_[name]; }
  /// Streams: every running standby whose WAL is on its running upstream's history takes
  /// the upstream's timeline and end of WAL.
  void Tick();
  /// True when `name` is a running standby receiving from its upstream.
  bool Streaming(const std::string& name);
  /// How many running standbys stream from `name`.
  int StreamingStandbysOf(const std::string& name);
  /// A write on a running primary: its end of WAL moves, its standbys follow.
  void Write(const std::string& name, std::uint64_t bytes);
  /// The answer `validLsn` gives on node `on` for (timeline, lsn).
  int ValidCode(const std::string& on, TimelineId timeline, Lsn lsn);
  /// A cluster seen from `local`, with the others as peers. Each call to its nodes holds
  /// mutex() (an operation's lease renewer calls from its own thread).
  Cluster MakeCluster(const std::string& local, const std::vector<std::string>& peers);
  /// The most servers running as primaries (or starting as ones) at once, at any point the
  /// world was looked at or changed: more than 1 is two masters.
  int MostPrimaries() const { return most_primaries_; }
  /// Counts the running primaries now (MostPrimaries).
  void NoteRoles();

  /// The world's clock, which leases expire by: it moves only by Advance and call_cost.
  std::chrono::steady_clock::time_point Now();
  void Advance(std::chrono::milliseconds d);
  /// The world time each call that changes a node takes (a slow pg_ctl, say).
  std::chrono::milliseconds call_cost{0};
  /// Called as each changing call to a node begins (node name, call: "stop", "start master",
  /// "start slave", "start current", "promote", "pull wal", "rewind", "take slots"), without
  /// mutex(): time may pass meanwhile, or another operation act (taking mutex()).
  std::function<void(const std::string& node, const std::string& call)> on_change;
  std::recursive_mutex& mutex() { return mutex_; }

 private:
  std::map<std::string, FakePg> nodes_;
  int most_primaries_ = 0;
  std::chrono::milliseconds now_{3600000};
  std::recursive_mutex mutex_;
};

}  // namespace pgha::test

#endif  // PGHA_TESTS_FAKE_NODE_HPP
