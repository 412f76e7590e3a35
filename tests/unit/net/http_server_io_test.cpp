// The server and the client together on loopback: files, uploads, timeouts, concurrency,
// Stop(), transport errors.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "net/net_test_support.hpp"
#include "op_deadline.hpp"
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
using pgha::test::WaitFor;
using Clock = std::chrono::steady_clock;

namespace {

std::string RandomBytes(std::size_t n) {
  std::mt19937 gen(12345);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xFF);
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A gate a blocking handler waits at until the test opens it (bounded).
struct Gate {
  void Wait() {
    std::unique_lock<std::mutex> lock(m);
    ++waiting;
    cv.wait_for(lock, std::chrono::seconds(5), [this] { return open; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(m);
    open = true;
    cv.notify_all();
  }
  int Waiting() {
    std::lock_guard<std::mutex> lock(m);
    return waiting;
  }
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
};

HttpServerOptions NoAuth() {
  HttpServerOptions o;
  o.auth_disabled = true;
  return o;
}

std::string Base(const HttpServer& s) {
  return "http://127.0.0.1:" + std::to_string(s.port());
}

}  // namespace

TEST_CASE("HTTP loopback: files are streamed, ranges and HEAD included") {
  ScratchDir dir;
  const std::string content = RandomBytes(3 * 1024 * 1024 + 17);
  { std::ofstream(dir.File("seg"), std::ios::binary) << content; }
  Router r;
  r.Add(HttpMethod::kGet, "/file/:name",
        [&](const HttpRequest& req) { return HttpResponse::File(dir.File(req.Param("name"))); });
  r.Add(HttpMethod::kGet, "/range", [&](const HttpRequest&) {
    return HttpResponse::File(dir.File("seg"), "application/octet-stream", 1000, 5000);
  });
  r.Add(HttpMethod::kGet, "/bad-range", [&](const HttpRequest&) {
    return HttpResponse::File(dir.File("seg"), "application/octet-stream", content.size(), 1);
  });
  HttpServer server(NoAuth(), std::move(r));
  server.Start();
  const HttpClient client;
  ScratchDir out;
  const HttpResponse got =
      client.DownloadToFile(Base(server) + "/file/seg", out.File("copy"), 16u << 20);
  CHECK(got.status == 200);
  CHECK(ReadFile(out.File("copy")) == content);
  CHECK(std::filesystem::status(out.File("copy")).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(client.Get(Base(server) + "/range").body == content.substr(1000, 5000));
  CHECK(client.Get(Base(server) + "/bad-range").status == 500);
  const HttpResponse head = client.Send(HttpMethod::kHead, Base(server) + "/file/seg");
  CHECK(head.body.empty());
  CHECK(*head.headers.Get("Content-Length") == std::to_string(content.size()));

  // A missing file is a 404, and the destination is not created.
  const HttpResponse missing =
      client.DownloadToFile(Base(server) + "/file/none", out.File("none"), 16u << 20);
  CHECK(missing.status == 404);
  CHECK(missing.body.find("\"code\":2") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out.File("none")));
  // Over the limit: an error, nothing left behind (no temporary file either).
  try {
    client.DownloadToFile(Base(server) + "/file/seg", out.File("small"), 1024 * 1024);
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
  }
  CHECK(std::distance(std::filesystem::directory_iterator(out.path()), {}) == 1);  // "copy"
}

TEST_CASE("HTTP loopback: multipart upload as curl -F sends it") {
  Router r;
  r.Add(HttpMethod::kPost, "/walFile/:name", [](const HttpRequest& req) {
    const auto part = pgha::ParseMultipartFile(req.headers.GetOr("Content-Type", ""), req.body);
    return HttpResponse::Text(200, part.filename + ":" + std::string(part.content));
  });
  HttpServer server(NoAuth(), std::move(r));
  server.Start();
  const HttpClient client;
  const std::string bytes = RandomBytes(1 << 20);
  const HttpResponse res = client.UploadMultipart(Base(server) + "/walFile/x", "data",
                                                  "000000030000000000000018", bytes);
  REQUIRE(res.status == 200);
  CHECK(res.body == "000000030000000000000018:" + bytes);
  const HttpResponse raw = client.Post(Base(server) + "/walFile/x", "not multipart");
  CHECK(raw.status == 400);
}

TEST_CASE("HTTP loopback: slow and idle clients are cut off by the deadlines") {
  HttpServerOptions o = NoAuth();
  o.read_timeout = std::chrono::milliseconds(300);
  o.idle_timeout = std::chrono::milliseconds(300);
  std::atomic<int> handled{0};
  Router r;
  r.Add(HttpMethod::kPost, "/", [&](const HttpRequest&) {
    ++handled;
    return HttpResponse::Text(200, "ok");
  });
  HttpServer server(o, std::move(r));
  server.Start();
  const std::string stalls[] = {
      "",                                                          // connects, sends nothing
      "POST / HTTP/1.1\r\nHost: x\r\n",                            // header never finished
      "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789",  // body never finished
  };
  for (const std::string& sent : stalls) {
    CAPTURE(sent);
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
  // Trickling header bytes does not extend the deadline.
  const auto start = Clock::now();
  RawConnection trickle(server.port());
  bool alive = true;
  for (int i = 0; i < 40 && alive; ++i) {
    alive = trickle.Send("X-Slow-" + std::to_string(i) + ": 1\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the client's pace
  }
  bool closed = false;
  trickle.ReadToEnd(&closed);
  CHECK(closed);
  CHECK(Clock::now() - start < std::chrono::seconds(3));
  CHECK(handled == 0);
  CHECK(WaitFor([&] { return server.connection_count() == 0; }));
}

TEST_CASE("HTTP loopback: a client that stops reading a file is cut off by write_timeout") {
  ScratchDir dir;
  { std::ofstream(dir.File("big"), std::ios::binary) << std::string(32u << 20, 'w'); }
  HttpServerOptions o = NoAuth();
  o.write_timeout = std::chrono::milliseconds(300);
  Router r;
  r.Add(HttpMethod::kGet, "/big",
        [&](const HttpRequest&) { return HttpResponse::File(dir.File("big")); });
  HttpServer server(o, std::move(r));
  server.Start();
  RawConnection reader(server.port());
  reader.Send("GET /big HTTP/1.1\r\n\r\n");  // and never reads
  REQUIRE(WaitFor([&] { return server.connection_count() == 1; }));
  const auto start = Clock::now();
  CHECK(WaitFor([&] { return server.connection_count() == 0; }, std::chrono::seconds(3)));
  CHECK(Clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("HTTP loopback: a client that closes in the middle of a file does not kill the process") {
  // sendfile(2) to a socket whose peer is gone raises SIGPIPE (it has no MSG_NOSIGNAL);
  // an embedding program that did not ignore SIGPIPE would die of it.
  ScratchDir dir;
  { std::ofstream(dir.File("big"), std::ios::binary) << std::string(32u << 20, 'c'); }
  Router r;
  r.Add(HttpMethod::kGet, "/big",
        [&](const HttpRequest&) { return HttpResponse::File(dir.File("big")); });
  HttpServer server(NoAuth(), std::move(r));
  server.Start();
  for (int i = 0; i < 20; ++i) {
    {
      RawConnection reader(server.port());
      reader.Send("GET /big HTTP/1.1\r\n\r\n");
      REQUIRE(WaitFor([&] { return server.connection_count() == 1; }));
    }  // closed with the file's bytes unread: a reset, and the next sendfile fails (EPIPE)
    CHECK(WaitFor([&] { return server.connection_count() == 0; }, std::chrono::seconds(5)));
  }
}

TEST_CASE("HTTP loopback: concurrent clients are all answered") {
  HttpServerOptions o = NoAuth();
  Router r;
  std::atomic<int> handled{0};
  r.Add(HttpMethod::kGet, "/n/:i", [&](const HttpRequest& req) {
    ++handled;
    return HttpResponse::Text(200, req.Param("i"));
  });
  r.Add(HttpMethod::kGet, "/blocking/:i",
        [&](const HttpRequest& req) {
          ++handled;
          return HttpResponse::Text(200, req.Param("i"));
        },
        {false, true, 0});
  HttpServer server(o, std::move(r));
  server.Start();
  const HttpClient client;  // one client shared by every thread
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string id = std::to_string(t * 1000 + i);
        const std::string path = (i % 4 == 0 ? "/blocking/" : "/n/") + id;
        if (client.Get(Base(server) + path).body == id) ++right;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(right == 1600);
  CHECK(handled == 1600);
}

TEST_CASE("HTTP loopback: Stop() with open connections and a running blocking handler") {
  Gate gate;
  Router r;
  r.Add(HttpMethod::kGet, "/quick",
        [](const HttpRequest&) { return HttpResponse::Text(200, "q"); });
  r.Add(HttpMethod::kGet, "/wait",
        [&](const HttpRequest&) {
          gate.Wait();
          return HttpResponse::Text(200, "w");
        },
        {false, true, 0});
  auto server = std::make_unique<HttpServer>(NoAuth(), std::move(r));
  server->Start();
  const std::uint16_t port = server->port();
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawConnection>(port));
    idle.back()->Send("GET /quick HTTP/1.1\r\n\r\n");
    CHECK(idle.back()->ReadResponse().rfind("HTTP/1.1 200", 0) == 0);
  }
  RawConnection waiting(port);
  waiting.Send("GET /wait HTTP/1.1\r\n\r\n");
  REQUIRE(WaitFor([&] { return gate.Waiting() == 1; }));
  CHECK(server->connection_count() == 5);
  std::thread opener([&] {
    // Stop() waits for the running handler; let it finish once Stop has begun.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // not synchronisation
    gate.Open();
  });
  const auto start = Clock::now();
  server->Stop();
  CHECK(Clock::now() - start < std::chrono::seconds(3));
  opener.join();
  for (auto& conn : idle) {
    bool closed = false;
    conn->ReadToEnd(&closed);
    CHECK(closed);
  }
  server.reset();
  CHECK_THROWS_AS(RawConnection{port}, std::runtime_error);  // nothing listens any more
}

TEST_CASE("HTTP loopback: connections over max_connections get 503") {
  HttpServerOptions o = NoAuth();
  o.max_connections = 2;
  Router r;
  r.Add(HttpMethod::kGet, "/", [](const HttpRequest&) { return HttpResponse::Text(200, "x"); });
  HttpServer server(o, std::move(r));
  server.Start();
  RawConnection a(server.port());
  RawConnection b(server.port());
  REQUIRE(WaitFor([&] { return server.connection_count() == 2; }));
  RawConnection c(server.port());
  const std::string reply = c.ReadToEnd();
  CHECK(reply.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(reply.find(R"({"code":4,"msg":"too many connections"})") != std::string::npos);
  a.Send("GET / HTTP/1.1\r\n\r\n");
  CHECK(a.ReadResponse().rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("HttpClient: unreachable peers, deadlines and bad URLs") {
  // A port nobody listens on: bind one, then close it.
  std::uint16_t free_port = 0;
  {
    HttpServer probe(NoAuth(), Router());
    probe.Start();
    free_port = probe.port();
  }
  const HttpClient client;
  const std::string refused = "http://127.0.0.1:" + std::to_string(free_port) + "/x";
  try {
    client.Get(refused);
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kPeerUnreachable);
    CHECK(std::string(e.what()).find(refused) != std::string::npos);
  }
  for (const char* bad : {"not a url", "ftp://127.0.0.1/x", "file:///etc/passwd"}) {
    CAPTURE(std::string(bad));
    try {
      client.Get(bad);
      FAIL("no error");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }

  pgha::HttpHeaders injected;
  injected.Add("X-Note", "a\r\nAuthorization: Bearer stolen");
  try {
    client.Get(refused, injected);
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
  }

  Gate gate;
  Router r;
  r.Add(HttpMethod::kGet, "/slow",
        [&](const HttpRequest&) {
          gate.Wait();
          return HttpResponse::Text(200, "late");
        },
        {false, true, 0});
  HttpServer server(NoAuth(), std::move(r));
  server.Start();
  HttpClientOptions quick;
  quick.timeout = std::chrono::milliseconds(200);
  const HttpClient impatient(quick);
  const auto start = Clock::now();
  try {
    impatient.Get(Base(server) + "/slow");
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kTimeout);
  }
  CHECK(Clock::now() - start < std::chrono::seconds(2));
  gate.Open();
}

TEST_CASE("HttpClient: a call made for an operation ends with the operation's deadline") {
  Gate gate;
  Router r;
  r.Add(HttpMethod::kGet, "/stuck",
        [&](const HttpRequest&) {
          gate.Wait();
          return HttpResponse::Text(200, "late");
        },
        {false, true, 0});
  HttpServer server(NoAuth(), std::move(r));
  server.Start();
  HttpClientOptions patient;
  patient.timeout = std::chrono::seconds(60);
  const HttpClient client(patient);
  const auto start = Clock::now();
  {
    // The deadline passes at once: the call gets the few seconds any call after its
    // operation's deadline gets (3 s, src/net/curl_call.cpp), not its own 60 s, nor the
    // handler's 5 s.
    pgha::deadline::Scope operation(start + std::chrono::milliseconds(100));
    try {
      client.Get(Base(server) + "/stuck");
      FAIL("no error");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kTimeout);
    }
  }
  CHECK(Clock::now() - start < std::chrono::milliseconds(4500));
  gate.Open();
}
