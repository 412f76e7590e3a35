// The HTTP client agents use to call their peers (libcurl behind a pimpl).
#ifndef PGHA_HTTP_CLIENT_HPP
#define PGHA_HTTP_CLIENT_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pgha/export.hpp"
#include "pgha/http.hpp"

namespace pgha {

/// TLS of the client's https calls: TLS 1.2 or newer; the server's certificate must chain
/// to a trusted CA and name the URL's host (DNS name or IP address), unless
/// insecure_skip_verify says otherwise.
struct HttpClientTls {
  /// PEM CA certificates to trust; empty = the system's CA store.
  std::string ca_file;
  /// Skips verifying the server's certificate and host name: anyone on the network path can
  /// then pose as the server and read the bearer token. Tests only; off by default.
  bool insecure_skip_verify = false;
  /// PEM client certificate and its unencrypted key, presented when a server asks for one
  /// (mutual TLS); both or neither.
  std::string cert_file;
  std::string key_file;
};

/// Checks `tls` as HttpClient's constructor does: the CA file holds at least one PEM
/// certificate; the client certificate and key are set together, load and match. Throws
/// Error(kNotFound) for a missing file, Error(kIo) for one that cannot be read,
/// Error(kBadInput) for anything else, naming the file.
PGHA_API void CheckClientTls(const HttpClientTls& tls);

/// Client configuration.
struct HttpClientOptions {
  /// Sent as "Authorization: Bearer <token>" when not empty. Never logged or put in errors.
  std::string bearer_token;
  /// Deadline for establishing the connection.
  std::chrono::milliseconds connect_timeout{2000};
  /// Deadline for the whole call, transfer included; 0 = none. A call made from a thread that
  /// runs a Cluster operation also ends with the operation's deadline (given at least 3 s).
  std::chrono::milliseconds timeout{30000};
  /// TLS of https URLs.
  HttpClientTls tls;
  /// The largest response body kept in memory (downloads to files have their own limit).
  std::size_t max_response_bytes = 64u << 20;
};

/// Calls HTTP(S) URLs. Transport failures throw; HTTP error statuses are returned (see
/// ThrowIfHttpError). Errors: Error(kPeerUnreachable) when the host cannot be resolved or
/// connected to (refused, no route, connect deadline passed) or drops the connection,
/// naming the URL; Error(kTimeout) when the call's deadline passes after connecting;
/// Error(kBadInput) for a malformed URL or a response over the size limit; Error(kIo) for a
/// local file that cannot be written. A TLS failure (an untrusted certificate, a host name
/// it does not name, a plain-HTTP server, a refused client certificate) is
/// Error(kPeerUnreachable) whose message says which, with a HINT.
/// Thread-safe: one client may be used from several threads at once (each call uses its
/// own curl handle; idle handles and their connections are kept for reuse).
class PGHA_API HttpClient {
 public:
  /// Throws as CheckClientTls does for bad TLS files.
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// One request. A non-empty `body` without a Content-Type header is sent as
  /// application/json. `Expect: 100-continue` is never sent.
  HttpResponse Send(HttpMethod method, const std::string& url, std::string_view body = {},
                    const HttpHeaders& headers = {}) const;
  /// As Send, with `timeout` as this call's deadline instead of HttpClientOptions::timeout
  /// (0 = none). Error(kBadInput) for a negative one.
  HttpResponse Send(HttpMethod method, const std::string& url, std::string_view body,
                    const HttpHeaders& headers, std::chrono::milliseconds timeout) const;

  /// HttpClientOptions::timeout: each call's deadline unless Send is given another.
  std::chrono::milliseconds timeout() const noexcept;

  HttpResponse Get(const std::string& url, const HttpHeaders& headers = {}) const;
  HttpResponse Post(const std::string& url, std::string_view body,
                    const HttpHeaders& headers = {}) const;
  HttpResponse Put(const std::string& url, std::string_view body,
                   const HttpHeaders& headers = {}) const;
  HttpResponse Delete(const std::string& url, const HttpHeaders& headers = {}) const;

  /// GETs `url` into the file `path`: streamed into a temporary file next to it (mode 0600),
  /// fsynced and renamed over `path` only when the status is 2xx and the whole body arrived.
  /// On another status nothing is written and the (bounded) error body is returned. More
  /// than `max_bytes` → Error(kBadInput), nothing left behind.
  HttpResponse DownloadToFile(const std::string& url, const std::string& path,
                              std::uint64_t max_bytes, const HttpHeaders& headers = {}) const;

  /// GETs `url`, passing a 2xx body to `sink` piece by piece as it arrives (nothing is kept
  /// in memory). On another status `sink` is never called and the (bounded) error body is
  /// returned. More than `max_bytes` → Error(kBadInput); an exception thrown by `sink` aborts
  /// the transfer and is rethrown.
  HttpResponse DownloadToSink(const std::string& url,
                              const std::function<void(const char* data, std::size_t size)>& sink,
                              std::uint64_t max_bytes, const HttpHeaders& headers = {}) const;

  /// One request whose 2xx response body is a stream (an etcd watch): each piece is handed to
  /// `on_data` as it arrives, until `on_data` returns false, the server ends the response or
  /// `deadline` passes after the response began — none of which is an error. The returned
  /// response has the status and headers; its body is empty for a 2xx, the (bounded) error
  /// body otherwise. Fails as Send does otherwise (kPeerUnreachable when nothing answered
  /// within the deadline).
  HttpResponse Stream(HttpMethod method, const std::string& url, std::string_view body,
                      const HttpHeaders& headers, std::chrono::milliseconds deadline,
                      const std::function<bool(std::string_view)>& on_data) const;

  /// POSTs `bytes` as a multipart/form-data file part named `field` with `filename`, as
  /// `curl -F "data=@file"` does.
  HttpResponse UploadMultipart(const std::string& url, std::string_view field,
                               std::string_view filename, std::string_view bytes,
                               const HttpHeaders& headers = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Does nothing for a 2xx response. Otherwise throws pgha::Error: with the code and msg of a
/// {"code": N, "msg": "..."} body when it has one (N a known non-zero ErrorCode), else with
/// the code of the status (401 kUnauthorized, 404 kNotFound, 409 kConflict, 504 kTimeout,
/// other 4xx kBadInput, other kInternal). Never kPeerUnreachable, which only a transport
/// failure of HttpClient is: a peer that answered is up, so a body with code 6 (the peer
/// could not reach another node) becomes kInternal with the peer's msg. The message starts
/// with `what` (e.g. "GET http://node2:8079/api/pg/v1/lsn/current").
PGHA_API void ThrowIfHttpError(const HttpResponse& response, std::string_view what);

}  // namespace pgha

#endif  // PGHA_HTTP_CLIENT_HPP
