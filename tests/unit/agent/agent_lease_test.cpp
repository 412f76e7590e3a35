// The agent's lease routes over loopback, without PostgreSQL: what POST internal/lease
// accepts, what GET internal/lease tells a peer, and when a peer's answer frees a lease.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "agent_impl.hpp"
#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"

using nlohmann::json;
using pgha::HttpClient;
using pgha::HttpClientOptions;
using pgha::HttpMethod;
using pgha::HttpRequest;
using pgha::HttpResponse;
using pgha::HttpServer;
using pgha::HttpServerOptions;
using pgha::Router;
using std::chrono::milliseconds;

namespace {

constexpr const char* kToken = "lease-test-token";

// A peer's agent that answers GET internal/lease with `answer`.
struct FakePeer {
  FakePeer() {
    Router r;
    r.Add(HttpMethod::kGet, "/api/pg/v1/internal/lease", [this](const HttpRequest&) {
      std::lock_guard<std::mutex> lock(mutex);
      return HttpResponse::Json(200, answer);
    });
    HttpServerOptions so;
    so.bearer_token = kToken;
    server = std::make_unique<HttpServer>(so, std::move(r));
    server->Start();
  }
  ~FakePeer() { server->Stop(); }
  void Answer(const std::string& body) {
    std::lock_guard<std::mutex> lock(mutex);
    answer = body;
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }

  std::mutex mutex;
  std::string answer = "{}";
  std::unique_ptr<HttpServer> server;
};

pgha::AgentConfig Config(const std::string& peer_url) {
  pgha::AgentConfig c;
  c.local_node = "n1";
  c.nodes = {{"n1", "http://127.0.0.1:1", "127.0.0.1", 5432}, {"n2", peer_url, "127.0.0.1", 5433}};
  c.api_token = kToken;
  c.pgdata = "/nonexistent/pgha-agent-lease-test";
  return c;
}

// Agent n1's internal routes on a loopback port (PostgreSQL is never asked).
struct TestAgent {
  explicit TestAgent(const std::string& peer_url) : impl(Config(peer_url)) {
    Router r;
    pgha::agent::AddInternalRoutes(impl, r);
    HttpServerOptions so;
    so.bearer_token = kToken;
    server = std::make_unique<HttpServer>(so, std::move(r));
    server->Start();
    HttpClientOptions co;
    co.bearer_token = kToken;
    client = std::make_unique<HttpClient>(co);
  }
  ~TestAgent() { server->Stop(); }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + "/api/pg/v1/" + path;
  }
  HttpResponse PostLease(const std::string& body) {
    return client->Post(Url("internal/lease"), body);
  }
  json GetLease(const std::string& holder) {
    HttpResponse r = client->Get(Url("internal/lease?holder=" + pgha::PercentEncode(holder)));
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }

  pgha::Agent::Impl impl;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<HttpClient> client;
};

std::string LeaseBody(const json& ttl_ms) {
  return json{{"operation", "switchover masterSlave"}, {"holder", "n2/1/1"}, {"ttl_ms", ttl_ms}}
      .dump();
}

}  // namespace

TEST_CASE("POST internal/lease refuses a ttl_ms that is not an integer from 1 to 10 min") {
  FakePeer peer;
  TestAgent agent(peer.Url());
  for (const json& bad : {json(-1), json(0), json(600001), json(std::int64_t{1} << 40),
                          json(-9223372036854775807LL), json(18446744073709551615ULL), json(1.5),
                          json("5000"), json(nullptr), json(true), json::array({5000})}) {
    CAPTURE(bad.dump());
    HttpResponse r = agent.PostLease(LeaseBody(bad));
    CHECK(r.status == 400);
    CHECK_FALSE(agent.impl.local->leases().Current());
  }
  for (const std::string& body :
       {std::string(R"({"operation":"x","holder":"n2/1/1"})"),          // no ttl_ms
        std::string(R"({"operation":"x","ttl_ms":5000})"),              // no holder
        std::string(R"({"operation":"x","holder":"","ttl_ms":5000})"),  // empty holder
        std::string(R"({"operation":7,"holder":"n2/1/1","ttl_ms":5000})"), std::string("[5000]"),
        std::string("{not json")}) {
    CAPTURE(body);
    CHECK(agent.PostLease(body).status == 400);
    CHECK_FALSE(agent.impl.local->leases().Current());
  }
  HttpResponse ok = agent.PostLease(LeaseBody(600000));
  CHECK(ok.status == 200);
  CHECK(json::parse(ok.body).at("granted") == true);
  CHECK(agent.impl.local->leases().HeldBy("n2/1/1"));
}

TEST_CASE("GET internal/lease says an own operation runs until it gives the lease back") {
  FakePeer peer;
  TestAgent agent(peer.Url());
  // This agent's operation, whose renewal is late: its lease here expired, it still runs.
  REQUIRE_FALSE(agent.impl.local->TryLock("switchover slaveMaster", "n1/7/1", milliseconds(0)));
  CHECK_FALSE(agent.impl.local->leases().HeldBy("n1/7/1"));
  CHECK(agent.GetLease("n1/7/1") == json{{"node", "n1"}, {"held", true}});
  agent.impl.local->Unlock("n1/7/1");
  CHECK(agent.GetLease("n1/7/1") == json{{"node", "n1"}, {"held", false}});
  CHECK(agent.GetLease("n1/never/1") == json{{"node", "n1"}, {"held", false}});
  // A peer's holder: whether it holds this node's lease now.
  REQUIRE_FALSE(agent.impl.local->TryLock("failover promote", "n2/3/1", milliseconds(60000)));
  CHECK(agent.GetLease("n2/3/1") == json{{"node", "n1"}, {"held", true}});
}

TEST_CASE("a peer's lease is freed only when that peer's agent says, for itself, it is gone") {
  FakePeer peer;
  TestAgent agent(peer.Url());
  const std::string holder = "n2/5/1";
  struct Case {
    std::string answer;
    bool gone;
  };
  for (const Case& c :
       {Case{R"({"node":"n2","held":false})", true}, Case{R"({"node":"n2","held":true})", false},
        Case{R"({"held":false})", false},  // not said by n2 for itself
        Case{R"({"node":"n3","held":false})", false}, Case{R"({"node":"n2","held":"no"})", false},
        Case{R"({"node":"n2"})", false}, Case{"[]", false}, Case{"not json", false}}) {
    CAPTURE(c.answer);
    peer.Answer(c.answer);
    CHECK(agent.impl.HolderGone(holder) == c.gone);
  }
  // A holder of a node that is not a peer, or of this one, is never declared gone.
  peer.Answer(R"({"node":"n2","held":false})");
  CHECK_FALSE(agent.impl.HolderGone("n9/1/1"));
  CHECK_FALSE(agent.impl.HolderGone("n1/1/1"));
}

TEST_CASE("a peer's lease is kept while its agent cannot be asked") {
  TestAgent agent("http://127.0.0.1:1");  // nothing listens there
  CHECK_FALSE(agent.impl.HolderGone("n2/5/1"));
}
