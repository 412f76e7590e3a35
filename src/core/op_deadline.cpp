#include "op_deadline.hpp"

#include <algorithm>

namespace pgha::deadline {

namespace {

thread_local std::optional<Clock::time_point> current;

}  // namespace

std::optional<Clock::time_point> Current() noexcept {
  return current;
}

std::optional<std::chrono::milliseconds> Remaining() noexcept {
  if (!current) return std::nullopt;
  auto now = Clock::now();
  if (*current <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*current - now);
}

std::chrono::milliseconds Bound(std::chrono::milliseconds timeout,
                                std::chrono::milliseconds floor) noexcept {
  auto left = Remaining();
  if (!left) return timeout;
  // Never zero, which a timeout takes for "none".
  auto bounded = std::max({*left, floor, std::chrono::milliseconds(1)});
  return timeout.count() == 0 ? bounded : std::min(timeout, bounded);
}

Scope::Scope(Clock::time_point at) noexcept : previous_(current) {
  if (!current || at < *current) current = at;
}

Scope::~Scope() {
  current = previous_;
}

}  // namespace pgha::deadline
