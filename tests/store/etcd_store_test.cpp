// EtcdStore against a real etcd (tests/store/run_etcd_tests.sh starts it): the ClusterStore
// contract, fail-over between endpoints, and authentication. PGHA_ETCD_ENDPOINTS is a
// comma-separated list of client URLs; the first may be a dead one.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>

#include "pgha/etcd_store.hpp"
#include "store_contract.hpp"

namespace {

using namespace pgha;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') FAIL("set ", name, " (tests/store/run_etcd_tests.sh does)");
  return v;
}

std::vector<std::string> Endpoints() {
  std::vector<std::string> out;
  std::stringstream in(Env("PGHA_ETCD_ENDPOINTS"));
  for (std::string e; std::getline(in, e, ',');) out.push_back(e);
  return out;
}

EtcdOptions Options() {
  EtcdOptions o;
  o.endpoints = Endpoints();
  if (const char* user = std::getenv("PGHA_ETCD_USER")) o.username = user;
  if (const char* pw = std::getenv("PGHA_ETCD_PASSWORD")) o.password = pw;
  return o;
}

// A prefix no other run has used.
std::string Fresh(const char* what) {
  return "/pgha-test/" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "/" + what +
         "/";
}

// Waits out `lease` without renewing it: polls its keys' existence instead of KeepAlive.
store_contract::ExpireLease ExpireByTime(const std::string& key_prefix) {
  return [key_prefix](ClusterStore& store, StoreLease lease) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(40);
    while (std::chrono::steady_clock::now() < until) {
      bool bound = false;
      for (const StoreKeyValue& kv : store.GetPrefix(key_prefix).kvs) bound |= kv.lease == lease;
      if (!bound) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL("lease ", lease, " did not expire");
  };
}

}  // namespace

TEST_CASE("etcd: keys, revisions and prefixes") {
  EtcdStore store(Options());
  store_contract::KeysAndRevisions(store, Fresh("kv"));
}

TEST_CASE("etcd: compare-and-swap") {
  EtcdStore store(Options());
  store_contract::CompareAndSwap(store, Fresh("cas"));
}

TEST_CASE("etcd: leases") {
  EtcdStore store(Options());
  const std::string p = Fresh("lease");
  store_contract::Leases(store, p, ExpireByTime(p));
}

TEST_CASE("etcd: watches") {
  EtcdStore store(Options());
  store_contract::Watches(store, Fresh("watch"));
}

TEST_CASE("etcd: leader key, members and the operation lock") {
  EtcdStore store(Options());
  const std::string p = Fresh("cluster");
  store_contract::Leadership(store, p.substr(0, p.size() - 1), ExpireByTime(p));
  store_contract::MembersAndOperationLock(store, p.substr(0, p.size() - 1));
}

TEST_CASE("etcd: a dead endpoint first in the list is passed over") {
  EtcdOptions o = Options();
  if (o.endpoints.size() < 2) FAIL("PGHA_ETCD_ENDPOINTS needs a dead endpoint first");
  EtcdStore store(o);
  store.Put(Fresh("failover") + "k", "v");
  CHECK(store.CurrentEndpoint() == o.endpoints.back());
}

TEST_CASE("etcd: no endpoint answering is kPeerUnreachable, within the timeouts") {
  EtcdOptions o = Options();
  o.endpoints = {o.endpoints.front()};  // the dead one
  o.connect_timeout = std::chrono::milliseconds(300);
  EtcdStore store(o);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    store.Get("/k");
    FAIL("a dead endpoint answered");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kPeerUnreachable);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK_THROWS_AS(EtcdStore(EtcdOptions{}), Error);
  EtcdOptions bad;
  bad.endpoints = {"ftp://127.0.0.1:1"};
  CHECK_THROWS_AS(EtcdStore{bad}, Error);
}

TEST_CASE("etcd auth: a wrong password is kUnauthorized and never quoted" *
          doctest::skip(std::getenv("PGHA_ETCD_USER") == nullptr)) {
  EtcdOptions o = Options();
  o.password = "wrong-secret-password";
  EtcdStore store(o);
  try {
    store.Get("/k");
    FAIL("a wrong password was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kUnauthorized);
    CHECK(std::string(e.what()).find("wrong-secret-password") == std::string::npos);
  }
  EtcdStore good(Options());
  good.Put(Fresh("auth") + "k", "v");
  CHECK_FALSE(good.GetPrefix("/pgha-test/").kvs.empty());
}

TEST_CASE("etcd auth: without credentials the store refuses" *
          doctest::skip(std::getenv("PGHA_ETCD_USER") == nullptr)) {
  EtcdOptions o = Options();
  o.username.clear();
  o.password.clear();
  EtcdStore store(o);
  try {
    store.Put("/k", "v");
    FAIL("etcd with auth accepted an anonymous put");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kUnauthorized);
  }
}
