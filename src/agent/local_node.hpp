// NodeControl over this machine's PostgreSQL: an Instance, its WAL catalogue and its lease.
#ifndef PGHA_AGENT_LOCAL_NODE_HPP
#define PGHA_AGENT_LOCAL_NODE_HPP

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "config_store.hpp"
#include "lease_table.hpp"
#include "pgha/agent_config.hpp"
#include "pgha/cluster.hpp"
#include "pgha/http_client.hpp"
#include "pgha/instance.hpp"
#include "pgha/logical_slots.hpp"
#include "pgha/wal_catalog.hpp"
#include "state_cache.hpp"

namespace pgha::agent {

/// The local node. Thread-safe: PostgreSQL state changes are serialised by a mutex, and the
/// cluster's lease (LeaseTable) keeps operations from interleaving. The configuration is read
/// from the agent's ConfigStore (one snapshot per call), and the WAL catalogue is shared by
/// pointer: a reset (rewind, init, sync) leaves the old one to the requests that still use it.
///
/// Its state is also kept in a cache (StateCache) that a background observer refreshes every
/// AgentConfig::state_refresh_interval, for GET instance/current. Every state change made here
/// refreshes it before returning, and so does every fresh observation (State()), so a caller
/// never reads an older state than the last one an operation saw.
class LocalNode : public NodeControl {
 public:
  LocalNode(std::shared_ptr<ConfigStore> config, std::shared_ptr<HttpClient> client);

  const NodeAddress& address() const override { return address_; }
  /// Observes PostgreSQL now (what operations decide on), and refreshes the cache with it.
  NodeState State() override;
  /// The cached state, without asking PostgreSQL: at most the refresh interval plus one
  /// observation old while the observer runs. A state older than max(1 s, 5 intervals) is
  /// never served: Error(kTimeout) then, or the error of the last observation when it failed.
  NodeState CachedState();
  /// Starts the background observer after one observation (Agent::Start) / stops it. Both
  /// idempotent.
  void StartObserver();
  void StopObserver() noexcept;
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

  /// Asks `upstream`'s agent to keep a physical slot for this node; true when it has it,
  /// running or stopped (set by the agent; StartSlave then streams through the slot).
  using EnsureStandbySlot = std::function<bool(const NodeAddress& upstream)>;
  void set_ensure_standby_slot(EnsureStandbySlot fn) { ensure_standby_slot_ = std::move(fn); }
  /// The master's side of a standby's slot sync round (ReadMasterSlots). Takes the node's
  /// mutex only to write a stopped node's slot files (ensure_physical_slot): otherwise it
  /// only reads and changes slots.
  MasterSlots MasterSlotsFor(const std::string& standby, const HoldChanges& changes,
                             bool ensure_physical_slot);
  /// One slot sync round when this node is a running standby of `master` (nullopt
  /// otherwise); it streams through its physical slot afterwards. New copies are loaded only
  /// when `allow_restart`; the report is remembered for LastSlotReport.
  std::optional<SlotSyncReport> SyncSlotsFrom(const NodeAddress& master,
                                              const MasterSlotsSource& source, bool apply,
                                              bool allow_restart);
  /// Restarts this standby (to load new slot copies) unless it is not one any more.
  void RestartStandby();
  /// The last SyncSlotsFrom report and its age.
  std::optional<std::pair<SlotSyncReport, std::chrono::steady_clock::time_point>> LastSlotReport();

