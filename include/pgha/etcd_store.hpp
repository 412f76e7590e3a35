// EtcdStore: the ClusterStore on etcd v3, through etcd's JSON gateway (/v3/...) over the
// libcurl client pgha already uses for its peers.
#ifndef PGHA_ETCD_STORE_HPP
#define PGHA_ETCD_STORE_HPP

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pgha/cluster_store.hpp"
#include "pgha/export.hpp"
#include "pgha/http_client.hpp"

namespace pgha {

/// How to reach etcd.
struct EtcdOptions {
  /// Client URLs of the etcd members, e.g. "http://127.0.0.1:2379"; at least one. Calls go
  /// to the member that answered last and move to the next when it cannot be reached.
  std::vector<std::string> endpoints;
  /// etcd authentication (user and password), when etcd has it enabled; empty = none. The
  /// password is never logged or put in an error.
  std::string username;
  std::string password;
  /// TLS for https endpoints (CA, client certificate for etcd's --client-cert-auth).
  HttpClientTls tls;
  /// Bound of connecting to one endpoint.
  std::chrono::milliseconds connect_timeout{1000};
  /// Bound of one call to one endpoint (watches have their own wait).
  std::chrono::milliseconds request_timeout{2000};
};

/// ClusterStore over etcd v3 (3.4 or newer). Thread-safe.
///
/// A call that fails to reach an endpoint (refused, timed out, etcd's "unavailable") is
/// tried on the next one, each at most once per call; when none answers the call throws
/// Error(kPeerUnreachable) naming every endpoint. A compare-and-put tried again after a
/// timeout may have been applied by the first try: a refusal that finds the key holding
/// exactly this value and lease counts as success.
class PGHA_API EtcdStore : public ClusterStore {
 public:
  /// Error(kBadInput) for no endpoint or a URL that is not http(s); bad TLS files as
  /// CheckClientTls. Does not contact etcd.
  explicit EtcdStore(EtcdOptions options);
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

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

  /// The endpoint the last successful call went to.
  std::string CurrentEndpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgha

#endif  // PGHA_ETCD_STORE_HPP
