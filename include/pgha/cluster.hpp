// The cluster: nodes, roles and the operations of the seed (start/stop in sequence, failover,
// switchover, rejoin), made safe. Independent of HTTP and of PostgreSQL processes: each node
// is reached through the NodeControl interface (the agent gives a local one over an Instance
// and remote ones over the peer agents' REST API), so the rules are unit-tested with fakes.
#ifndef PGHA_CLUSTER_HPP
#define PGHA_CLUSTER_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/export.hpp"
#include "pgha/logical_slots.hpp"
#include "pgha/lsn.hpp"
#include "pgha/node_state.hpp"
#include "pgha/stop_mode.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_scan.hpp"

namespace pgha {

/// How a node is reached: its agent and its PostgreSQL server (they differ by port when
/// several nodes share a machine).
struct NodeAddress {
  std::string name;
  std::string agent_url;  ///< e.g. "http://127.0.0.1:8079"
  std::string pg_host;    ///< e.g. "127.0.0.1"
  int pg_port = 5432;
};

/// What the cluster needs to know of a node's WAL position (the seed's lsn facts).
struct NodeFacts {
  NodeState state = NodeState::kInactive;
  TimelineId timeline = 0;
  Lsn checkpoint;
  Lsn redo;
  Lsn end_of_wal;  ///< lastLsn: flush/receive position when running, scanned end when stopped
  /// The last record before end_of_wal, when the node is stopped (its pg_wal was scanned).
  std::optional<WalRecordRef> last_record;
};

/// The seed's validLsn answer: code 0 valid (cnt records behind), 1 file missing,
/// 2 mid-record, 3 no entry, 4 diverged; and pgha's 5, record differs (ValidLsnCode).
struct ValidLsnAnswer {
  int code = 0;
  std::string msg;
  std::uint64_t cnt = 0;
};

/// A WAL file another node offers: name and MD5.
struct WalFileRef {
  std::string name;
  std::string md5;
};

/// One node's primitives. Implementations throw pgha::Error (kPeerUnreachable when the node's
/// agent cannot be reached). Each call returns when its effect is observed.
class PGHA_API NodeControl {
 public:
  virtual ~NodeControl() = default;
  virtual const NodeAddress& address() const = 0;

  virtual NodeState State() = 0;
  virtual NodeFacts Facts() = 0;
  virtual void Stop(StopMode mode) = 0;
  /// Starts the node as a primary: standby configuration removed, then started.
  virtual void StartMaster() = 0;
  /// Starts the node as a standby of `upstream` (standby configuration written first).
  virtual void StartSlave(const NodeAddress& upstream) = 0;
  /// Starts the node with whatever configuration it has.
  virtual void StartCurrent() = 0;
  /// Promotes a running standby (new timeline).
  virtual void Promote() = 0;
  /// Whether (timeline, lsn) is on this node's history, in the seed's codes; with `last`
  /// (the asking node's last record before `lsn`), also whether that record is this node's
  /// (code 5 when not).
  virtual ValidLsnAnswer ValidLsn(TimelineId timeline, Lsn lsn,
                                  const std::optional<WalRecordRef>& last) = 0;
  ValidLsnAnswer ValidLsn(TimelineId timeline, Lsn lsn) { return ValidLsn(timeline, lsn, {}); }
  /// The files a node at (timeline, lsn) needs to reach this node's end of WAL.
  virtual std::vector<WalFileRef> WalFilesFrom(TimelineId timeline, Lsn lsn) = 0;
  /// Copies WAL file `file` from node `from` into this (stopped) node's pg_wal, MD5-checked;
  /// an existing file is only replaced by one that extends it.
  virtual void PullWalFile(const NodeAddress& from, const WalFileRef& file) = 0;
  /// Makes this stopped node able to follow `source` after their WAL diverged: pg_rewind,
  /// or a fresh copy of `source` when there is no pg_rewind of the node's major. Either way
  /// the node is left in standby mode. Returns how ("pg_rewind", or "fresh copy: <why>").
  virtual std::string Rewind(const NodeAddress& source) = 0;
  /// Takes the node's operation lease for `operation` held by `holder`; returns the
  /// description of the operation already holding it instead when there is one.
  virtual std::optional<std::string> TryLock(const std::string& operation,
                                             const std::string& holder,
                                             std::chrono::milliseconds ttl) = 0;
  virtual void Unlock(const std::string& holder) = 0;

