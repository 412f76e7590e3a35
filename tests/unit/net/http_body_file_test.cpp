// Bodies larger than memory should hold: a route's request body written to a file as it
// arrives (Router::Add's body_file), and a download passed to a sink piece by piece.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "net/net_test_support.hpp"
#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"

using pgha::ErrorCode;
using pgha::HttpBodyFile;
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

namespace {

constexpr const char* kToken = "s3cret-T0ken";
constexpr std::uint64_t kFileLimit = 3u << 20;  // above the server's 64 KiB for memory

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// PUT /spool/:what: the body goes to a file in `dir` ("refuse" refuses before the body).
struct SpoolServer {
  SpoolServer() {
    Router r;
    r.Add(
        HttpMethod::kPut, "/spool/:what",
        [this](const HttpRequest& req) {
          seen_file = req.body_file;
          seen_in_memory = req.body.size();
          const std::string content = req.body_file.empty() ? "" : ReadAll(req.body_file);
          return HttpResponse::Text(200,
                                    std::to_string(content.size()) + ":" + content.substr(0, 8));
        },
        {false, true, 0},
        [this](const HttpRequest& head) {
          if (head.Param("what") == "refuse") {
            throw pgha::Error(ErrorCode::kConflict, "the server owns this directory");
          }
          return HttpBodyFile{dir.File("body." + std::to_string(++files)), kFileLimit};
        });
    r.Add(HttpMethod::kGet, "/file",
          [this](const HttpRequest&) { return HttpResponse::File(dir.File("download")); });
    HttpServerOptions o;
    o.bearer_token = kToken;
    o.max_body_bytes = 64 * 1024;
    server = std::make_unique<HttpServer>(o, std::move(r));
    server->Start();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + path;
  }
  bool DirEmpty() const { return std::filesystem::is_empty(dir.path()); }

  ScratchDir dir;
  std::atomic<int> files{0};
  std::string seen_file;
  std::size_t seen_in_memory = 0;
  std::unique_ptr<HttpServer> server;
};

HttpClientOptions WithToken() {
  HttpClientOptions o;
  o.bearer_token = kToken;
  return o;
}

}  // namespace

TEST_CASE("A route's body file: written as it arrives, removed after the handler") {
  SpoolServer s;
  const HttpClient client(WithToken());
  const std::string body = "WALWALWA" + std::string((2u << 20) - 8, 'w');  // > 64 KiB
  HttpResponse r = client.Put(s.Url("/spool/x"), body);
  CHECK(r.status == 200);
  CHECK(r.body == std::to_string(body.size()) + ":WALWALWA");
  CHECK(s.seen_in_memory == 0);
  CHECK(s.seen_file == s.dir.File("body.1"));
  CHECK(s.DirEmpty());

  // Its own limit, decided from Content-Length before anything is written.
  r = client.Put(s.Url("/spool/x"), std::string(kFileLimit + 1, 'w'));
  CHECK(r.status == 413);
  CHECK(s.DirEmpty());
  // A chunked body cut off at the limit: no file left either.
  RawConnection chunked(s.server->port());
  std::string chunk(1u << 20, 'c');
  std::string request = "PUT /spool/x HTTP/1.1\r\nAuthorization: Bearer " + std::string(kToken) +
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) request += "100000\r\n" + chunk + "\r\n";
  chunked.Send(request);
  CHECK(chunked.ReadToEnd().rfind("HTTP/1.1 413", 0) == 0);
  CHECK(pgha::test::WaitFor([&] { return s.DirEmpty(); }));

  // The function's error refuses the request, with its status, before the body.
  r = client.Put(s.Url("/spool/refuse"), body);
  CHECK(r.status == 409);
  CHECK(r.body.find("owns this directory") != std::string::npos);
  CHECK(s.DirEmpty());

  // A client that goes away in the middle of the body leaves nothing behind.
  {
    RawConnection gone(s.server->port());
    gone.Send("PUT /spool/x HTTP/1.1\r\nAuthorization: Bearer " + std::string(kToken) +
              "\r\nContent-Length: 2000000\r\n\r\n" + std::string(1000, 'g'));
    CHECK(pgha::test::WaitFor([&] { return !s.DirEmpty(); }));
  }
  CHECK(pgha::test::WaitFor([&] { return s.DirEmpty(); }));

  // No body: nothing spooled.
  r = client.Put(s.Url("/spool/x"), "");
  CHECK(r.body == "0:");
  CHECK(s.seen_file.empty());
}

TEST_CASE("DownloadToSink streams a body larger than the in-memory limit") {
  SpoolServer s;
  const std::uint64_t size = (1u << 20) + 12345;
  {
    std::ofstream out(s.dir.File("download"), std::ios::binary);
    for (std::uint64_t i = 0; i < size; ++i) out.put(static_cast<char>(i % 251));
  }
  HttpClientOptions small = WithToken();
  small.max_response_bytes = 64 * 1024;
  const HttpClient client(small);
  CHECK_THROWS_AS(client.Get(s.Url("/file")), pgha::Error);  // over the in-memory limit

  std::uint64_t got = 0;
  bool in_order = true;
  std::size_t calls = 0;
  HttpResponse r = client.DownloadToSink(
      s.Url("/file"),
      [&](const char* data, std::size_t n) {
        ++calls;
        for (std::size_t i = 0; i < n; ++i)
          in_order = in_order && static_cast<unsigned char>(data[i]) == (got + i) % 251;
        got += n;
      },
      size);
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(got == size);
  CHECK(in_order);
  CHECK(calls > 1);

  // Over max_bytes, and an exception of the sink, abort the transfer.
  try {
    client.DownloadToSink(
        s.Url("/file"), [](const char*, std::size_t) {}, size - 1);
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
  }
  try {
    client.DownloadToSink(
        s.Url("/file"),
        [](const char*, std::size_t) { throw pgha::Error(ErrorCode::kIo, "disk full"); }, size);
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK(std::string(e.what()) == "disk full");
  }
  // An error status: the sink is never called, the error body is returned.
  bool called = false;
  r = client.DownloadToSink(
      s.Url("/nothing"), [&](const char*, std::size_t) { called = true; }, size);
  CHECK(r.status == 404);
  CHECK_FALSE(called);
  CHECK(r.body.find("\"code\"") != std::string::npos);
}
