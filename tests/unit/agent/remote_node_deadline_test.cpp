// A peer's calls under an operation: bounded by the time left to its deadline, and a lease
// call by half its TTL, however long the client's own timeout is.
#include "remote_node.hpp"

#include "op_deadline.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "pgha/http_server.hpp"

using pgha::ErrorCode;
using pgha::HttpMethod;
using pgha::HttpRequest;
using pgha::HttpResponse;
using pgha::agent::RemoteNode;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

namespace {

// A peer agent whose routes do not answer until the test ends.
class HangingPeer {
 public:
  HangingPeer() {
    pgha::Router r;
    auto hang = [this](const HttpRequest&) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, seconds(30), [this] { return released_; });
      return HttpResponse::Json(200, R"({"granted":true})");
    };
    r.Add(HttpMethod::kGet, "/api/pg/v1/internal/state", hang, {false, true, 0});
    r.Add(HttpMethod::kPost, "/api/pg/v1/internal/lease", hang, {false, true, 0});
    pgha::HttpServerOptions so;
    so.auth_disabled = true;
    server_ = std::make_unique<pgha::HttpServer>(so, std::move(r));
    server_->Start();
  }
  ~HangingPeer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
    server_->Stop();
  }
  pgha::NodeAddress Address() const {
    return {"n2", "http://127.0.0.1:" + std::to_string(server_->port()), "127.0.0.1", 5432};
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool released_ = false;
  std::unique_ptr<pgha::HttpServer> server_;
};

std::shared_ptr<pgha::HttpClient> SlowClient() {
  pgha::HttpClientOptions co;
  co.timeout = seconds(60);
  return std::make_shared<pgha::HttpClient>(co);
}

// The code `fn` throws and how long it took.
std::pair<ErrorCode, steady_clock::duration> Timed(const std::function<void()>& fn) {
  auto start = steady_clock::now();
  ErrorCode code = ErrorCode::kOk;
  try {
    fn();
  } catch (const pgha::Error& e) {
    code = e.code();
  }
  return {code, steady_clock::now() - start};
}

}  // namespace

TEST_CASE("a call to a peer ends at the operation's deadline, not the client's timeout") {
  HangingPeer peer;
  RemoteNode node(peer.Address(), SlowClient());
  // The operation's deadline on this thread (Cluster::Run opens such a scope).
  pgha::deadline::Scope scope(steady_clock::now() + milliseconds(200));
  auto [code, took] = Timed([&] { node.State(); });
  CHECK(code == ErrorCode::kTimeout);
  CHECK(took < seconds(10));  // the client's 60 s does not apply; a short floor does
}

TEST_CASE("a lease call to a peer waits at most half the lease's TTL") {
  HangingPeer peer;
  RemoteNode node(peer.Address(), SlowClient());
  auto [code, took] = Timed([&] { node.TryLock("switchover", "n1/1/1", milliseconds(400)); });
  CHECK(code == ErrorCode::kTimeout);
  CHECK(took < seconds(10));
}
