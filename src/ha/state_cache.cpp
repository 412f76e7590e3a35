#include "state_cache.hpp"

#include <exception>
#include <utility>

namespace pgha {

StateCache::StateCache(std::function<NodeState()> observe, Options options)
    : observe_(std::move(observe)), options_(std::move(options)) {}

StateCache::~StateCache() {
  StopObserver();
}

NodeState StateCache::Cached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (valid_) {
    auto age = options_.now() - observed_at_;
    if (age < options_.max_age) return state_;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
    throw Error(ErrorCode::kTimeout, "the node's state was last observed " + std::to_string(ms) +
                                         " ms ago: observations are overdue (the server does "
                                         "not answer?)");
  }
  if (failure_) throw Error(failure_->code, failure_->message);
  throw Error(ErrorCode::kTimeout, "the node's state is not observed yet");
}

NodeState StateCache::Refresh() {
  std::uint64_t ticket = 0;
  Clock::time_point started;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ticket = next_ticket_++;
    started = options_.now();
    ++observations_;
  }
  NodeState state = NodeState::kInactive;
  try {
    state = observe_();
  } catch (const Error& e) {
    Fail(ticket, e);
    throw;
  } catch (const std::exception& e) {
    Fail(ticket, Error(ErrorCode::kInternal, e.what()));
    throw;
  } catch (...) {
    Fail(ticket, Error(ErrorCode::kInternal, "unknown exception observing the node"));
    throw;
  }
  Publish(ticket, started, state);
  return state;
}

void StateCache::RefreshQuietly() noexcept {
  try {
    Refresh();
  } catch (...) {  // recorded: Cached() reports it
  }
}

void StateCache::Invalidate() {
  std::lock_guard<std::mutex> lock(mutex_);
  valid_ = false;
  failure_.reset();
  published_ticket_ = next_ticket_++;
}

void StateCache::Publish(std::uint64_t ticket, Clock::time_point started, NodeState state) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ticket <= published_ticket_) return;  // a later observation (or Invalidate) came first
  published_ticket_ = ticket;
  valid_ = true;
  failure_.reset();
  state_ = state;
  observed_at_ = started;
}

void StateCache::Fail(std::uint64_t ticket, const Error& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ticket <= published_ticket_) return;
  published_ticket_ = ticket;
  valid_ = false;
  failure_ = Failure{error.code(), std::string(error.what())};
}

std::uint64_t StateCache::observations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return observations_;
}

void StateCache::StartObserver() {
  std::lock_guard<std::mutex> lock(thread_mutex_);
  if (observer_.joinable()) return;
  stopping_ = false;
  observer_ = std::thread([this] { ObserverLoop(); });
}

void StateCache::StopObserver() noexcept {
  std::thread stopping;
  {
    std::lock_guard<std::mutex> lock(thread_mutex_);
    stopping_ = true;
    stopping.swap(observer_);
  }
  wake_.notify_all();
  if (stopping.joinable()) stopping.join();
}

void StateCache::ObserverLoop() {
  std::unique_lock<std::mutex> lock(thread_mutex_);
  while (!stopping_) {
    lock.unlock();
    RefreshQuietly();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

}  // namespace pgha
