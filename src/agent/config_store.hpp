// The agent's configuration as immutable snapshots (private).
#ifndef PGHA_AGENT_CONFIG_STORE_HPP
#define PGHA_AGENT_CONFIG_STORE_HPP

#include <memory>
#include <mutex>
#include <utility>

#include "pgha/agent_config.hpp"

namespace pgha::agent {

/// The configuration in effect, as a snapshot that is never changed once published.
/// `POST nodes/env` publishes a new one; a reader takes the current one (a copy of the pointer)
/// and reads it for as long as it holds it, whatever is published meanwhile, so one request
/// or one operation step sees one configuration. Thread-safe.
class ConfigStore {
 public:
  explicit ConfigStore(AgentConfig initial)
      : current_(std::make_shared<const AgentConfig>(std::move(initial))) {}
  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;

  /// The configuration in effect now. Never null.
  std::shared_ptr<const AgentConfig> Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  /// Makes `next` the configuration in effect. Readers that hold the previous one keep it.
  void Publish(AgentConfig next) {
    auto snapshot = std::make_shared<const AgentConfig>(std::move(next));
    std::lock_guard<std::mutex> lock(mutex_);
    current_.swap(snapshot);
    // The previous snapshot is released after the lock, by `snapshot`'s destructor.
  }

  /// Serialises read-modify-write updates (Get, change, Save, Publish) against each other.
  std::mutex& update_mutex() { return update_mutex_; }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const AgentConfig> current_;
  std::mutex update_mutex_;
};

}  // namespace pgha::agent

#endif  // PGHA_AGENT_CONFIG_STORE_HPP
