// What every ClusterStore must do, as doctest checks: run against MemoryStore by the unit
// tests and against a real etcd by tests/store (EtcdStore). Each function takes a fresh
// key prefix so the runs do not see each other's keys.
#ifndef PGHA_TESTS_STORE_CONTRACT_HPP
#define PGHA_TESTS_STORE_CONTRACT_HPP

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "pgha/cluster_store.hpp"
#include "pgha/error.hpp"
#include "pgha/store_cluster.hpp"

namespace pgha::store_contract {

/// Makes `lease` expire (a fake clock moved past it, or real time waited out), returning
/// when the store has dropped it.
using ExpireLease = std::function<void(ClusterStore&, StoreLease)>;

inline void KeysAndRevisions(ClusterStore& store, const std::string& p) {
  const std::int64_t r1 = store.Put(p + "a", "1");
  const std::int64_t r2 = store.Put(p + "b", std::string("\0\xff binary", 9));
  store.Put(p + "bb/c", "3");
  store.Put(p.substr(0, p.size() - 1) + "-sibling", "not under the prefix");
  CHECK(r2 > r1);
  StoreRange a = store.Get(p + "a");
  REQUIRE(a.kvs.size() == 1);
  CHECK(a.kvs[0].value == "1");
  CHECK(a.kvs[0].create_revision == r1);
  CHECK(a.kvs[0].mod_revision == r1);
  CHECK(a.revision >= r2);
  CHECK(store.Get(p + "missing").kvs.empty());
  StoreRange all = store.GetPrefix(p);
  REQUIRE(all.kvs.size() == 3);
  CHECK(all.kvs[0].key == p + "a");
  CHECK(all.kvs[1].value == std::string("\0\xff binary", 9));
  CHECK(all.kvs[2].key == p + "bb/c");
  const std::int64_t r4 = store.Put(p + "a", "again");
  StoreRange again = store.Get(p + "a");
  CHECK(again.kvs[0].create_revision == r1);
  CHECK(again.kvs[0].mod_revision == r4);
}

inline void CompareAndSwap(ClusterStore& store, const std::string& p) {
  const std::string k = p + "cas";
  std::optional<StoreKeyValue> now;
  CHECK(store.CompareAndPut(k, 0, "first", 0, &now));
  CHECK_FALSE(store.CompareAndPut(k, 0, "second", 0, &now));
  REQUIRE(now.has_value());
  CHECK(now->value == "first");
  const std::int64_t rev = now->mod_revision;
  CHECK_FALSE(store.CompareAndPut(k, rev + 1000, "stale", 0));
  CHECK(store.CompareAndPut(k, rev, "third", 0));
  CHECK(store.Get(k).kvs[0].value == "third");
  CHECK_FALSE(store.CompareAndDelete(k, rev));  // changed since
  CHECK(store.CompareAndDelete(k, store.Get(k).kvs[0].mod_revision));
  CHECK(store.Get(k).kvs.empty());
  std::optional<StoreKeyValue> gone = StoreKeyValue{};
  CHECK_FALSE(store.CompareAndPut(k, 12345, "x", 0, &gone));
  CHECK_FALSE(gone.has_value());
}

inline void Leases(ClusterStore& store, const std::string& p, const ExpireLease& expire) {
  const StoreLease lease = store.GrantLease(std::chrono::seconds(5));
  CHECK(lease != 0);
  store.Put(p + "leased", "v", lease);
  CHECK(store.Get(p + "leased").kvs.at(0).lease == lease);
  std::optional<std::chrono::seconds> ttl = store.KeepAlive(lease);
  REQUIRE(ttl.has_value());
  CHECK(ttl->count() == 5);
  std::optional<std::chrono::milliseconds> left = store.TimeToLive(lease);
  REQUIRE(left.has_value());
  CHECK(left->count() > 3000);
  CHECK(left->count() <= 5000);
  store.RevokeLease(lease);
  CHECK_FALSE(store.TimeToLive(lease).has_value());
  CHECK(store.Get(p + "leased").kvs.empty());
  CHECK_FALSE(store.KeepAlive(lease).has_value());
  store.RevokeLease(lease);  // gone already: no error
  try {
    store.Put(p + "leased", "v", lease);
    FAIL("a put with a revoked lease was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
  }
  CHECK_THROWS_AS(store.GrantLease(std::chrono::seconds(0)), Error);

  const StoreLease short_lease = store.GrantLease(std::chrono::seconds(1));
  store.Put(p + "short", "v", short_lease);
  expire(store, short_lease);
  CHECK(store.Get(p + "short").kvs.empty());
  CHECK_FALSE(store.KeepAlive(short_lease).has_value());
  CHECK_FALSE(store.TimeToLive(short_lease).has_value());
}

inline void Watches(ClusterStore& store, const std::string& p) {
  const std::int64_t start = store.Put(p + "w/seed", "0");
  // History: a watch from an older revision sees what happened since at once.
  store.Put(p + "w/one", "1");
  StoreWatch past = store.Watch(p + "w/", start, std::chrono::seconds(5));
  REQUIRE(past.events.size() == 1);
  CHECK(past.events[0].kv.key == p + "w/one");
  CHECK(past.events[0].type == StoreEvent::Type::kPut);
  // Nothing new: the wait ends empty, and not much later than asked.
  const auto t0 = std::chrono::steady_clock::now();
  StoreWatch idle = store.Watch(p + "w/", past.revision, std::chrono::milliseconds(300));
  CHECK(idle.events.empty());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  // A change while waiting ends the wait (long before its 30 s); a change elsewhere does
  // not show. The writer writes until the watcher returns: the watch may start after the
  // first writes, which it then finds in its history.
  const std::int64_t from = store.Put(p + "elsewhere", "x");
  std::atomic<bool> returned{false};
  StoreWatch live;
  std::thread watcher([&] {
    live = store.Watch(p + "w/", from, std::chrono::seconds(30));
    returned = true;
  });
  for (int i = 0; i < 500 && !returned; ++i) {
    store.Put(p + "elsewhere", "x");
    const std::int64_t rev = store.Put(p + "w/del", "d");
    store.CompareAndDelete(p + "w/del", rev);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // pacing, not synchronisation
  }
  watcher.join();
  REQUIRE_FALSE(live.events.empty());
  for (const StoreEvent& e : live.events) CHECK(e.kv.key == p + "w/del");
  StoreWatch rest = store.Watch(p + "w/", from, std::chrono::seconds(5));
  bool saw_delete = false;
  for (const StoreEvent& e : rest.events) saw_delete |= e.type == StoreEvent::Type::kDelete;
  CHECK(saw_delete);
}

inline void Leadership(ClusterStore& store, const std::string& prefix, const ExpireLease& expire) {
  StoreCluster cluster(store, prefix, "c1");
  CHECK_FALSE(cluster.Leader().has_value());
  // Members race for the key: exactly one takes it.
  constexpr int kRacers = 6;
  std::vector<StoreLease> leases;
  for (int i = 0; i < kRacers; ++i) leases.push_back(store.GrantLease(std::chrono::seconds(4)));
  std::atomic<int> winners{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < kRacers; ++i) {
    racers.emplace_back([&, i] {
      if (cluster.TakeLeader("node" + std::to_string(i), leases[static_cast<std::size_t>(i)]))
        ++winners;
    });
  }
  for (auto& t : racers) t.join();
  CHECK(winners == 1);
  std::optional<StoreKeyValue> held = cluster.Leader();
  REQUIRE(held.has_value());
  const std::string leader = held->value;
  const std::string other = leader == "node0" ? "node1" : "node0";
  CHECK_FALSE(cluster.ReleaseLeader(other));
  CHECK(cluster.Leader()->value == leader);
  // A move compares the revision it read: a stale one changes nothing.
  StoreKeyValue stale = *held;
  stale.mod_revision -= 1;
  CHECK_FALSE(cluster.MoveLeader(stale, other, leases[1]));
  CHECK(cluster.MoveLeader(*held, other, leases[1]));
  CHECK(cluster.Leader()->value == other);
  CHECK(cluster.Leader()->lease == leases[1]);
  // The leader's lease running out frees the key for the next one.
  for (std::size_t i = 0; i < leases.size(); ++i) {
    if (i != 1) store.RevokeLease(leases[i]);
  }
  expire(store, leases[1]);
  CHECK_FALSE(cluster.Leader().has_value());
  const StoreLease next = store.GrantLease(std::chrono::seconds(30));
  CHECK(cluster.TakeLeader("node2", next));
  CHECK(cluster.ReleaseLeader("node2"));
  CHECK_FALSE(cluster.Leader().has_value());
  store.RevokeLease(next);
}

inline void MembersAndOperationLock(ClusterStore& store, const std::string& prefix) {
  StoreCluster cluster(store, prefix, "c2");
  const StoreLease a = store.GrantLease(std::chrono::seconds(30));
  const StoreLease b = store.GrantLease(std::chrono::seconds(30));
  MemberStatus s;
  s.name = "pg-node01";
  s.role = "master";
  s.state = "master";
  s.timeline = 3;
  s.received = Lsn::Parse("0/5000060");
  s.agent_url = "http://127.0.0.1:8079";
  s.priority = 2;
  cluster.PublishMember(s, a);
  s.name = "pg-node02";
  s.role = "replica";
  s.nofailover = true;
  cluster.PublishMember(s, b);
  store.Put(cluster.Key("members/") + "garbage", "{not json");
  std::vector<MemberStatus> members = cluster.Members();
  REQUIRE(members.size() == 2);
  CHECK(members[0].name == "pg-node01");
  CHECK(members[0].timeline == 3);
  CHECK(members[0].received == Lsn::Parse("0/5000060"));
  CHECK(members[1].nofailover);
  CHECK_THROWS_AS(cluster.PublishMember(MemberStatus{}, a), Error);

  CHECK_FALSE(cluster.LockOperation("switchover", "h1", a).has_value());
  CHECK(cluster.LockOperation("failover", "h2", b) == std::optional<std::string>("switchover"));
  CHECK_FALSE(cluster.LockOperation("switchover", "h1", a).has_value());  // ours already
  cluster.UnlockOperation("h2");                                          // not h2's: stays
  CHECK(cluster.LockOperation("failover", "h2", b).has_value());
  cluster.UnlockOperation("h1");
  CHECK_FALSE(cluster.LockOperation("failover", "h2", b).has_value());
  // The holder's lease ends: so does the lock, and its member record.
  store.RevokeLease(b);
  CHECK_FALSE(cluster.LockOperation("switchover", "h1", a).has_value());
  CHECK(cluster.Members().size() == 1);
  store.RevokeLease(a);
}

}  // namespace pgha::store_contract

#endif  // PGHA_TESTS_STORE_CONTRACT_HPP
