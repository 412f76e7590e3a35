#include "curl_call.hpp"

#include "net_text.hpp"
#include "op_deadline.hpp"
#include "text.hpp"

namespace pgha::net {

namespace {

constexpr std::size_t kMaxIdleHandles = 16;
// What a call made after its operation's deadline still gets (op_deadline.hpp).
constexpr std::chrono::milliseconds kCallAfterDeadline{3000};

std::once_flag g_curl_init;

void InitCurlOnce() {
  std::call_once(g_curl_init, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw Error(ErrorCode::kInternal, "curl_global_init failed");
    }
  });
}

// Response header lines; a status line starts a new header block (after 100 Continue).
std::size_t OnHeaderLine(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<CurlTransfer*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    transfer.response.headers = HttpHeaders();
    return n;
  }
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    transfer.response.headers.Add(std::string(line.substr(0, colon)),
                                  std::string(TrimOws(line.substr(colon + 1))));
  }
  return n;
}

// Body bytes: to the sink for a 2xx stream or download, else to memory; returning less than `n`
// aborts the transfer.
std::size_t OnBodyBytes(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<CurlTransfer*>(user);
  const std::size_t n = size * count;
  if (!transfer.decided) {
    transfer.decided = true;
    transfer.to_file = transfer.sink != nullptr;
    if (transfer.to_file) {
      long status = 0;
      curl_easy_getinfo(transfer.handle, CURLINFO_RESPONSE_CODE, &status);
      transfer.to_file = status >= 200 && status < 300;
    }
  }
  if (transfer.to_file) {
    if (transfer.file_bytes + n > transfer.max_file_bytes) {
      transfer.too_big = true;
      return 0;
    }
    transfer.file_bytes += n;
    try {
      if (transfer.sink(std::string_view(data, n))) return n;
      transfer.stopped = true;
    } catch (...) {  // never through curl's C frames
      transfer.sink_error = std::current_exception();
    }
    return 0;
  }
  if (transfer.response.body.size() + n > transfer.max_memory_bytes) {
    transfer.too_big = true;
    return 0;
  }
  transfer.response.body.append(data, n);
  return n;
}

ErrorCode CodeForCurl(CURLcode rc, CURL* handle) {
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return ErrorCode::kBadInput;
    case CURLE_OPERATION_TIMEDOUT: {
      // A deadline that passed before any connection means the peer did not answer.
      curl_off_t connect_us = 0;
      curl_easy_getinfo(handle, CURLINFO_CONNECT_TIME_T, &connect_us);
      return connect_us > 0 ? ErrorCode::kTimeout : ErrorCode::kPeerUnreachable;
    }
    case CURLE_OUT_OF_MEMORY: return ErrorCode::kInternal;
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM: return ErrorCode::kBadInput;  // our own TLS files
    default:  // resolve, connect, send, receive, TLS, empty reply, truncated body ...
      return ErrorCode::kPeerUnreachable;
  }
}

// What an operator can do about a TLS failure ("" for other failures).
std::string_view TlsHint(CURLcode rc) noexcept {
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
      return ". HINT: the server's certificate must be signed by a CA of the TLS CA file (or "
             "the system's) and name the URL's host (DNS name or IP address)";
    case CURLE_SSL_CONNECT_ERROR:
      return ". HINT: TLS handshake failed: does the server serve https, and does it want a "
             "client certificate?";
    case CURLE_SSL_CACERT_BADFILE: return ". HINT: the TLS CA file cannot be used";
    case CURLE_SSL_CERTPROBLEM: return ". HINT: the TLS client certificate or key cannot be used";
    default: return {};
  }
}

}  // namespace

CurlHandlePool::CurlHandlePool() {
  InitCurlOnce();
}

CurlHandlePool::~CurlHandlePool() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
}

CURL* CurlHandlePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      CURL* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  CURL* handle = curl_easy_init();
  if (handle == nullptr) throw Error(ErrorCode::kInternal, "curl_easy_init failed");
  return handle;
}

void CurlHandlePool::Release(CURL* handle) noexcept {
  // Reset keeps the live connections, so the next call to the same peer reuses one.
  curl_easy_reset(handle);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < kMaxIdleHandles) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

void SetTlsOptions(CURL* handle, const HttpClientTls& tls) {
  const bool verify = !tls.insecure_skip_verify;
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  curl_easy_setopt(handle, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!tls.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLCERT, tls.cert_file.c_str());
    curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(handle, CURLOPT_SSLKEY, tls.key_file.c_str());
    curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
  }
}

void SetCommonOptions(CURL* handle, const HttpClientOptions& options, const std::string& url,
                      CurlTransfer& transfer, char* error_buffer,
                      std::optional<std::chrono::milliseconds> call_timeout) {
  error_buffer[0] = '\0';
  transfer.handle = handle;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  // Within an operation, a call ends with it: bounded by the time the operation has left,
  // but given a short chance after its deadline (releasing its leases, the final states).
  const auto timeout = deadline::Bound(call_timeout.value_or(options.timeout), kCallAfterDeadline);
  const auto connect_timeout = deadline::Bound(options.connect_timeout, kCallAfterDeadline);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  SetTlsOptions(handle, options.tls);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &OnBodyBytes);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
}

CurlHeaderList BuildHeaderList(const HttpClientOptions& options, const HttpHeaders& headers,
                               bool has_body, bool multipart) {
  CurlHeaderList list;
  auto append = [&list](const std::string& line) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) throw Error(ErrorCode::kInternal, "curl_slist_append failed");
    static_cast<void>(list.release());
    list.reset(grown);
  };
  constexpr std::string_view kBreaks("\r\n\0", 3);
  for (const auto& [name, value] : headers.fields()) {
    if (name.find_first_of(kBreaks) != std::string::npos ||
        value.find_first_of(kBreaks) != std::string::npos) {
      throw Error(ErrorCode::kBadInput,
                  "request header " + QuoteForMessage(name) + " has a line break or NUL");
    }
    std::string line = name;
    line += value.empty() ? ";" : ": ";  // "Name;" is how curl sends an empty value
    line += value;
    append(line);
  }
  if (!options.bearer_token.empty() && !headers.Has("Authorization")) {
    append("Authorization: Bearer " + options.bearer_token);
  }
  append("Expect:");
  if (!multipart && !headers.Has("Content-Type")) {
    append(has_body ? "Content-Type: application/json" : "Content-Type:");
  }
  return list;
}

void Perform(CURL* handle, CurlTransfer& transfer, std::string_view method, const std::string& url,
             const char* error_buffer) {
  const CURLcode rc = curl_easy_perform(handle);
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  transfer.response.status = static_cast<int>(status);
  if (rc == CURLE_OK) return;
  if (transfer.sink_error) std::rethrow_exception(transfer.sink_error);
  if (rc == CURLE_WRITE_ERROR && transfer.stopped) return;
  if (rc == CURLE_OPERATION_TIMEDOUT && transfer.deadline_ends_stream && status != 0) return;
  const std::string what = std::string(method) + " " + url + ": ";
  if (transfer.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
    throw Error(
        ErrorCode::kBadInput,
        what + "response body larger than the limit of " +
            std::to_string(transfer.to_file ? transfer.max_file_bytes : transfer.max_memory_bytes) +
            " bytes");
  }
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
  detail += TlsHint(rc);
  throw Error(CodeForCurl(rc, handle), what + detail);
}

}  // namespace pgha::net
