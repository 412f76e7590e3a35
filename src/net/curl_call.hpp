// libcurl plumbing for HttpClient: the handle pool and one transfer (private to src/net).
#ifndef PGHA_NET_CURL_CALL_HPP
#define PGHA_NET_CURL_CALL_HPP

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/http.hpp"
#include "pgha/http_client.hpp"

namespace pgha::net {

/// Idle easy handles kept for reuse (each keeps its connection cache). Thread-safe.
class CurlHandlePool {
 public:
  CurlHandlePool();
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  /// A handle for one call, reset to defaults. Throws Error(kInternal) if curl cannot make one.
  CURL* Acquire();
  /// Returns a handle after a call (kept if there is room, else cleaned up).
  void Release(CURL* handle) noexcept;

 private:
  std::mutex mutex_;
  std::vector<CURL*> idle_;
};

/// A handle borrowed from the pool for the duration of one call.
class CurlLease {
 public:
  explicit CurlLease(CurlHandlePool& pool) : pool_(pool), handle_(pool.Acquire()) {}
  ~CurlLease() { pool_.Release(handle_); }
  CurlLease(const CurlLease&) = delete;
  CurlLease& operator=(const CurlLease&) = delete;
  CURL* get() const noexcept { return handle_; }

 private:
  CurlHandlePool& pool_;
  CURL* handle_;
};

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlHeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

/// What one transfer collects: the response headers and the body, in memory or in a file.
struct CurlTransfer {
  CURL* handle = nullptr;  ///< the handle running the transfer
  HttpResponse response;
  std::size_t max_memory_bytes = 0;  ///< bound of `response.body`
  /// When set, a 2xx body goes to this function as it arrives: false stops
  /// the transfer (not an error: a stream the caller has read enough of), what it throws
  /// aborts it.
  std::function<bool(std::string_view)> sink;
  std::exception_ptr sink_error;     ///< aborted: what the sink threw
  bool stopped = false;              ///< the sink stopped the transfer
  std::uint64_t max_file_bytes = 0;  ///< bound of what goes to the file
  std::uint64_t file_bytes = 0;
  bool decided = false;  ///< status known, destination chosen
  bool to_file = false;
  bool too_big = false;  ///< aborted: over a limit
  /// The call's deadline ends a stream that has connected, rather than failing it.
  bool deadline_ends_stream = false;
};

/// The TLS options of `tls`: verification (unless skipped), TLS 1.2+, CA file, client
/// certificate.
void SetTlsOptions(CURL* handle, const HttpClientTls& tls);

/// Sets what every call has: URL, timeouts, TLS, callbacks, error buffer, no signals, no
/// redirects, http(s) only. The call's timeout is `timeout` when given, else options.timeout;
/// either way bounded by the operation's deadline of the calling thread (op_deadline.hpp).
void SetCommonOptions(CURL* handle, const HttpClientOptions& options, const std::string& url,
                      CurlTransfer& transfer, char* error_buffer,
                      std::optional<std::chrono::milliseconds> timeout = std::nullopt);

/// The request headers: the caller's, Authorization, no Expect, a default Content-Type.
CurlHeaderList BuildHeaderList(const HttpClientOptions& options, const HttpHeaders& headers,
                               bool has_body, bool multipart);

/// Runs the transfer; fills transfer.response.status. Throws the Error the failure maps to
/// (see HttpClient), naming `method` and `url`, or rethrows what the sink threw.
void Perform(CURL* handle, CurlTransfer& transfer, std::string_view method, const std::string& url,
             const char* error_buffer);

}  // namespace pgha::net

#endif  // PGHA_NET_CURL_CALL_HPP
