// HTTPS on loopback: the server with a certificate made at test time, the client verifying
// it; what is refused (untrusted CA, wrong host name, plain HTTP, missing client
// certificate) and that the deadlines hold during the handshake.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "net/tls_test_support.hpp"
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
using pgha::test::ScratchDir;
using pgha::test::TlsFiles;
using pgha::test::WaitFor;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kToken = "tls-T0ken";

Router TestRoutes(const std::string& file) {
  Router r;
  r.Add(HttpMethod::kGet, "/health",
        [](const HttpRequest&) { return HttpResponse::Json(200, R"({"ok":true})"); },
        {true, false, 0});
  r.Add(HttpMethod::kGet, "/private",
        [](const HttpRequest&) { return HttpResponse::Text(200, "secret"); });
  r.Add(HttpMethod::kPost, "/size", [](const HttpRequest& req) {
    return HttpResponse::Text(200, std::to_string(req.body.size()));
  });
  r.Add(HttpMethod::kGet, "/file", [file](const HttpRequest&) { return HttpResponse::File(file); });
  r.Add(HttpMethod::kPut, "/small",
        [](const HttpRequest& req) {
          return HttpResponse::Text(200, std::to_string(req.body.size()));
        },
        {false, false, 1024});
  return r;
}

HttpServerOptions TlsServer(const TlsFiles& tls) {
  HttpServerOptions o;
  o.bearer_token = kToken;
  o.tls.cert_file = tls.cert_file;
  o.tls.key_file = tls.key_file;
  return o;
}

HttpClientOptions Trusting(const std::string& ca_file) {
  HttpClientOptions o;
  o.bearer_token = kToken;
  o.tls.ca_file = ca_file;
  o.connect_timeout = std::chrono::seconds(5);
  o.timeout = std::chrono::seconds(10);
  return o;
}

std::string Url(const HttpServer& s, const std::string& host, const std::string& path) {
  return "https://" + host + ":" + std::to_string(s.port()) + path;
}

// The pgha::Error `call` throws (FAILs when it throws none).
std::optional<pgha::Error> ErrorOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const pgha::Error& e) {
    return e;
  }
  FAIL("no pgha::Error thrown");
  return std::nullopt;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string RandomBytes(std::size_t n) {
  std::mt19937 gen(777);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xFF);
  return s;
}

}  // namespace

TEST_CASE("HTTPS: a client that trusts the CA gets answers, files and uploads included") {
  TlsFiles tls;
  const std::string content = RandomBytes(3 * 1024 * 1024 + 5);
  pgha::test::WriteTextFile(tls.dir.File("seg"), content);
  HttpServer server(TlsServer(tls), TestRoutes(tls.dir.File("seg")));
  server.Start();
  const HttpClient client(Trusting(tls.ca_file));
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    CHECK(client.Get(Url(server, host, "/health")).body == R"({"ok":true})");
  }
  CHECK(client.Get(Url(server, "127.0.0.1", "/private")).body == "secret");
  const std::string body = RandomBytes(2u << 20);
  CHECK(client.Post(Url(server, "127.0.0.1", "/size"), body).body == std::to_string(body.size()));
  CHECK(client.Get(Url(server, "127.0.0.1", "/file")).body == content);
  ScratchDir out;
  CHECK(client.DownloadToFile(Url(server, "127.0.0.1", "/file"), out.File("copy"), 16u << 20)
            .status == 200);
  std::ifstream in(out.File("copy"), std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == content);
  const HttpResponse head = client.Send(HttpMethod::kHead, Url(server, "127.0.0.1", "/file"));
  CHECK(*head.headers.Get("Content-Length") == std::to_string(content.size()));

  // Auth is unchanged under TLS: 401 JSON without detail.
  HttpClientOptions anonymous = Trusting(tls.ca_file);
  anonymous.bearer_token.clear();
  const HttpResponse denied = HttpClient(anonymous).Get(Url(server, "127.0.0.1", "/private"));
  CHECK(denied.status == 401);
  CHECK(denied.body == R"({"code":10,"msg":"unauthorized"})");

  // Refusals before the body is read (the connection is closed, the rest drained) arrive
  // intact over TLS too.
  const std::string big(100 * 1024, 'x');
  CHECK(HttpClient(anonymous).Put(Url(server, "127.0.0.1", "/small"), big).status == 401);
  const HttpResponse too_big = client.Put(Url(server, "127.0.0.1", "/small"), big);
  CHECK(too_big.status == 413);
  CHECK(Contains(too_big.body, "larger than the limit of 1024"));
  CHECK(client.Put(Url(server, "127.0.0.1", "/small"), "tiny").body == "4");
}

