// The cluster store: the consensus-backed key-value store (etcd) that holds the cluster's
// facts — who leads, each member's status, the operation lock — so that automatic failover
// rests on one linearizable record instead of nodes guessing about each other.
#ifndef PGHA_CLUSTER_STORE_HPP
#define PGHA_CLUSTER_STORE_HPP

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgha/export.hpp"

namespace pgha {

/// A store lease: keys bound to it vanish when it expires or is revoked. 0 means none.
using StoreLease = std::int64_t;

/// One key with its value and revisions (etcd's mvccpb.KeyValue).
struct StoreKeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;  ///< revision that created the key
  std::int64_t mod_revision = 0;     ///< revision of the last write
  StoreLease lease = 0;              ///< the lease the key is bound to, 0 for none
};

/// The keys a read found, and the store's revision the read saw.
struct StoreRange {
  std::vector<StoreKeyValue> kvs;
  std::int64_t revision = 0;
};

/// One change seen by a watch.
struct StoreEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  StoreKeyValue kv;  ///< for a delete: the key and the revision of the delete
};

/// What a watch returned: the events in revision order (empty when the wait ended first),
/// and the revision to resume after.
struct StoreWatch {
  std::vector<StoreEvent> events;
  std::int64_t revision = 0;
  /// The revisions asked for were compacted away: read the keys again, then watch on.
  bool compacted = false;
};

/// A linearizable key-value store with leases, compare-and-swap and watches: the seam
/// between pgha's automatic failover and etcd (EtcdStore), faked by MemoryStore in tests.
/// Every call is bounded by the implementation's timeouts. Errors: Error(kPeerUnreachable)
/// when the store cannot be reached (no endpoint answered in time: the caller must treat the
/// outcome of a write as unknown), Error(kUnauthorized) for refused credentials,
/// Error(kBadInput) for an invalid argument. Implementations are thread-safe.
class PGHA_API ClusterStore {
 public:
  virtual ~ClusterStore() = default;

  /// A new lease of `ttl` (whole seconds, at least 1).
  virtual StoreLease GrantLease(std::chrono::seconds ttl) = 0;
  /// Renews `lease` for its full TTL from now; returns that TTL, or nullopt when the lease
  /// no longer exists (expired or revoked: its keys are gone).
  virtual std::optional<std::chrono::seconds> KeepAlive(StoreLease lease) = 0;
  /// What is left of `lease` now; nullopt when it expired or never existed.
  virtual std::optional<std::chrono::milliseconds> TimeToLive(StoreLease lease) = 0;
  /// Revokes `lease` and deletes its keys; nothing when it is gone already.
  virtual void RevokeLease(StoreLease lease) = 0;

  /// The key `key` (none or one).
  virtual StoreRange Get(const std::string& key) = 0;
  /// Every key that starts with `prefix`, in key order.
  virtual StoreRange GetPrefix(const std::string& prefix) = 0;
  /// Writes `key` unconditionally, bound to `lease` (0: none); returns the new revision.
  /// Error(kNotFound) when the lease does not exist.
  virtual std::int64_t Put(const std::string& key, const std::string& value,
                           StoreLease lease = 0) = 0;
  /// Writes `key` only when its mod_revision is `expected_mod_revision` — 0 meaning only
  /// when the key does not exist (compare-and-create). True when written; otherwise false,
  /// with what the key holds in `*current` when asked (nullopt: it does not exist).
  /// Error(kNotFound) when the lease does not exist.
  virtual bool CompareAndPut(const std::string& key, std::int64_t expected_mod_revision,
                             const std::string& value, StoreLease lease,
                             std::optional<StoreKeyValue>* current = nullptr) = 0;
  /// Deletes `key` only when its mod_revision is `expected_mod_revision`; true when deleted.
  virtual bool CompareAndDelete(const std::string& key, std::int64_t expected_mod_revision) = 0;

  /// The changes of keys under `prefix` made after revision `after`, waiting up to
  /// `wait` for the first one. Returns as soon as there is at least one event.
  virtual StoreWatch Watch(const std::string& prefix, std::int64_t after,
                           std::chrono::milliseconds wait) = 0;
};

}  // namespace pgha

#endif  // PGHA_CLUSTER_STORE_HPP
