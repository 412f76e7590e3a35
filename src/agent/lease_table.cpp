#include "lease_table.hpp"

namespace pgha {

LeaseTable::LeaseTable(Now now) : now_(std::move(now)) {}

void LeaseTable::ExpireLocked() {
  if (!holder_.empty() && now_() >= expires_) {
    holder_.clear();
    operation_.clear();
  }
}

void LeaseTable::SetHolderCheck(HolderCheck check) {
  std::lock_guard<std::mutex> lock(mutex_);
  holder_check_ = std::move(check);
}

std::optional<std::string> LeaseTable::TryAcquire(const std::string& operation,
                                                  const std::string& holder,
                                                  std::chrono::milliseconds ttl) {
  std::unique_lock<std::mutex> lock(mutex_);
  ExpireLocked();
  if (!holder_.empty() && holder_ != holder) {
    if (!holder_check_) return operation_;
    std::string other = holder_;
    HolderCheck check = holder_check_;
    lock.unlock();
    bool gone = check(other);
    lock.lock();
    ExpireLocked();
    if (!holder_.empty() && holder_ != holder && !(gone && holder_ == other)) return operation_;
  }
  holder_ = holder;
  operation_ = operation;
  expires_ = now_() + ttl;
  return std::nullopt;
}

void LeaseTable::Release(const std::string& holder) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (holder_ == holder) {
    holder_.clear();
    operation_.clear();
  }
}

bool LeaseTable::HeldBy(const std::string& holder) {
  std::lock_guard<std::mutex> lock(mutex_);
  ExpireLocked();
  return !holder_.empty() && holder_ == holder;
}

std::optional<std::string> LeaseTable::Current() {
  std::lock_guard<std::mutex> lock(mutex_);
  ExpireLocked();
  if (holder_.empty()) return std::nullopt;
  return operation_;
}

}  // namespace pgha
