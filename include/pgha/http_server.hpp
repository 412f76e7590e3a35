// The HTTP/1.1 server the agent serves /api/pg/v1 with: routes, bearer-token auth, limits.
// docs/http.md describes the behaviour (limits, error bodies, how routes are declared).
#ifndef PGHA_HTTP_SERVER_HPP
#define PGHA_HTTP_SERVER_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/export.hpp"
#include "pgha/http.hpp"

namespace pgha {

/// How a route is served.
struct RouteOptions {
  /// Served without the bearer token (the health check). Every other route needs it.
  bool public_route = false;
  /// The handler may block (runs PostgreSQL programs, waits for peers): it runs on the
  /// server's worker pool instead of an io thread, and the response is posted back.
  bool blocking = false;
  /// The largest body this route accepts; 0 = HttpServerOptions::max_body_bytes. The
  /// smaller of the two applies.
  std::size_t max_body_bytes = 0;
};

/// A request handler. It returns the response or throws: a pgha::Error becomes
/// {"code","msg"} with the status of docs/errors.md, anything else a 500 without detail.
/// Unless the route is `blocking`, it runs on an io thread and must not block for long.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// Where a request body goes instead of memory (Router::Add's `body_file`).
struct HttpBodyFile {
  /// The file to create; it must not exist. The server writes the body into it as it arrives
  /// and removes it once the handler returned, or when the request fails before.
  std::string path;
  /// The largest body accepted (413 beyond). It replaces HttpServerOptions::max_body_bytes,
  /// which bounds bodies held in memory.
  std::uint64_t max_bytes = 0;
};

/// Decides where the body of a request goes, once its header is in, routed and authorised:
/// `head` is the request without its body. Throwing a pgha::Error refuses the request with
/// the error's status before any body byte is read. Runs on an io thread: must be quick.
using HttpBodyFileFn = std::function<HttpBodyFile(const HttpRequest& head)>;

/// The outcome of Router::Match.
struct RouteMatch {
  int status = 404;     ///< 200 (a route matched), 400 (malformed path), 404 or 405
  std::string message;  ///< why it did not match (for the error body)
  std::map<std::string, std::string> params;  ///< decoded ":name" parameters
  std::vector<HttpMethod> allowed;            ///< for 405: the methods the path has
  const HttpHandler* handler = nullptr;       ///< valid while the Router lives, unchanged
  const HttpBodyFileFn* body_file = nullptr;  ///< the route's, or nullptr (body in memory)
  RouteOptions options;                       ///< the matched route's options
  std::string_view pattern;                   ///< the matched pattern (points into Router)
};

/// A routing table. Patterns are absolute paths of literal segments and ":name" parameters,
/// e.g. "/api/pg/v1/walFiles/:tl/:hi/:lo". A parameter matches one non-empty segment.
/// Precedence: at the first segment where two routes differ, a literal beats a parameter.
/// A HEAD request without a HEAD route is served by the GET route (body omitted).
/// Thread-safety: Add is not thread-safe; Match may be called concurrently once no Add runs.
class PGHA_API Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  /// Declares a route. Throws Error(kBadInput) for a malformed pattern (not absolute, an
  /// empty segment, a bad or repeated parameter name) and Error(kConflict) when the same
  /// method and pattern shape (parameters in the same places) is declared twice. With
  /// `body_file`, a request's body is written to the file it names (HttpRequest::body_file)
  /// instead of HttpRequest::body, under the limit it gives.
  void Add(HttpMethod method, std::string_view pattern, HttpHandler handler,
           RouteOptions options = {}, HttpBodyFileFn body_file = nullptr);

  /// Matches an encoded `path` (no query string). Each segment is percent-decoded once; a
  /// malformed escape, a decoded '/' or NUL, or a "." or ".." segment gives status 400.
  RouteMatch Match(HttpMethod method, std::string_view path) const;