  Instance& instance() { return instance_; }
  LeaseTable& leases() { return leases_; }
  /// For a holder of this node's agent ("<this node>/..."): true while that operation runs,
  /// i.e. it took this node's lease and has not given it back, whether or not the lease has
  /// expired meanwhile (its renewal may be late; the operation has not ended). For another
  /// node's holder: whether it holds this node's lease now. What a peer asks before it frees
  /// a lease of this agent's (GET internal/lease).
  bool HolderRuns(const std::string& holder);
  /// The WAL catalogue of pg_wal (made on first use: the data directory may not exist yet).
  /// The caller keeps it alive for as long as it uses it: pg/init, pg/sync and a rewind
  /// replace it (the next call makes a new one) without waiting for readers.
  std::shared_ptr<WalCatalog> catalog();
  /// This node's history and end of WAL, for the catalogue.
  WalPosition Position();
  /// pg/init: initdb with the configuration's settings, then started as a single master.
  void Init(const std::string& database);
  /// pg/sync: a fresh copy of `source` (pg_basebackup), configured as its standby; stopped.
  SyncReport Sync(const NodeAddress& source, const std::string& database);
  /// The synchronous_standby_names this node gets: the other nodes when synchronous_mode is
  /// on, nobody when it is off. Every start and promotion writes it first, so the node that
  /// becomes master names its slaves from its first moment as master.
  SynchronousStandbys SyncStandbys() const;
  /// Applies synchronous_mode and the node list to the local data directory now (POST
  /// nodes/env): pgha.conf rewritten, a running server reloaded. Nothing before pg/init.
  void ApplySynchronousMode();
  /// Automatic failover's synchronous_standby_names (the HA loop's, from the store's
  /// settings), which SyncStandbys gives instead of the configuration's from now on, also at
  /// every start and promotion; nullopt gives the configuration back its say. Applied now, as
  /// ApplySynchronousMode does, when it changes.
  void SetSynchronousOverride(std::optional<SynchronousStandbys> standbys);
  /// Writes the configuration's passwords as the libpq passfile (AgentConfig::PassfilePath,
  /// mode 0600, owned by os_user), or removes it when no role has one. At start and after
  /// POST nodes/env (the role names may change).
  void WritePassfile() const;
  /// Writes the configuration's server parameters (AgentConfig::ServerParameters) into the
  /// data directory, reloading a running server; nothing before pg/init. The settings that
  /// wait for a restart.
  std::vector<std::string> ApplyParameters();
  /// The settings of the running server that wait for a restart (empty when stopped).
  std::vector<std::string> PendingRestart() const;

 private:
  /// The configuration in effect now (a snapshot: read all of a call's settings from one).
  std::shared_ptr<const AgentConfig> config() const { return config_->Get(); }
  InstanceOptions MakeInstanceOptions() const;
  /// Forgets the WAL catalogue (pg_wal was replaced); the next catalogue() makes a new one.
  void ResetCatalog();
  /// A base backup of `source` in place of the (stopped) data directory, left a standby of
  /// it; the method and rate from the configuration, progress in the log. mutex_ held.
  SyncReport SyncFrom(const NodeAddress& source);
  StandbyConfig StandbyConfigFor(const AgentConfig& c, const NodeAddress& upstream,
                                 const std::string& slot) const;
  /// Before a start: synchronous_standby_names written for the next start.
  void PrepareStart();
  /// After a start that may leave a primary: in synchronous mode, the setting in effect is
  /// checked to be pgha's.
  void CheckStarted();

  std::shared_ptr<ConfigStore> config_;
  NodeAddress address_;
  std::shared_ptr<HttpClient> client_;
  Instance instance_;
  LeaseTable leases_;
  std::mutex own_holders_mutex_;
  std::set<std::string> own_holders_;  // this agent's operations holding the lease (HolderRuns)
  std::mutex mutex_;
  mutable std::mutex sync_override_mutex_;  // guards sync_override_
  std::optional<SynchronousStandbys> sync_override_;
  bool sync_override_applied_ = false;  // the last ApplySynchronousMode of it succeeded
  std::mutex catalog_mutex_;            // guards catalog_ (the pointer; WalCatalog is thread-safe)
  std::shared_ptr<WalCatalog> catalog_;
  EnsureStandbySlot ensure_standby_slot_;
  std::mutex report_mutex_;
  std::optional<std::pair<SlotSyncReport, std::chrono::steady_clock::time_point>> last_report_;
  StateCache state_cache_;  // last: its observer thread stops before the rest goes
};

}  // namespace pgha::agent

#endif  // PGHA_AGENT_LOCAL_NODE_HPP
