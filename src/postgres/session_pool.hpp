// Idle libpq sessions of one Instance, reused by the observations asked most often (State),
// so that a state query costs one round trip instead of a new backend (private).
#ifndef PGHA_POSTGRES_SESSION_POOL_HPP
#define PGHA_POSTGRES_SESSION_POOL_HPP

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "pq_session.hpp"

namespace pgha::pg {

/// A few idle sessions. Thread-safe. Closed when a postmaster is told to stop (an idle session
/// would hold a smart shutdown forever) and opened again when a server is started, or when
/// a session of another postmaster is given back (one started by hand): in between, Give
/// closes what it is given. A session in use while the pool closes (a background observer's
/// query) is not taken back later either: Give also drops a session whose generation, read
/// before it was taken or opened, is older than the last Close.
class SessionPool {
 public:
  static constexpr std::size_t kMaxIdle = 4;

  /// The pool's generation now; read it before Take (or before opening a session).
  std::uint64_t Generation() {
    std::lock_guard<std::mutex> lock(mutex_);
    return generation_;
  }
  /// An idle session, if there is one.
  std::optional<PqSession> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return std::nullopt;
    PqSession s = std::move(idle_.back());
    idle_.pop_back();
    return s;
  }
  /// Gives a session of the postmaster `postmaster` that just worked back for reuse, unless
  /// the pool is closed for that postmaster or was closed since `generation` (then the
  /// session is closed).
  void Give(PqSession s, std::uint64_t generation, long postmaster) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_ && postmaster != closed_for_) open_ = true;  // a server started since
    if (open_ && generation == generation_ && idle_.size() < kMaxIdle) {
      idle_.push_back(std::move(s));
    }
  }
  /// Closes every idle session, and those in use when they are given back, while
  /// `postmaster` (0: none) is stopping.
  void Close(long postmaster) {
    std::vector<PqSession> closing;
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    open_ = false;
    closed_for_ = postmaster;
    closing.swap(idle_);
  }
  /// Takes sessions back again (the server was started).
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
  }

 private:
  std::mutex mutex_;
  std::uint64_t generation_ = 0;
  bool open_ = true;
  long closed_for_ = 0;
  std::vector<PqSession> idle_;
};

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_SESSION_POOL_HPP
