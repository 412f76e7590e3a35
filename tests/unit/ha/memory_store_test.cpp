// MemoryStore against the ClusterStore contract, with a fake clock for lease expiry.
#include "pgha/memory_store.hpp"

#include <doctest/doctest.h>

#include "store_contract.hpp"

namespace {

using namespace pgha;

struct FakeClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  MemoryStore::Clock fn() {
    return [this] { return now; };
  }
};

store_contract::ExpireLease Expire(FakeClock& clock) {
  return [&clock](ClusterStore& store, StoreLease) {
    clock.now += std::chrono::seconds(60);
    static_cast<MemoryStore&>(store).ExpireLeases();
  };
}

}  // namespace

TEST_CASE("MemoryStore: keys, revisions and prefixes") {
  MemoryStore store;
  store_contract::KeysAndRevisions(store, "/t/kv/");
}

TEST_CASE("MemoryStore: compare-and-swap") {
  MemoryStore store;
  store_contract::CompareAndSwap(store, "/t/cas/");
}

TEST_CASE("MemoryStore: leases") {
  FakeClock clock;
  MemoryStore store(clock.fn());
  store_contract::Leases(store, "/t/lease/", Expire(clock));
}

TEST_CASE("MemoryStore: a lease kept alive does not expire; one left alone does, by its TTL") {
  FakeClock clock;
  MemoryStore store(clock.fn());
  const StoreLease lease = store.GrantLease(std::chrono::seconds(10));
  store.Put("/k", "v", lease);
  for (int i = 0; i < 5; ++i) {
    clock.now += std::chrono::seconds(6);
    REQUIRE(store.KeepAlive(lease).has_value());
  }
  CHECK(store.Get("/k").kvs.size() == 1);
  clock.now += std::chrono::seconds(9);
  CHECK(store.Get("/k").kvs.size() == 1);
  clock.now += std::chrono::seconds(1);
  CHECK(store.Get("/k").kvs.empty());
}

TEST_CASE("MemoryStore: watches") {
  MemoryStore store;
  store_contract::Watches(store, "/t/watch/");
}

TEST_CASE("MemoryStore: leader key, members and the operation lock") {
  FakeClock clock;
  MemoryStore store(clock.fn());
  store_contract::Leadership(store, "/pgha", Expire(clock));
  store_contract::MembersAndOperationLock(store, "/pgha");
}

TEST_CASE("MemoryStore: unreachable means every call fails as a partitioned store would") {
  MemoryStore store;
  store.Put("/k", "v");
  store.SetReachable(false);
  try {
    store.Get("/k");
    FAIL("an unreachable store answered");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kPeerUnreachable);
  }
  CHECK_THROWS_AS(store.KeepAlive(1), Error);
  store.SetReachable(true);
  CHECK(store.Get("/k").kvs.size() == 1);
}

TEST_CASE("StoreCluster: bad prefix and cluster names are refused") {
  MemoryStore store;
  CHECK_THROWS_AS(StoreCluster(store, "pgha", "c"), Error);
  CHECK_THROWS_AS(StoreCluster(store, "/pgha", "a/b"), Error);
  CHECK_THROWS_AS(StoreCluster(store, "/pgha", ""), Error);
  CHECK(StoreCluster(store, "/pgha/", "c").Key("leader") == "/pgha/c/leader");
}

TEST_CASE("MemberStatus: JSON round trip and strict reading") {
  MemberStatus s;
  s.name = "n1";
  s.role = "replica";
  s.state = "slave";
  s.timeline = 7;
  s.received = Lsn::Parse("1/2");
  s.replayed = Lsn::Parse("1/1");
  s.priority = -3;
  MemberStatus back = MemberStatusFromJson(MemberStatusToJson(s));
  CHECK(back.name == "n1");
  CHECK(back.timeline == 7);
  CHECK(back.replayed == Lsn::Parse("1/1"));
  CHECK(back.priority == -3);
  for (const char* bad : {"", "[]", "{}", R"({"name":1})",
                          R"({"name":"n","role":"","state":"","timeline":-1,"received":"0/0",
                              "replayed":"0/0","agent_url":"","nofailover":false,"priority":0})",
                          R"({"name":"n","role":"","state":"","timeline":1,"received":"zz",
                              "replayed":"0/0","agent_url":"","nofailover":false,"priority":0})"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(MemberStatusFromJson(bad), Error);
  }
}

TEST_CASE("StoreCluster: the sync record is written by compare-and-swap only") {
  MemoryStore store;
  StoreCluster c(store, "/pgha", "c");
  CHECK_FALSE(c.Sync().has_value());
  SyncRecord rec{"n1", {"n2"}, "synchronous", 0};
  CHECK(c.WriteSync(rec));
  CHECK_FALSE(c.WriteSync(rec));  // read at revision 0: the key exists now
  std::optional<SyncRecord> got = c.Sync();
  REQUIRE(got.has_value());
  CHECK(got->leader == "n1");
  CHECK(got->standbys == std::vector<std::string>{"n2"});
  CHECK(got->state == "synchronous");
  SyncRecord stale = *got;
  got->standbys.clear();
  CHECK(c.WriteSync(*got));
  CHECK_FALSE(c.WriteSync(stale));  // a stale leader's write fails
  CHECK(c.Sync()->standbys.empty());
  // A record this version cannot read names no standby.
  store.Put(c.Key("sync"), "not json");
  REQUIRE(c.Sync().has_value());
  CHECK(c.Sync()->standbys.empty());
  CHECK(c.Sync()->leader.empty());
}

TEST_CASE("StoreCluster: settings are merged, checked and keep the fields not named") {
  MemoryStore store;
  StoreCluster c(store, "/pgha", "c");
  CHECK_FALSE(c.Settings().pause);
  CHECK_FALSE(c.Settings().synchronous_mode.has_value());
  c.ChangeSettings(R"({"synchronous_mode": true})");
  ClusterSettings s = c.ChangeSettings(R"({"pause": true})");
  CHECK(s.pause);
  CHECK(s.synchronous_mode == std::optional<bool>(true));
  CHECK(c.Settings().synchronous_mode == std::optional<bool>(true));
  CHECK_FALSE(c.Settings().synchronous_mode_strict);
  for (const char* bad : {"[]", "1", R"({"pause": 1})", R"({"ttl": true})"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(c.ChangeSettings(bad), Error);
  }
  CHECK(c.Settings().pause);
}
