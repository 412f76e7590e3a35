// Idle libpq sessions of one Instance, reused by the observations asked most often (State),
// so that a state query costs one round trip instead of a new backend (private).
#ifndef PGHA_POSTGRES_SESSION_POOL_HPP
#define PGHA_POSTGRES_SESSION_POOL_HPP

#include <mutex>
#include <optional>
#include <vector>

#include "pq_session.hpp"

namespace pgha::pg {

/// A few idle sessions. Thread-safe. Cleared before the server stops: an idle session would
/// hold a smart shutdown forever.
class SessionPool {
 public:
  static constexpr std::size_t kMaxIdle = 4;

  /// An idle session, if there is one.
  std::optional<PqSession> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return std::nullopt;
    PqSession s = std::move(idle_.back());
    idle_.pop_back();
    return s;
  }
  /// Gives a session that just worked back for reuse.
  void Give(PqSession s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(s));
  }
  /// Closes every idle session.
  void Clear() {
    std::vector<PqSession> closing;
    std::lock_guard<std::mutex> lock(mutex_);
    closing.swap(idle_);
  }

 private:
  std::mutex mutex_;
  std::vector<PqSession> idle_;
};

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_SESSION_POOL_HPP
