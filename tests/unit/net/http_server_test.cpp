// The server and the client together on loopback: routing, auth, errors, limits.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/net_test_support.hpp"
#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"

using pgha::ErrorCode;
using pgha::HttpClient;
using pgha::HttpClientOptions;
using pgha::HttpMethod;
using pgha::HttpRequest;
using pgha::HttpResponse;
using pgha::HttpServer;
using pgha::HttpServerOptions;
using pgha::Router;
using pgha::test::RawConnection;
using json = nlohmann::json;

namespace {

constexpr const char* kToken = "s3cret-T0ken";

// A server on a free loopback port with the routes of these tests.
struct TestServer {
  explicit TestServer(HttpServerOptions options = Defaults()) {
    Router r;
    r.Add(HttpMethod::kPost, "/echo/:name", [this](const HttpRequest& req) {
      ++handled;
      json out = {{"name", req.Param("name")},
                  {"query", req.query},
                  {"body", req.body},
                  {"type", req.headers.GetOr("content-type", "")},
                  {"remote", req.remote_address}};
      return HttpResponse::Json(200, out.dump());
    });
    r.Add(HttpMethod::kGet, "/health",
          [](const HttpRequest&) { return HttpResponse::Json(200, R"({"ok":true})"); },
          {true, false, 0});
    r.Add(HttpMethod::kGet, "/private",
          [](const HttpRequest&) { return HttpResponse::Text(200, "secret"); });
    r.Add(HttpMethod::kGet, "/fail/:how", [this](const HttpRequest& req) -> HttpResponse {
      ++handled;
      const std::string& how = req.Param("how");
      if (how == "conflict") throw pgha::Error(ErrorCode::kConflict, "switchover running");
      if (how == "timeout") throw pgha::Error(ErrorCode::kTimeout, "slave did not stream");
      if (how == "std") throw std::runtime_error("secret internal detail");
      if (how == "int") throw 42;
      if (how == "status") return HttpResponse::Text(42, "odd");
      HttpResponse injected = HttpResponse::Text(200, "x");
      injected.headers.Add("X-Injected", "a\r\nSet-Cookie: evil=1");
      return injected;
    });
    r.Add(HttpMethod::kPut, "/small",
          [this](const HttpRequest& req) {
            ++handled;
            return HttpResponse::Text(200, std::to_string(req.body.size()));
          },
          {false, false, 100});
    options.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mutex);
      log.push_back(line);
    };
    server = std::make_unique<HttpServer>(options, std::move(r));
    server->Start();
  }

  static HttpServerOptions Defaults() {
    HttpServerOptions o;
    o.bearer_token = kToken;
    o.max_body_bytes = 64 * 1024;
    return o;
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + path;
  }
  std::string Log() {
    std::lock_guard<std::mutex> lock(log_mutex);
    std::string all;
    for (const auto& l : log) all += l + "\n";
    return all;
  }

  std::atomic<int> handled{0};
  std::mutex log_mutex;
  std::vector<std::string> log;
  std::unique_ptr<HttpServer> server;
};

HttpClientOptions WithToken(const std::string& token = kToken) {
  HttpClientOptions o;
  o.bearer_token = token;
  return o;
}

