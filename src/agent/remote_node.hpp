// NodeControl over a peer's agent: each primitive is one call to its REST API.
#ifndef PGHA_AGENT_REMOTE_NODE_HPP
#define PGHA_AGENT_REMOTE_NODE_HPP

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pgha/cluster.hpp"
#include "pgha/http_client.hpp"
#include "pgha/logical_slots.hpp"

namespace pgha::agent {

/// A peer node. Transport failures (refused, timed out before connecting, TLS) surface as
/// Error(kPeerUnreachable); an answer never does: error bodies of the peer become the Error
/// they carry (see ThrowIfHttpError), malformed answers Error(kBadInput). Thread-safe: one
/// operation holds the lease at a time, but state queries (GET instance/all) run beside it.
class RemoteNode : public NodeControl {
 public:
  RemoteNode(NodeAddress address, std::shared_ptr<HttpClient> client);

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
  /// Takes or renews the lease; the call waits at most half of `ttl`, so that a peer that
  /// hangs does not hold up the renewal of the others' leases past their TTL.
  std::optional<std::string> TryLock(const std::string& operation, const std::string& holder,
                                     std::chrono::milliseconds ttl) override;
  /// Waits at most as long as the last TryLock call could.
  void Unlock(const std::string& holder) override;
  std::vector<LogicalSlot> LogicalSlots() override;
  SlotSyncReport TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) override;

  /// Holds the peer's automatic failover for `duration` (internal/ha/hold): returns once its
  /// loop is between rounds and runs the next ones as paused. Error(kNotFound) when the peer
  /// has no store, kConflict when its loop is busy.
  void HoldAutomatic(std::chrono::milliseconds duration);
  /// Ends that hold.
  void ReleaseAutomatic();

  /// The peer as master, for a round of `standby`'s slot sync (LocalNode::MasterSlotsFor).
  MasterSlots MasterSlotsFor(const std::string& standby, const HoldChanges& changes,
                             bool ensure_physical_slot);
  /// The peer's slot copies as a standby of `master` (evaluated now, or its last round's
  /// when the master cannot be asked); nullopt when the peer is not a standby.
  std::optional<SlotSyncReport> SlotStatus(const std::string& master);

 private:
  std::string Url(const std::string& path) const;
  /// The operation's lease holder and the time it has left (when the call is made for one).
  HttpHeaders CallHeaders() const;
  /// One call to the peer, bounded by `timeout` when given, else by the operation's deadline
  /// of the calling thread (op_deadline.hpp, through the client).
  std::string Call(HttpMethod method, const std::string& path, const std::string& body = {},
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  NodeAddress address_;
  std::shared_ptr<HttpClient> client_;
  mutable std::mutex holder_mutex_;
  std::string holder_;  // the lease this node granted to the running operation
  std::optional<std::chrono::milliseconds> lease_call_timeout_;  // of the last TryLock
};

}  // namespace pgha::agent

#endif  // PGHA_AGENT_REMOTE_NODE_HPP
