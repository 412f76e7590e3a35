// The cluster's records in a ClusterStore: the leader key, each member's status, the
// operation lock, under one key prefix per cluster.
#ifndef PGHA_STORE_CLUSTER_HPP
#define PGHA_STORE_CLUSTER_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/cluster_store.hpp"
#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

namespace pgha {

/// What a member publishes about itself (JSON under members/<name>, bound to its own lease
/// so that a member that stops publishing disappears).
struct MemberStatus {
  std::string name;
  std::string role;   ///< "master", "replica", or "" when not running
  std::string state;  ///< the seed's state name (inactive, single, master, slave, recovery)
  TimelineId timeline = 0;
  Lsn received;  ///< last WAL received (a standby) or flushed (the master)
  Lsn replayed;  ///< last WAL replayed (a standby)
  std::string agent_url;
  bool nofailover = false;  ///< never a failover candidate
  int priority = 0;         ///< breaks ties between equally advanced candidates; higher wins
};

/// The synchronous standbys on record (JSON under sync): written by the leader only, each
/// change a compare-and-swap on the revision it read, so a stale leader's write fails. In
/// synchronous mode only a standby named here may take over from `leader`.
struct SyncRecord {
  std::string leader;                 ///< the leader that wrote it
  std::vector<std::string> standbys;  ///< its synchronous standbys (empty: none)
  std::string state;                  ///< the leader's PlanSynchronous state, for GET cluster
  std::int64_t mod_revision = 0;      ///< as read (0: no record)
};

/// The cluster's dynamic settings (JSON under config), changed through the agents' routes.
struct ClusterSettings {
  bool pause = false;
  /// Synchronous mode from the store; nullopt: each agent's own synchronous_mode.
  std::optional<bool> synchronous_mode;
  bool synchronous_mode_strict = false;
};

/// A cluster's keys: <prefix>/<cluster>/leader (the leader's name, bound to the leader's
/// lease), members/<name>, operation (the running operation, bound to its holder's lease).
/// Every write is a compare-and-swap where two members may race. Thread-safe as the store.
class PGHA_API StoreCluster {
 public:
  /// `prefix` like "/pgha"; `cluster` a name without '/'. Error(kBadInput) otherwise.
  StoreCluster(ClusterStore& store, std::string prefix, std::string cluster);

  /// The full key of `leaf` ("leader", "members/", ...).
  std::string Key(std::string_view leaf) const;

  /// The leader key (value: the member's name), or nullopt when no one leads.
  std::optional<StoreKeyValue> Leader();
  /// Takes the leader key for `member`, bound to `lease`, only when no one holds it
  /// (compare-and-create). False when another member holds it.
  bool TakeLeader(const std::string& member, StoreLease lease);
  /// Moves leadership from the holder of `held` (as read) to `to`, bound to `to_lease`, in
  /// one compare-and-swap: false when the key changed since it was read.
  bool MoveLeader(const StoreKeyValue& held, const std::string& to, StoreLease to_lease);
  /// Deletes the leader key when `member` holds it; false when it does not.
  bool ReleaseLeader(const std::string& member);

  /// Writes `status` under members/<name>, bound to `lease`.
  void PublishMember(const MemberStatus& status, StoreLease lease);
  /// Every published member, by name. A record that is not valid JSON is skipped.
  std::vector<MemberStatus> Members();

  /// Takes the operation lock for `operation` held by `holder`, bound to `lease`; returns the
  /// description of the operation that holds it instead, when another holder does.
  std::optional<std::string> LockOperation(const std::string& operation, const std::string& holder,
                                           StoreLease lease);
  /// Releases the operation lock when `holder` holds it.
  void UnlockOperation(const std::string& holder);

  /// The synchronous standbys on record, or nullopt when there is no (valid) record.
  std::optional<SyncRecord> Sync();
  /// Writes `record` when the key's revision is still `record.mod_revision` (0: absent);
  /// false when it changed.
  bool WriteSync(const SyncRecord& record);

  /// The dynamic settings (defaults when the key is absent or not an object).
  ClusterSettings Settings();
  /// Merges the fields of `changes` (a JSON object: pause, synchronous_mode,
  /// synchronous_mode_strict) into the settings by compare-and-swap, retried while other
  /// writers race; returns the result. Error(kBadInput) for an unknown field or a wrong type.
  ClusterSettings ChangeSettings(const std::string& changes);

  ClusterStore& store() { return store_; }

 private:
  ClusterStore& store_;
  std::string base_;  // "<prefix>/<cluster>/"
};

/// MemberStatus as the JSON object stored for it, and back (Error(kBadInput) for a record
/// whose fields are missing or of the wrong type).
PGHA_API std::string MemberStatusToJson(const MemberStatus& status);
PGHA_API MemberStatus MemberStatusFromJson(const std::string& text);

}  // namespace pgha

#endif  // PGHA_STORE_CLUSTER_HPP
