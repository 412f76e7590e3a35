// MemoryStore: a ClusterStore in one process's memory, with etcd's semantics (revisions,
// leases that expire, compare-and-swap, watches), for unit tests and embedders' simulations.
#ifndef PGHA_MEMORY_STORE_HPP
#define PGHA_MEMORY_STORE_HPP

#include <chrono>
#include <functional>
#include <memory>

#include "pgha/cluster_store.hpp"
#include "pgha/export.hpp"

namespace pgha {

/// An in-memory ClusterStore. Leases expire by `clock` (steady_clock by default; a test
/// passes a fake one and moves it). SetReachable(false) makes every call fail with
/// Error(kPeerUnreachable), as a store behind a partition would. Thread-safe.
class PGHA_API MemoryStore : public ClusterStore {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit MemoryStore(Clock clock = {});
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  /// Cuts (false) or restores (true) every caller's access.
  void SetReachable(bool reachable);
  /// Expires the leases whose time has passed by the clock, now (every call does it too).
  void ExpireLeases();

  StoreLease GrantLease(std::chrono::seconds ttl) override;
  std::optional<std::chrono::seconds> KeepAlive(StoreLease lease) override;
  std::optional<std::chrono::milliseconds> TimeToLive(StoreLease lease) override;
  void RevokeLease(StoreLease lease) override;
  StoreRange Get(const std::string& key) override;
  StoreRange GetPrefix(const std::string& prefix) override;
  std::int64_t Put(const std::string& key, const std::string& value, StoreLease lease = 0) override;
  bool CompareAndPut(const std::string& key, std::int64_t expected_mod_revision,
                     const std::string& value, StoreLease lease,
                     std::optional<StoreKeyValue>* current = nullptr) override;
  bool CompareAndDelete(const std::string& key, std::int64_t expected_mod_revision) override;
  StoreWatch Watch(const std::string& prefix, std::int64_t after,
                   std::chrono::milliseconds wait) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pgha

#endif  // PGHA_MEMORY_STORE_HPP
