// HttpServer: options check, the listener, the io threads and Stop().
#include "pgha/http_server.hpp"

#include <pthread.h>

#include <csignal>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "bearer_auth.hpp"
#include "http_session.hpp"
#include "server_shared.hpp"
#include "text.hpp"

namespace pgha {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::milliseconds kAcceptBackoff{100};

[[noreturn]] void BadOption(const std::string& what) {
  throw Error(ErrorCode::kBadInput, "HttpServerOptions: " + what);
}

asio::ip::address ParseAddress(const std::string& text) {
  if (text == "localhost") return asio::ip::make_address_v4("127.0.0.1");
  boost::system::error_code ec;
  auto address = asio::ip::make_address(text, ec);
  if (ec) BadOption("address " + QuoteForMessage(text) + " is not an IPv4 or IPv6 literal");
  return address;
}

void ValidateOptions(const HttpServerOptions& o) {
  ParseAddress(o.address);
  if (o.threads < 1 || o.threads > 64) BadOption("threads must be 1 to 64");
  if (o.blocking_threads < 1 || o.blocking_threads > 256) {
    BadOption("blocking_threads must be 1 to 256");
  }
  if (o.auth_disabled) {
    if (!o.bearer_token.empty()) BadOption("a bearer token is set but auth_disabled too");
  } else if (o.bearer_token.empty()) {
    BadOption("bearer_token is empty. HINT: set auth_disabled to serve without authentication");
  } else {
    net::BearerAuth::ValidateToken(o.bearer_token);
  }
  if (o.max_header_bytes < 1024 || o.max_header_bytes > (1u << 20)) {
    BadOption("max_header_bytes must be 1 KiB to 1 MiB");
  }
  if (o.max_body_bytes == 0) BadOption("max_body_bytes must be positive");
  if (o.read_timeout.count() <= 0 || o.idle_timeout.count() <= 0 || o.write_timeout.count() <= 0) {
    BadOption("timeouts must be positive");
  }
  if (o.max_connections == 0) BadOption("max_connections must be positive");
  if (!o.tls.enabled() && !o.tls.client_ca_file.empty()) {
    BadOption("tls.client_ca_file is set without tls.cert_file and tls.key_file");
  }
}

// The reply to a connection over max_connections (then closed).
constexpr std::string_view kBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 39\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n\r\n"
    "{\"code\":4,\"msg\":\"too many connections\"}";

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions options, Router router)
      : shared(std::move(options), std::move(router)),
        ioc(std::make_unique<asio::io_context>(shared.options.threads)),
        port(shared.options.port) {}

  void Listen();
  void DoAccept();
  void OnAccept(const boost::system::error_code& ec, tcp::socket socket);
  void Run() noexcept;
  void Shutdown() noexcept;

  net::ServerShared shared;
  std::unique_ptr<asio::io_context> ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> backoff;
  std::vector<std::thread> threads;
  std::uint16_t port;
  bool started = false;
  bool stopped = false;
};

void HttpServer::Impl::Listen() {
  const tcp::endpoint endpoint(ParseAddress(shared.options.address), shared.options.port);
  acceptor = std::make_unique<tcp::acceptor>(*ioc);
  boost::system::error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error(ErrorCode::kIo, "cannot listen on " + shared.options.address + " port " +
                                    std::to_string(shared.options.port) + ": " + ec.message());
  }
  port = acceptor->local_endpoint().port();
  backoff = std::make_unique<asio::steady_timer>(*ioc);
}

void HttpServer::Impl::DoAccept() {
  acceptor->async_accept(asio::make_strand(*ioc),
                         [this](const boost::system::error_code& ec, tcp::socket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void HttpServer::Impl::OnAccept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: retry a little later rather than spin.
    shared.Log("accept failed: " + ec.message());
    backoff->expires_after(kAcceptBackoff);
    backoff->async_wait([this](const boost::system::error_code& wait_ec) {
      if (!wait_ec) DoAccept();
    });
    return;
  }
  if (shared.connections.load() >= shared.options.max_connections) {
    boost::system::error_code ignored;
    // A TLS client would read plain text as a broken handshake: it just sees the close.
    if (!shared.tls) {
      asio::write(socket, asio::buffer(kBusyResponse.data(), kBusyResponse.size()), ignored);
    }
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  } else {
    std::make_shared<net::HttpSession>(std::move(socket), shared)->Start();
  }
  DoAccept();
}

void HttpServer::Impl::Run() noexcept {
  // sendfile(2) has no MSG_NOSIGNAL: a peer that went away would raise SIGPIPE, whose default
  // action ends the embedding process. Blocked in the io threads, it stays pending there and
  // the call fails with EPIPE, which the session handles.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (true) {
    try {
      ioc->run();
      return;
    } catch (const std::exception& e) {
      shared.Log(std::string("io thread caught: ") + e.what());
    } catch (...) {
      shared.Log("io thread caught a non-standard exception");
    }
  }
}

// Order matters: no io thread may run while sockets are closed and the io_context (with
// the connections its pending handlers hold) is destroyed.
void HttpServer::Impl::Shutdown() noexcept {
  work.reset();
  ioc->stop();
  for (std::thread& t : threads) t.join();
  threads.clear();
  shared.StopWorkers();
  boost::system::error_code ignored;
  if (acceptor) acceptor->close(ignored);
  for (const auto& session : shared.Sessions()) session->CloseNow();
  backoff.reset();
  acceptor.reset();
  ioc.reset();
}

HttpServer::HttpServer(HttpServerOptions options, Router router) {
  ValidateOptions(options);
  impl_ = std::make_unique<Impl>(std::move(options), std::move(router));
}

HttpServer::~HttpServer() {
  Stop();
}

void HttpServer::Start() {
  if (impl_->started) throw Error(ErrorCode::kWrongState, "HttpServer already started or stopped");
  impl_->Listen();
  impl_->started = true;
  impl_->work.emplace(impl_->ioc->get_executor());
  impl_->DoAccept();
  const auto count = static_cast<std::size_t>(impl_->shared.options.threads);
  impl_->threads.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->Run(); });
  }
}

void HttpServer::Stop() noexcept {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->started = true;  // a stopped server cannot be started again
  if (impl_->ioc) impl_->Shutdown();
}

std::uint16_t HttpServer::port() const noexcept {
  return impl_->port;
}

std::size_t HttpServer::connection_count() const noexcept {
  return impl_->shared.connections.load();
}

}  // namespace pgha
