// RemoteNode over a real HTTP server that answers what each case says: a peer that answered,
// whatever it answered, is never Error(kPeerUnreachable), which the operations take as "down,
// may be skipped with force=true"; only a transport failure is.
#include "remote_node.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <mutex>
#include <string>

#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"

using pgha::Error;
using pgha::ErrorCode;
using pgha::HttpMethod;
using pgha::HttpRequest;
using pgha::HttpResponse;

namespace {

// A peer agent whose every route answers `answer`.
class CannedPeer {
 public:
  CannedPeer() {
    pgha::Router r;
    auto canned = [this](const HttpRequest&) {
      std::lock_guard<std::mutex> lock(mutex_);
      return answer_;
    };
    r.Add(HttpMethod::kGet, "/api/pg/v1/internal/state", canned);
    r.Add(HttpMethod::kGet, "/api/pg/v1/internal/facts", canned);
    r.Add(HttpMethod::kPost, "/api/pg/v1/internal/start", canned);
    r.Add(HttpMethod::kGet, "/api/pg/v1/walFiles/:tl/:hi/:lo", canned);
    pgha::HttpServerOptions o;
    o.auth_disabled = true;
    o.log = [](const std::string&) {};
    server_ = std::make_unique<pgha::HttpServer>(o, std::move(r));
    server_->Start();
  }
  void Answer(HttpResponse r) {
    std::lock_guard<std::mutex> lock(mutex_);
    answer_ = std::move(r);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  void Stop() { server_->Stop(); }

 private:
  std::mutex mutex_;
  HttpResponse answer_;
  std::unique_ptr<pgha::HttpServer> server_;
};

template <typename F>
ErrorCode CodeOf(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  } catch (...) {
    return ErrorCode::kOk;  // not a pgha::Error: a defect (it would be a 500 "internal error")
  }
  FAIL("no error");
  return ErrorCode::kOk;
}

HttpResponse Answer(int status, const std::string& body, bool json) {
  return json ? HttpResponse::Json(status, body) : HttpResponse::Text(status, body);
}

}  // namespace

TEST_CASE("A peer's error answer is the peer's error, never peer_unreachable") {
  CannedPeer peer;
  pgha::agent::RemoteNode node({"pg-node02", peer.Url(), "127.0.0.1", 5432},
                               std::make_shared<pgha::HttpClient>());
  struct Case {
    int status;
    std::string body;
    bool json;
    ErrorCode expected;
  };
  const Case cases[] = {
      {500, R"({"code":5,"msg":"pg_ctl failed"})", true, ErrorCode::kPostgresFailed},
      {500, R"({"code":9,"msg":"internal error"})", true, ErrorCode::kInternal},
      {409, R"({"code":4,"msg":"switchover running"})", true, ErrorCode::kConflict},
      {504, R"({"code":7,"msg":"no stream"})", true, ErrorCode::kTimeout},
      // It could not reach one of its own peers; it answered, so it is up.
      {503, R"({"code":6,"msg":"cannot ask pg-node03"})", true, ErrorCode::kInternal},
      {500, R"({"code":6,"msg":"cannot ask pg-node03"})", true, ErrorCode::kInternal},
      // Not a pgha error body (a proxy, a crash page): the status decides, 503 included.
      {503, "Service Unavailable", false, ErrorCode::kInternal},
      {500, "<html>oops</html>", false, ErrorCode::kInternal},
      {502, "", false, ErrorCode::kInternal},
      {400, "bad", false, ErrorCode::kBadInput},
  };
  for (const Case& c : cases) {
    CAPTURE(c.status);
    CAPTURE(c.body);
    peer.Answer(Answer(c.status, c.body, c.json));
    CHECK(CodeOf([&] { node.State(); }) == c.expected);
    CHECK(CodeOf([&] { node.StartMaster(); }) == c.expected);
    CHECK(CodeOf([&] { node.Facts(); }) == c.expected);
  }
}

TEST_CASE("A peer's malformed success answer is bad input, never peer_unreachable") {
  CannedPeer peer;
  pgha::agent::RemoteNode node({"pg-node02", peer.Url(), "127.0.0.1", 5432},
                               std::make_shared<pgha::HttpClient>());
  for (const char* body : {"not json", "[]", R"({"pg-node03":"master"})", R"({"pg-node02":1})",
                           R"({"pg-node02":"leader"})"}) {
    CAPTURE(std::string(body));
    peer.Answer(Answer(200, body, true));
    CHECK(CodeOf([&] { node.State(); }) == ErrorCode::kBadInput);
    CHECK(CodeOf([&] { node.Facts(); }) == ErrorCode::kBadInput);
  }
  for (const char* body : {R"({"file":"x","md5":"y"})", R"([{"file":1,"md5":"y"}])",
                           R"([{"file":"000000010000000000000001"}])", "[1]"}) {
    CAPTURE(std::string(body));
    peer.Answer(Answer(200, body, true));
    CHECK(CodeOf([&] { node.WalFilesFrom(1, pgha::Lsn::Parse("0/1000000")); }) ==
          ErrorCode::kBadInput);
  }
  peer.Answer(Answer(200, R"([{"file":"000000010000000000000001","md5":"ab"}])", true));
  auto files = node.WalFilesFrom(1, pgha::Lsn::Parse("0/1000000"));
  REQUIRE(files.size() == 1);
  CHECK(files[0].name == "000000010000000000000001");
  CHECK(files[0].md5 == "ab");
}

TEST_CASE("Only a peer that does not answer is peer_unreachable") {
  std::string url;
  {
    CannedPeer peer;
    url = peer.Url();
    peer.Stop();
  }
  pgha::agent::RemoteNode node({"pg-node02", url, "127.0.0.1", 5432},
                               std::make_shared<pgha::HttpClient>());
  CHECK(CodeOf([&] { node.State(); }) == ErrorCode::kPeerUnreachable);
  CHECK(CodeOf([&] { node.StartMaster(); }) == ErrorCode::kPeerUnreachable);
}
