// The operation lease of one node: which cluster operation may change it right now.
#ifndef PGHA_AGENT_LEASE_TABLE_HPP
#define PGHA_AGENT_LEASE_TABLE_HPP

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace pgha {

/// One lease at a time, held by an operation's holder id until released or expired (so an
/// agent that died mid-operation does not block the cluster forever). Thread-safe.
class LeaseTable {
 public:
  using Clock = std::chrono::steady_clock;

  /// Takes the lease for `holder` (again, if it holds it already: the TTL is renewed).
  /// Returns the operation that holds it instead, when another holder does.
  std::optional<std::string> TryAcquire(const std::string& operation, const std::string& holder,
                                        std::chrono::milliseconds ttl);
  /// Gives the lease back if `holder` has it.
  void Release(const std::string& holder);
  /// True when `holder` holds the lease now.
  bool HeldBy(const std::string& holder);
  /// The operation holding the lease, if any.
  std::optional<std::string> Current();

 private:
  void ExpireLocked();
  std::mutex mutex_;
  std::string holder_;
  std::string operation_;
  Clock::time_point expires_{};
};

}  // namespace pgha

#endif  // PGHA_AGENT_LEASE_TABLE_HPP