  /// The number of declared routes.
  std::size_t size() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A WAL segment (16 MiB) plus room for multipart framing: the default body limit.
inline constexpr std::size_t kDefaultMaxBodyBytes = (16u << 20) + (64u << 10);

/// TLS of the server (OpenSSL): on when `cert_file` is set. TLS 1.2 and 1.3 only, with
/// OpenSSL's default ciphers; no renegotiation. The files are read once, by the constructor.
struct HttpServerTls {
  /// PEM: the server's certificate, then any intermediate certificates.
  std::string cert_file;
  /// PEM: the certificate's private key, unencrypted. Refused when others may read it, or
  /// the group unless root owns the file (PostgreSQL's rule for ssl_key_file).
  std::string key_file;
  /// PEM CA certificates. When set, a client must present a certificate one of them signed
  /// (mutual TLS), else its handshake fails. Empty = no client certificate asked for.
  std::string client_ca_file;

  /// Whether TLS is configured (cert_file or key_file set).
  bool enabled() const noexcept { return !cert_file.empty() || !key_file.empty(); }
};

/// Checks `tls` as HttpServer's constructor does, without serving: both files set, readable,
/// parsed, the key matches the certificate, the certificate has not expired, the client CA
/// file has at least one certificate. Throws Error(kNotFound) for a missing file,
/// Error(kIo) for one that cannot be read, Error(kBadInput) for anything else, naming the
/// file and OpenSSL's reason. Does nothing when TLS is not enabled.
PGHA_API void CheckServerTls(const HttpServerTls& tls);

/// Server configuration. The defaults are the agent's.
struct HttpServerOptions {
  /// IPv4 or IPv6 literal, or "localhost" (= 127.0.0.1).
  std::string address = "127.0.0.1";
  /// TCP port; 0 picks a free one (HttpServer::port() tells which).
  std::uint16_t port = 0;
  /// io threads (run the network and the non-blocking handlers), 1..64.
  int threads = 2;
  /// worker threads for RouteOptions::blocking handlers, 1..256.
  int blocking_threads = 4;
  /// The token every non-public route requires as "Authorization: Bearer <token>". Printable
  /// ASCII without spaces. Empty is a configuration error unless `auth_disabled`.
  std::string bearer_token;
  /// Serve every route without authentication (must be said explicitly).
  bool auth_disabled = false;
  /// Request line + header fields; more gives 431.
  std::size_t max_header_bytes = std::size_t{16} * 1024;
  /// Request body held in memory; more gives 413 (decided from Content-Length before any
  /// body is read). Routes with a body file have their own limit (HttpBodyFile::max_bytes).
  std::size_t max_body_bytes = kDefaultMaxBodyBytes;
  /// Deadline for one request's header and body once its first byte arrived.
  std::chrono::milliseconds read_timeout{30000};
  /// How long a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{30000};
  /// Deadline for writing one response (a file download included).
  std::chrono::milliseconds write_timeout{60000};
  /// Open connections; a connection beyond gets 503 and is closed (with TLS: closed).
  std::size_t max_connections = 256;
  /// HTTPS instead of HTTP when tls.enabled(). A plain-HTTP request to a TLS server gets 400
  /// and is closed. The TLS handshake counts as reading a request: its first byte must come
  /// within idle_timeout, the rest within read_timeout.
  HttpServerTls tls;
  /// Receives one line per event an operator should see (handler crashes, accept errors).
  /// Never receives the token. Called from io or worker threads; must be thread-safe.
  std::function<void(const std::string&)> log;
};

/// An HTTP/1.1 server with keep-alive over a fixed pool of io threads (no thread per
/// request). Start() binds and serves; Stop() closes the listener and every connection,
/// waits for running blocking handlers and joins the threads. Not copyable or movable;
/// Start/Stop are not to be called concurrently with each other.
class PGHA_API HttpServer {
 public:
  /// Validates `options` (Error(kBadInput): empty token without auth_disabled, a token
  /// with spaces or control characters, a bad address, zero limits or thread counts) and
  /// loads the TLS files (throws as CheckServerTls does).
  HttpServer(HttpServerOptions options, Router router);
  /// Stops the server.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds the address and starts serving. Throws Error(kIo) when the address cannot be
  /// bound, Error(kWrongState) when already started or stopped.
  void Start();
  /// Stops serving; idempotent; returns once every thread is joined.
  void Stop() noexcept;
  /// The bound port (after Start), or the configured one before.
  std::uint16_t port() const noexcept;
  /// The number of open connections (for tests and metrics).
  std::size_t connection_count() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgha

#endif  // PGHA_HTTP_SERVER_HPP
