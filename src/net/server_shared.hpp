// State shared by the server's listener and its connections (private to src/net).
#ifndef PGHA_NET_SERVER_SHARED_HPP
#define PGHA_NET_SERVER_SHARED_HPP

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bearer_auth.hpp"
#include "pgha/http_server.hpp"
#include "tls_files.hpp"

namespace pgha::net {

class HttpSession;

/// What every connection of one server reads (options, routes, auth: immutable while
/// serving) plus the registry of open connections. Outlives every connection.
struct ServerShared {
  ServerShared(HttpServerOptions opts, Router routes)
      : options(std::move(opts)),
        router(std::move(routes)),
        auth(options.auth_disabled ? std::string_view() : std::string_view(options.bearer_token)),
        tls(options.tls.enabled() ? MakeServerTlsContext(options.tls) : nullptr),
        workers(std::in_place, static_cast<std::size_t>(options.blocking_threads)) {}

  /// The smaller of the server's and the route's body limit.
  std::size_t BodyLimit(const RouteOptions& route) const noexcept {
    if (route.max_body_bytes == 0) return options.max_body_bytes;
    return std::min(route.max_body_bytes, options.max_body_bytes);
  }

  /// Passes `line` to the configured log, never throwing.
  void Log(const std::string& line) const noexcept {
    if (!options.log) return;
    try {
      options.log(line);
    } catch (...) {  // a failing log must not take the server down
    }
  }

  void Register(const void* key, std::weak_ptr<HttpSession> session) {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    sessions.emplace(key, std::move(session));
  }
  void Unregister(const void* key) noexcept {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    sessions.erase(key);
  }
  /// The open connections, for Stop() (called when no io thread runs).
  std::vector<std::shared_ptr<HttpSession>> Sessions() {
    std::vector<std::shared_ptr<HttpSession>> live;
    std::lock_guard<std::mutex> lock(sessions_mutex);
    for (auto& [key, weak] : sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    return live;
  }

  /// Stops the worker pool: queued jobs are dropped, running ones finish first.
  void StopWorkers() noexcept {
    if (!workers) return;
    workers->stop();
    workers->join();
    workers.reset();
  }

  const HttpServerOptions options;
  const Router router;
  const BearerAuth auth;
  /// The TLS context every connection's handshake uses; null = plain HTTP.
  const std::unique_ptr<boost::asio::ssl::context> tls;
  std::optional<boost::asio::thread_pool> workers;  ///< runs RouteOptions::blocking handlers
  std::atomic<std::size_t> connections{0};

 private:
  std::mutex sessions_mutex;
  std::unordered_map<const void*, std::weak_ptr<HttpSession>> sessions;
};

}  // namespace pgha::net

#endif  // PGHA_NET_SERVER_SHARED_HPP