json ErrorBody(const HttpResponse& r) {
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("HTTP loopback: JSON round trip with parameters, query and headers") {
  TestServer s;
  const HttpClient client(WithToken());
  const HttpResponse r = client.Post(s.Url("/echo/n%C3%A9?x=1&y=a%20b"), R"({"k":"v"})");
  REQUIRE(r.status == 200);
  CHECK(*r.headers.Get("content-type") == "application/json");
  CHECK(std::stoul(*r.headers.Get("content-length")) == r.body.size());
  const json j = json::parse(r.body);
  CHECK(j["name"] == "n\xC3\xA9");
  CHECK(j["query"]["x"] == "1");
  CHECK(j["query"]["y"] == "a b");
  CHECK(j["body"] == R"({"k":"v"})");
  CHECK(j["type"] == "application/json");
  CHECK(j["remote"] == "127.0.0.1");
  // Empty POST bodies are sent with Content-Length 0 and arrive empty.
  CHECK(json::parse(client.Post(s.Url("/echo/e"), "").body)["body"] == "");
  CHECK(client.Send(HttpMethod::kHead, s.Url("/health")).status == 200);
}

TEST_CASE("HTTP loopback: bearer-token auth") {
  TestServer s;
  const HttpClient anonymous;
  const HttpClient wrong(WithToken("s3cret-T0kem"));
  const HttpClient right(WithToken());
  for (const HttpClient* c : {&anonymous, &wrong}) {
    const HttpResponse r = c->Get(s.Url("/private"));
    CHECK(r.status == 401);
    CHECK(*r.headers.Get("WWW-Authenticate") == "Bearer");
    CHECK(r.body == R"({"code":10,"msg":"unauthorized"})");
    // Unknown paths do not tell an anonymous client what exists.
    CHECK(c->Get(s.Url("/nothing")).status == 401);
  }
  CHECK(right.Get(s.Url("/private")).body == "secret");
  CHECK(anonymous.Get(s.Url("/health")).status == 200);  // public route
  pgha::HttpHeaders lower;
  lower.Add("Authorization", std::string("bearer  ") + kToken);
  CHECK(anonymous.Get(s.Url("/private"), lower).status == 200);
  for (const std::string& bad : {std::string("Basic ") + kToken, std::string("Bearer"),
                                 std::string("Bearer ") + kToken + "x", std::string(kToken)}) {
    pgha::HttpHeaders h;
    h.Add("Authorization", bad);
    CHECK(anonymous.Get(s.Url("/private"), h).status == 401);
  }
  CHECK(s.Log().find(kToken) == std::string::npos);
}

TEST_CASE("HTTP loopback: errors become {code, msg} with the documented status") {
  TestServer s;
  const HttpClient client(WithToken());
  struct Case {
    const char* path;
    int status;
    int code;
  };
  for (const Case& c :
       {Case{"/fail/conflict", 409, 4}, Case{"/fail/timeout", 504, 7}, Case{"/fail/std", 500, 9},
        Case{"/fail/int", 500, 9}, Case{"/fail/status", 500, 9}, Case{"/fail/inject", 500, 9},
        Case{"/nothing", 404, 2}, Case{"/fail/a%2Fb", 400, 1}, Case{"/fail/x?a=%zz", 400, 1}}) {
    CAPTURE(std::string(c.path));
    const HttpResponse r = client.Get(s.Url(c.path));
    CHECK(r.status == c.status);
    CHECK(*r.headers.Get("content-type") == "application/json");
    CHECK(ErrorBody(r)["code"] == c.code);
    CHECK(r.headers.Get("Set-Cookie") == nullptr);
  }
  const HttpResponse hidden = client.Get(s.Url("/fail/std"));
  CHECK(hidden.body == R"({"code":9,"msg":"internal error"})");
  CHECK(s.Log().find("secret internal detail") != std::string::npos);
  CHECK(ErrorBody(client.Get(s.Url("/fail/conflict")))["msg"] == "switchover running");
  const HttpResponse not_allowed = client.Put(s.Url("/private"), "x");
  CHECK(not_allowed.status == 405);
  CHECK(*not_allowed.headers.Get("Allow") == "GET, HEAD");
  CHECK_THROWS_WITH_AS(pgha::ThrowIfHttpError(client.Get(s.Url("/fail/conflict")), "GET x"),
                       "GET x: switchover running", pgha::Error);
}

TEST_CASE("HTTP loopback: malformed requests get 400/501/505 and the connection is closed") {
  TestServer s;
  struct Case {
    const char* label;
    std::string request;
    const char* status_line;
  };
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  const Case cases[] = {
      {"garbage", "hello there\r\n\r\n", "HTTP/1.1 400"},
      {"bad version", "GET /health HTTP/x.y\r\n\r\n", "HTTP/1.1 505"},
      {"unsupported version", "GET /health HTTP/2.0\r\n\r\n", "HTTP/1.1 505"},
      {"bad header", "GET /health HTTP/1.1\r\nNo colon here\r\n\r\n", "HTTP/1.1 400"},
      {"bad content length", "PUT /small HTTP/1.1\r\n" + auth + "Content-Length: x\r\n\r\n",
       "HTTP/1.1 400"},
      {"unknown method", "BREW /health HTTP/1.1\r\n\r\n", "HTTP/1.1 501"},
      {"NUL in path", std::string("GET /fail/a%00 HTTP/1.1\r\n") + auth + "\r\n", "HTTP/1.1 400"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.label));
    RawConnection conn(s.server->port());
    REQUIRE(conn.Send(c.request));
    const std::string reply = conn.ReadResponse();
    CAPTURE(reply);
    CHECK(reply.rfind(c.status_line, 0) == 0);
    CHECK(reply.find("application/json") != std::string::npos);
    if (std::string(c.label) == "NUL in path") continue;  // no body pending: kept open
    bool closed = false;
    CHECK(conn.ReadToEnd(&closed).empty());
    CHECK(closed);
  }
  CHECK(s.handled == 0);
}