  /// The node's logical slots (from its files when stopped: a stopped master's final ones).
  /// Nodes that keep no slots return none.
  virtual std::vector<LogicalSlot> LogicalSlots() { return {}; }
  /// Takes `master_slots` before this node becomes master: written into its slot files when
  /// stopped (InstallLogicalSlots), installed copies advanced when running
  /// (AdvanceLogicalSlots). Nodes that keep no slots report nothing.
  virtual SlotSyncReport TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) {
    (void)master_slots;
    return {};
  }
};

/// One step of an operation, for the caller and the logs.
struct OperationStep {
  std::string node;
  std::string action;
  bool ok = true;
  std::string detail;
  std::int64_t elapsed_ms = 0;
};

/// What an operation did and the states it left, keyed by node name.
struct OperationResult {
  std::string operation;
  std::vector<OperationStep> steps;
  std::map<std::string, std::string> states;  ///< node -> seed state name (or "unreachable")
  /// The logical slots carried to the new master by a switchover or failover, each with
  /// whether it is safe there (empty when the cluster has none or the operation moves none).
  std::vector<SlotCopyStatus> slots;
};

/// Sequences of the seed's start/stop routes.
enum class Sequence { kMasterSlave, kSlaveMaster };
/// Failover methods: restart keeps the timeline, promote starts a new one.
enum class FailoverMethod { kRestart, kPromote };

/// The longest operation lease a node grants (OperationOptions::lease_ttl, `internal/lease`).
inline constexpr std::chrono::milliseconds kMaxLeaseTtl{600000};

/// Options of an operation.
struct OperationOptions {
  /// Proceed although a peer cannot be asked whether it is a master. Never overrides a peer
  /// that answers that it is one.
  bool force = false;
  /// Deadline for the whole operation: no step starts after it.
  std::chrono::milliseconds timeout{120000};
  /// How long each node's operation lease lasts unless renewed; the operation renews it
  /// every third of that (and before each step on the node), so the leases of a coordinator
  /// that died run out this soon after. From 1 ms to 10 min.
  std::chrono::milliseconds lease_ttl{10000};
};

/// The cluster seen from one node (the local one). Thread-safe: operations are serialised
/// across the cluster by the nodes' leases; a second one gets Error(kConflict) naming the
/// operation that runs.
class PGHA_API Cluster {
 public:
  /// `local` is this node; `peers` the others, in configuration order.
  Cluster(std::shared_ptr<NodeControl> local, std::vector<std::shared_ptr<NodeControl>> peers);

  /// The seed's instance/current and instance/all: state of this node / of every node.
  OperationResult LocalState();
  OperationResult AllStates();

  /// POST instance/current: starts this node as configured; as a master only when no peer
  /// is (or may be) one.
  OperationResult StartCurrent(const OperationOptions& options = {});
  /// POST instance/master: this node as master (no peer may be a master).
  OperationResult StartMaster(const OperationOptions& options = {});
  /// POST instance/slave: this node as a slave of the running master, rewound first when
  /// its WAL diverged from the master's history (never started diverged).
  OperationResult StartSlave(const OperationOptions& options = {});
  /// POST instance/all[/order]: this node as master and every peer as its slave.
  OperationResult StartAll(Sequence order, const OperationOptions& options = {});
  /// DELETE instance/current, master, slave.
  OperationResult StopLocal(StopMode mode = StopMode::kFast);
  OperationResult StopRole(NodeState role, const OperationOptions& options = {});
  /// DELETE instance/all|slaveMaster|masterSlave.
  OperationResult StopAll(Sequence order, const OperationOptions& options = {});
  /// POST instance/failover/restart|promote on a slave whose master is down.
  OperationResult Failover(FailoverMethod method, const OperationOptions& options = {});
  /// POST instance/switchover/masterSlave|slaveMaster: master and slave swap roles with no
  /// WAL lost, the old master streaming from the new one at the end.
  OperationResult Switchover(Sequence order, const OperationOptions& options = {});
  /// POST node/promote: promotes this node (a running slave).
  OperationResult PromoteLocal(const OperationOptions& options = {});

 private:
  class Run;
  std::shared_ptr<NodeControl> local_;
  std::vector<std::shared_ptr<NodeControl>> peers_;
};

}  // namespace pgha

#endif  // PGHA_CLUSTER_HPP
