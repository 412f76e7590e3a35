// The operation lease of one node: which cluster operation may change it right now.
#ifndef PGHA_AGENT_LEASE_TABLE_HPP
#define PGHA_AGENT_LEASE_TABLE_HPP

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace pgha {

/// One lease at a time, held by an operation's holder id until released or expired (so an
/// agent that died mid-operation does not block the cluster forever), or until the holder
/// check says its holder is gone (an agent restarted after it died mid-operation). Thread-safe.
class LeaseTable {
 public:
  using Clock = std::chrono::steady_clock;
  /// The clock leases expire by.
  using Now = std::function<Clock::time_point()>;

  /// `now`: Clock::now, or a test's fake clock.
  explicit LeaseTable(Now now = &Clock::now);
  /// True when the operation `holder` names certainly no longer runs. Called without the
  /// table's lock held; may block briefly (it may ask another agent).
  using HolderCheck = std::function<bool(const std::string& holder)>;

  /// Sets the check TryAcquire asks before refusing: a holder it says is gone loses the lease.
  void SetHolderCheck(HolderCheck check);

  /// Takes the lease for `holder` until `ttl` from now (again, if it holds it already: a
  /// renewal; an expired lease nobody took since is granted again).
  /// Returns the operation that holds it instead, when another holder does (and the holder
  /// check, when set, does not say that holder is gone).
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
  const Now now_;
  std::mutex mutex_;
  HolderCheck holder_check_;
  std::string holder_;
  std::string operation_;
  Clock::time_point expires_{};
};

}  // namespace pgha

#endif  // PGHA_AGENT_LEASE_TABLE_HPP
