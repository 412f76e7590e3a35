// WithLocalLease: the lease a node's own administrative routes take (pg/init, pg/sync, WAL
// uploads).
#include <atomic>

#include "agent_impl.hpp"

namespace pgha::agent {

void WithLocalLease(Agent::Impl& a, const std::string& operation, const std::function<void()>& fn) {
  static std::atomic<std::uint64_t> counter{0};
  std::string holder = a.local->address().name + "/local/" + std::to_string(++counter);
  if (auto running = a.local->TryLock(operation, holder, a.config()->operation_timeout)) {
    throw Error(ErrorCode::kConflict, "cannot run " + operation + ": " + *running + " is running");
  }
  try {
    fn();
  } catch (...) {
    a.local->Unlock(holder);
    throw;
  }
  a.local->Unlock(holder);
}

}  // namespace pgha::agent
