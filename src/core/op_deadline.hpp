// The deadline of the operation the calling thread works for (private). An operation
// (src/ha, Cluster::Run) opens a scope for its lifetime; the layers below bound what they wait
// for by it: an HTTP call to a peer (src/net), a server start or stop (src/postgres), and the
// peer's own work, to which the agent passes the time left (src/agent).
#ifndef PGHA_CORE_OP_DEADLINE_HPP
#define PGHA_CORE_OP_DEADLINE_HPP

#include <chrono>
#include <optional>

namespace pgha::deadline {

using Clock = std::chrono::steady_clock;

/// The earliest deadline of the scopes open on this thread; nullopt outside any.
std::optional<Clock::time_point> Current() noexcept;

/// The time left before Current() (zero once it passed); nullopt outside any scope.
std::optional<std::chrono::milliseconds> Remaining() noexcept;

/// `timeout`, shortened to what is left of the thread's deadline but never below `floor`
/// (so a call after the deadline, such as releasing a lease, still gets a short chance); a
/// zero `timeout` means no limit of its own. Within a scope the result is never zero.
std::chrono::milliseconds Bound(std::chrono::milliseconds timeout,
                                std::chrono::milliseconds floor) noexcept;

/// Sets this thread's deadline to `at` while it lives; an earlier deadline of an enclosing
/// scope stays in force. Scopes nest (destroyed in reverse order, on the thread that made
/// them).
class Scope {
 public:
  explicit Scope(Clock::time_point at) noexcept;
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  std::optional<Clock::time_point> previous_;
};

}  // namespace pgha::deadline

#endif  // PGHA_CORE_OP_DEADLINE_HPP
