#include "pgha/memory_store.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "pgha/error.hpp"

namespace pgha {

namespace {

constexpr std::size_t kMaxEvents = 10000;  // older events are compacted away, as etcd does

bool HasPrefix(const std::string& key, const std::string& prefix) {
  return key.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

struct MemoryStore::State {
  struct LeaseEntry {
    std::chrono::seconds ttl;
    std::chrono::steady_clock::time_point expires;
  };

  Clock clock;
  std::mutex mutex;
  std::condition_variable changed;
  bool reachable = true;
  std::int64_t revision = 1;
  StoreLease next_lease = 0x5000;
  std::map<std::string, StoreKeyValue> kvs;
  std::map<StoreLease, LeaseEntry> leases;
  std::deque<StoreEvent> events;  // in revision order
  std::int64_t compacted_through = 0;

  void CheckReachable() const {
    if (!reachable) throw Error(ErrorCode::kPeerUnreachable, "memory store: unreachable");
  }

  void Record(StoreEvent::Type type, const StoreKeyValue& kv) {
    events.push_back({type, kv});
    while (events.size() > kMaxEvents) {
      compacted_through = events.front().kv.mod_revision;
      events.pop_front();
    }
    changed.notify_all();
  }

  void EraseKey(std::map<std::string, StoreKeyValue>::iterator it) {
    StoreKeyValue gone;
    gone.key = it->first;
    gone.mod_revision = ++revision;
    kvs.erase(it);
    Record(StoreEvent::Type::kDelete, gone);
  }

  void DropLease(StoreLease lease) {
    leases.erase(lease);
    for (auto it = kvs.begin(); it != kvs.end();) {
      auto next = std::next(it);
      if (it->second.lease == lease) EraseKey(it);
      it = next;
    }
  }

  void Expire() {
    const auto now = clock();
    std::vector<StoreLease> due;
    for (const auto& [id, entry] : leases) {
      if (entry.expires <= now) due.push_back(id);
    }
    for (StoreLease id : due) DropLease(id);
  }

  void CheckLease(StoreLease lease) const {
    if (lease != 0 && leases.count(lease) == 0) {
      throw Error(ErrorCode::kNotFound, "memory store: lease " + std::to_string(lease) +
                                            " does not exist (expired or revoked)");
    }
  }

  std::int64_t Write(const std::string& key, const std::string& value, StoreLease lease) {
    StoreKeyValue& kv = kvs[key];
    const std::int64_t rev = ++revision;
    if (kv.create_revision == 0) {
      kv.key = key;
      kv.create_revision = rev;
    }
    kv.value = value;
    kv.mod_revision = rev;
    kv.lease = lease;
    Record(StoreEvent::Type::kPut, kv);
    return rev;
  }

  // Locks, checks reachability and expires due leases: what every call starts with.
  std::unique_lock<std::mutex> Enter() {
    std::unique_lock<std::mutex> lock(mutex);
    CheckReachable();
    Expire();
    return lock;
  }
};

MemoryStore::MemoryStore(Clock clock) : state_(std::make_unique<State>()) {
  state_->clock = clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); };
}

MemoryStore::~MemoryStore() = default;

void MemoryStore::SetReachable(bool reachable) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->reachable = reachable;
  state_->changed.notify_all();
}

void MemoryStore::ExpireLeases() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->Expire();
}

StoreLease MemoryStore::GrantLease(std::chrono::seconds ttl) {
  if (ttl.count() < 1) throw Error(ErrorCode::kBadInput, "a lease needs a TTL of at least 1 s");
  auto lock = state_->Enter();
  const StoreLease id = ++state_->next_lease;
  state_->leases[id] = {ttl, state_->clock() + ttl};
  return id;
}

std::optional<std::chrono::seconds> MemoryStore::KeepAlive(StoreLease lease) {
  auto lock = state_->Enter();
  auto it = state_->leases.find(lease);
  if (it == state_->leases.end()) return std::nullopt;
  it->second.expires = state_->clock() + it->second.ttl;
  return it->second.ttl;
}

std::optional<std::chrono::milliseconds> MemoryStore::TimeToLive(StoreLease lease) {
  auto lock = state_->Enter();
  auto it = state_->leases.find(lease);
  if (it == state_->leases.end()) return std::nullopt;
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(it->second.expires - state_->clock());
  if (left.count() <= 0) return std::nullopt;
  return left;
}

void MemoryStore::RevokeLease(StoreLease lease) {
  auto lock = state_->Enter();
  state_->DropLease(lease);
}

StoreRange MemoryStore::Get(const std::string& key) {
  auto lock = state_->Enter();
  StoreRange r;
  r.revision = state_->revision;
  auto it = state_->kvs.find(key);
  if (it != state_->kvs.end()) r.kvs.push_back(it->second);
  return r;
}

StoreRange MemoryStore::GetPrefix(const std::string& prefix) {
  auto lock = state_->Enter();
  StoreRange r;
  r.revision = state_->revision;
  for (auto it = state_->kvs.lower_bound(prefix);
       it != state_->kvs.end() && HasPrefix(it->first, prefix); ++it) {
    r.kvs.push_back(it->second);
  }
  return r;
}

std::int64_t MemoryStore::Put(const std::string& key, const std::string& value, StoreLease lease) {
  auto lock = state_->Enter();
  state_->CheckLease(lease);
  return state_->Write(key, value, lease);
}

bool MemoryStore::CompareAndPut(const std::string& key, std::int64_t expected_mod_revision,
                                const std::string& value, StoreLease lease,
                                std::optional<StoreKeyValue>* current) {
  auto lock = state_->Enter();
  state_->CheckLease(lease);
  auto it = state_->kvs.find(key);
  const std::int64_t have = it == state_->kvs.end() ? 0 : it->second.mod_revision;
  if (have != expected_mod_revision) {
    if (current != nullptr) {
      *current = it == state_->kvs.end() ? std::nullopt : std::optional(it->second);
    }
    return false;
  }
  state_->Write(key, value, lease);
  return true;
}

bool MemoryStore::CompareAndDelete(const std::string& key, std::int64_t expected_mod_revision) {
  auto lock = state_->Enter();
  auto it = state_->kvs.find(key);
  if (it == state_->kvs.end() || it->second.mod_revision != expected_mod_revision) return false;
  state_->EraseKey(it);
  return true;
}

StoreWatch MemoryStore::Watch(const std::string& prefix, std::int64_t after,
                              std::chrono::milliseconds wait) {
  auto lock = state_->Enter();
  const auto until = std::chrono::steady_clock::now() + wait;
  StoreWatch w;
  while (true) {
    if (after < state_->compacted_through) {
      w.compacted = true;
      w.revision = state_->revision;
      return w;
    }
    for (const StoreEvent& e : state_->events) {
      if (e.kv.mod_revision > after && HasPrefix(e.kv.key, prefix)) w.events.push_back(e);
    }
    w.revision =
        w.events.empty() ? std::max(after, state_->revision) : w.events.back().kv.mod_revision;
    if (!w.events.empty()) return w;
    if (state_->changed.wait_until(lock, until) == std::cv_status::timeout) return w;
    state_->CheckReachable();
    state_->Expire();
  }
}

}  // namespace pgha