TEST_CASE("HTTPS: a client that does not trust the certificate fails with a clear error") {
  TlsFiles tls;
  HttpServer server(TlsServer(tls), TestRoutes(tls.cert_file));
  server.Start();
  // The system's CA store, then another CA.
  TlsFiles other;
  for (const std::string& ca : {std::string(), other.ca_file}) {
    CAPTURE(ca);
    const HttpClient client(Trusting(ca));
    const auto e = ErrorOf([&] { client.Get(Url(server, "127.0.0.1", "/health")); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::kPeerUnreachable);
    CHECK(Contains(e->what(), "certificate"));
    CHECK(Contains(e->what(), "HINT"));
    CHECK(Contains(e->what(), Url(server, "127.0.0.1", "/health")));
  }
  // Skipping verification must be said explicitly; then the same server answers.
  HttpClientOptions insecure;
  insecure.tls.insecure_skip_verify = true;
  CHECK(HttpClient(insecure).Get(Url(server, "127.0.0.1", "/health")).status == 200);
}

TEST_CASE("HTTPS: a certificate that does not name the host is refused") {
  TlsFiles tls;
  tls.Issue("elsewhere", {"pgha elsewhere", {"db.example.org"}, {"192.0.2.7"}});
  HttpServerOptions o = TlsServer(tls);
  o.tls.cert_file = tls.dir.File("elsewhere.pem");
  o.tls.key_file = tls.dir.File("elsewhere.key");
  HttpServer server(o, TestRoutes(tls.cert_file));
  server.Start();
  const HttpClient client(Trusting(tls.ca_file));
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    const auto e = ErrorOf([&] { client.Get(Url(server, host, "/health")); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::kPeerUnreachable);
    CHECK(Contains(e->what(), host));
    CHECK(Contains(e->what(), "HINT"));
  }
}

TEST_CASE("HTTPS: plain HTTP to the TLS port is refused, TLS to a plain port fails clearly") {
  TlsFiles tls;
  HttpServer server(TlsServer(tls), TestRoutes(tls.cert_file));
  server.Start();
  RawConnection raw(server.port());
  raw.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  const std::string reply = raw.ReadToEnd(&closed);
  CHECK(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(Contains(reply, R"({"code":1,"msg":"this port serves HTTPS: plain HTTP is refused"})"));
  CHECK(closed);
  const HttpClient plain_client(Trusting(tls.ca_file));
  const std::string http_url = "http://127.0.0.1:" + std::to_string(server.port()) + "/health";
  CHECK(plain_client.Get(http_url).status == 400);

  HttpServerOptions plain_options;
  plain_options.auth_disabled = true;
  HttpServer plain(plain_options, TestRoutes(tls.cert_file));
  plain.Start();
  const auto e = ErrorOf([&] { plain_client.Get(Url(plain, "127.0.0.1", "/health")); });
  REQUIRE(e);
  CHECK(e->code() == ErrorCode::kPeerUnreachable);
  CHECK(Contains(e->what(), "HINT: TLS handshake failed"));
  CHECK(WaitFor([&] { return server.connection_count() == 0; }));
}

TEST_CASE("HTTPS: a silent or slow handshake is cut off by the same deadlines") {
  TlsFiles tls;
  HttpServerOptions o = TlsServer(tls);
  o.idle_timeout = std::chrono::milliseconds(300);
  o.read_timeout = std::chrono::milliseconds(300);
  HttpServer server(o, TestRoutes(tls.cert_file));
  server.Start();
  // Nothing; the start of a ClientHello record that never ends; the record header alone.
  const std::string stalls[] = {std::string(), std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8),
                                std::string("\x16\x03\x01", 3)};
  for (const std::string& sent : stalls) {
    CAPTURE(sent.size());
    const auto start = Clock::now();
    RawConnection conn(server.port());
    conn.Send(sent);
    bool closed = false;
    conn.ReadToEnd(&closed);
    const auto elapsed = Clock::now() - start;
    CHECK(closed);
    CHECK(elapsed >= std::chrono::milliseconds(250));
    CHECK(elapsed < std::chrono::seconds(3));
  }
  CHECK(WaitFor([&] { return server.connection_count() == 0; }));
  // The server still serves.
  CHECK(HttpClient(Trusting(tls.ca_file)).Get(Url(server, "127.0.0.1", "/health")).status == 200);
}

TEST_CASE("HTTPS: with a client CA, only clients with a certificate it signed get in") {
  TlsFiles tls;
  tls.Issue("client", {"pgha client", {}, {}});
  TlsFiles other;
  other.Issue("stranger", {"stranger", {}, {}});
  HttpServerOptions o = TlsServer(tls);
  o.tls.client_ca_file = tls.ca_file;
  HttpServer server(o, TestRoutes(tls.cert_file));
  server.Start();
  const std::string url = Url(server, "127.0.0.1", "/private");

  HttpClientOptions with_cert = Trusting(tls.ca_file);
  with_cert.tls.cert_file = tls.dir.File("client.pem");
  with_cert.tls.key_file = tls.dir.File("client.key");
  CHECK(HttpClient(with_cert).Get(url).body == "secret");

  HttpClientOptions stranger = Trusting(tls.ca_file);
  stranger.tls.cert_file = other.dir.File("stranger.pem");
  stranger.tls.key_file = other.dir.File("stranger.key");
  for (const HttpClientOptions& options : {Trusting(tls.ca_file), stranger}) {
    const HttpClient client(options);
    const auto e = ErrorOf([&] { client.Get(url); });
    REQUIRE(e);
    CHECK(e->code() == ErrorCode::kPeerUnreachable);
  }
}

TEST_CASE("HTTPS: many concurrent keep-alive clients") {
  TlsFiles tls;
  HttpServer server(TlsServer(tls), TestRoutes(tls.cert_file));
  server.Start();
  const HttpClient client(Trusting(tls.ca_file));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (client.Get(Url(server, "127.0.0.1", "/private")).body == "secret") ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(ok == 160);
}