TEST_CASE("HTTP loopback: bodies and headers over the limits are refused unread") {
  TestServer s;
  const HttpClient client(WithToken());
  // The route's own limit (100 bytes) and the server's (64 KiB).
  CHECK(client.Put(s.Url("/small"), std::string(100, 'a')).body == "100");
  CHECK(client.Put(s.Url("/small"), std::string(101, 'a')).status == 413);
  const HttpResponse big = client.Post(s.Url("/echo/x"), std::string(256 * 1024, 'a'));
  CHECK(big.status == 413);
  CHECK(ErrorBody(big)["code"] == 1);
  CHECK(s.handled == 1);

  // Content-Length alone decides: nothing of the body needs to arrive.
  RawConnection announced(s.server->port());
  announced.Send("POST /echo/x HTTP/1.1\r\nAuthorization: Bearer " + std::string(kToken) +
                 "\r\nContent-Length: 1000000000\r\n\r\n");
  CHECK(announced.ReadToEnd().rfind("HTTP/1.1 413", 0) == 0);

  // A chunked body is cut off when it passes the limit.
  RawConnection chunked(s.server->port());
  chunked.Send("PUT /small HTTP/1.1\r\nAuthorization: Bearer " + std::string(kToken) +
               "\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + std::string(128, 'b') + "\r\n");
  CHECK(chunked.ReadToEnd().rfind("HTTP/1.1 413", 0) == 0);

  RawConnection huge_header(s.server->port());
  huge_header.Send("GET /health HTTP/1.1\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n");
  CHECK(huge_header.ReadToEnd().rfind("HTTP/1.1 431", 0) == 0);
  CHECK(s.handled == 1);
}

TEST_CASE("HTTP loopback: Expect 100-continue, pipelining and keep-alive") {
  TestServer s;
  const std::string auth = "Authorization: Bearer " + std::string(kToken) + "\r\n";
  RawConnection conn(s.server->port());
  conn.Send("PUT /small HTTP/1.1\r\n" + auth + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  CHECK(conn.ReadResponse().rfind("HTTP/1.1 100 Continue", 0) == 0);
  conn.Send("hello");
  const std::string first = conn.ReadResponse();
  CHECK(first.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(first.substr(first.size() - 1) == "5");
  // Two requests in one write, answered in order on the same connection.
  conn.Send("GET /health HTTP/1.1\r\n\r\nPUT /small HTTP/1.1\r\n" + auth +
            "Content-Length: 3\r\n\r\nabc");
  CHECK(conn.ReadResponse().find(R"({"ok":true})") != std::string::npos);
  const std::string third = conn.ReadResponse();
  CHECK(third.substr(third.size() - 1) == "3");
  // A refused Expect request is answered without 100 and closed.
  RawConnection refused(s.server->port());
  refused.Send("PUT /small HTTP/1.1\r\n" + auth +
               "Expect: 100-continue\r\nContent-Length: 500\r\n\r\n");
  CHECK(refused.ReadToEnd().rfind("HTTP/1.1 413", 0) == 0);
  // An expectation other than 100-continue is refused.
  RawConnection odd(s.server->port());
  odd.Send("PUT /small HTTP/1.1\r\n" + auth + "Expect: 200-ok\r\nContent-Length: 5\r\n\r\n");
  CHECK(odd.ReadToEnd().rfind("HTTP/1.1 417", 0) == 0);
  // HTTP/1.0 without keep-alive: one response, then the server closes.
  RawConnection old(s.server->port());
  old.Send("GET /health HTTP/1.0\r\n\r\n");
  bool closed = false;
  CHECK(old.ReadToEnd(&closed).rfind("HTTP/1.0 200", 0) == 0);
  CHECK(closed);
}

TEST_CASE("HttpServerOptions are checked") {
  auto error_of = [](HttpServerOptions o) {
    try {
      HttpServer server(std::move(o), Router());
    } catch (const pgha::Error& e) {
      return static_cast<int>(e.code());
    }
    return 0;
  };
  HttpServerOptions o;
  CHECK(error_of(o) == 1);  // empty token, auth not explicitly off
  o.auth_disabled = true;
  CHECK(error_of(o) == 0);
  o.bearer_token = "t";
  CHECK(error_of(o) == 1);  // both
  o.auth_disabled = false;
  CHECK(error_of(o) == 0);
  for (const char* bad : {"with space", "tab\there", "\x7F"}) {
    o.bearer_token = bad;
    CHECK(error_of(o) == 1);
  }
  o.bearer_token = "t";
  for (const char* bad : {"", "example.com", "300.1.1.1", "127.0.0.1:80"}) {
    o.address = bad;
    CHECK(error_of(o) == 1);
  }
  o.address = "localhost";
  CHECK(error_of(o) == 0);
  o.threads = 0;
  CHECK(error_of(o) == 1);
  o.threads = 2;
  o.max_body_bytes = 0;
  CHECK(error_of(o) == 1);
  o.max_body_bytes = 1;
  o.read_timeout = std::chrono::milliseconds(0);
  CHECK(error_of(o) == 1);
}

TEST_CASE("HttpServer: a port in use, Start twice, IPv6 loopback") {
  TestServer s;
  HttpServerOptions o = TestServer::Defaults();
  o.port = s.server->port();
  HttpServer clash(o, Router());
  try {
    clash.Start();
    FAIL("started on a used port");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
  }
  CHECK_THROWS_AS(s.server->Start(), pgha::Error);

  HttpServerOptions v6 = TestServer::Defaults();
  v6.address = "::1";
  Router r;
  r.Add(HttpMethod::kGet, "/",
        [](const HttpRequest& req) { return HttpResponse::Text(200, req.remote_address); });
  HttpServer server6(v6, std::move(r));
  try {
    server6.Start();
  } catch (const pgha::Error& e) {
    MESSAGE("no IPv6 loopback here: " << e.what());
    return;
  }
  const HttpClient client(WithToken());
  CHECK(client.Get("http://[::1]:" + std::to_string(server6.port()) + "/").body == "::1");
}
