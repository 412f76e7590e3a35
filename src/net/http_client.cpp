// HttpClient: requests, downloads to files and multipart uploads over libcurl.
#include "pgha/http_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "curl_call.hpp"

namespace pgha {

namespace {

constexpr std::size_t kMaxErrorBodyBytes = std::size_t{64} * 1024;
constexpr long kDownloadBufferBytes = 512L * 1024;  // fewer, larger writes for WAL segments

// A mime body attached to a handle; detached before it is freed (the handle refers to it).
class MimePost {
 public:
  explicit MimePost(CURL* handle) : handle_(handle), mime_(curl_mime_init(handle)) {
    if (mime_ == nullptr) throw Error(ErrorCode::kInternal, "curl_mime_init failed");
  }
  ~MimePost() {
    curl_easy_setopt(handle_, CURLOPT_MIMEPOST, nullptr);
    curl_mime_free(mime_);
  }
  MimePost(const MimePost&) = delete;
  MimePost& operator=(const MimePost&) = delete;
  curl_mime* get() const noexcept { return mime_; }

 private:
  CURL* handle_;
  curl_mime* mime_;
};

// Feeds a multipart part from caller-owned bytes (no copy); seekable so curl can rewind.
struct MimeSource {
  std::string_view data;
  std::size_t pos = 0;

  static std::size_t Read(char* buffer, std::size_t size, std::size_t count, void* arg) {
    auto& self = *static_cast<MimeSource*>(arg);
    const std::size_t n = std::min(size * count, self.data.size() - self.pos);
    if (n > 0) std::memcpy(buffer, self.data.data() + self.pos, n);
    self.pos += n;
    return n;
  }
  static int Seek(void* arg, curl_off_t offset, int origin) {
    auto& self = *static_cast<MimeSource*>(arg);
    if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > self.data.size()) {
      return CURL_SEEKFUNC_FAIL;
    }
    self.pos = static_cast<std::size_t>(offset);
    return CURL_SEEKFUNC_OK;
  }
};

void SetMethod(CURL* handle, HttpMethod method, std::string_view body) {
  const bool sends_body = !body.empty() || method == HttpMethod::kPost ||
                          method == HttpMethod::kPut || method == HttpMethod::kPatch;
  if (method == HttpMethod::kHead) {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    return;
  }
  if (sends_body) {
    // Never a null pointer: curl would then read the body from stdin.
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (method == HttpMethod::kGet && !sends_body) {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, std::string(HttpMethodName(method)).c_str());
  }
}

[[noreturn]] void ThrowIo(const std::string& what, const std::string& path) {
  throw Error(ErrorCode::kIo, what + " " + path + ": " + std::strerror(errno));
}

// A temporary file next to the destination, removed unless committed.
class TempFile {
 public:
  explicit TempFile(const std::string& target) {
    static std::atomic<unsigned> counter{0};
    path_ = target + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++counter);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) ThrowIo("cannot create", path_);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const noexcept { return fd_; }

  /// fsync, close, rename over `target`, fsync the directory.
  void Commit(const std::string& target) {
    if (::fsync(fd_) != 0) ThrowIo("cannot fsync", path_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) ThrowIo("cannot close", path_);
    if (::rename(path_.c_str(), target.c_str()) != 0) ThrowIo("cannot rename to", target);
    committed_ = true;
    const std::size_t slash = target.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : target.substr(0, slash + 1);
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) ThrowIo("cannot open directory", dir);
    const int rc = ::fsync(dir_fd);
    ::close(dir_fd);
    if (rc != 0) ThrowIo("cannot fsync directory", dir);
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

struct HttpClient::Impl {
  explicit Impl(HttpClientOptions opts) : options(std::move(opts)) {}
  const HttpClientOptions options;
  net::CurlHandlePool pool;
};

HttpClient::HttpClient(HttpClientOptions options) {
  if (options.connect_timeout.count() <= 0 || options.timeout.count() < 0) {
    throw Error(ErrorCode::kBadInput,
                "HttpClientOptions: connect_timeout must be positive, timeout not negative");
  }
  CheckClientTls(options.tls);
  impl_ = std::make_unique<Impl>(std::move(options));
}

HttpClient::~HttpClient() = default;

std::chrono::milliseconds HttpClient::timeout() const noexcept {
  return impl_->options.timeout;
}

HttpResponse HttpClient::Send(HttpMethod method, const std::string& url, std::string_view body,
                              const HttpHeaders& headers) const {
  return Send(method, url, body, headers, impl_->options.timeout);
}

HttpResponse HttpClient::Send(HttpMethod method, const std::string& url, std::string_view body,
                              const HttpHeaders& headers, std::chrono::milliseconds timeout) const {
  if (timeout.count() < 0) {
    throw Error(ErrorCode::kBadInput,
                "HTTP call timeout " + std::to_string(timeout.count()) + " ms is negative");
  }
  net::CurlLease lease(impl_->pool);
  net::CurlTransfer transfer;
  transfer.max_memory_bytes = impl_->options.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE];
  net::SetCommonOptions(lease.get(), impl_->options, url, transfer, error_buffer, timeout);
  SetMethod(lease.get(), method, body);
  const net::CurlHeaderList list =
      net::BuildHeaderList(impl_->options, headers, !body.empty(), false);
  curl_easy_setopt(lease.get(), CURLOPT_HTTPHEADER, list.get());
  net::Perform(lease.get(), transfer, HttpMethodName(method), url, error_buffer);
  return std::move(transfer.response);
}

HttpResponse HttpClient::Stream(HttpMethod method, const std::string& url, std::string_view body,
                                const HttpHeaders& headers, std::chrono::milliseconds deadline,
                                const std::function<bool(std::string_view)>& on_data) const {
  if (deadline.count() <= 0 || !on_data) {
    throw Error(ErrorCode::kBadInput,
                "HttpClient::Stream needs a positive deadline and a callback");
  }
  net::CurlLease lease(impl_->pool);
  net::CurlTransfer transfer;
  transfer.max_memory_bytes = kMaxErrorBodyBytes;
  transfer.sink = on_data;
  transfer.max_file_bytes = std::numeric_limits<std::uint64_t>::max();  // bounded by the deadline
  transfer.deadline_ends_stream = true;
  char error_buffer[CURL_ERROR_SIZE];
  net::SetCommonOptions(lease.get(), impl_->options, url, transfer, error_buffer, deadline);
  SetMethod(lease.get(), method, body);
  const net::CurlHeaderList list =
      net::BuildHeaderList(impl_->options, headers, !body.empty(), false);
  curl_easy_setopt(lease.get(), CURLOPT_HTTPHEADER, list.get());
  net::Perform(lease.get(), transfer, HttpMethodName(method), url, error_buffer);
  return std::move(transfer.response);
}

HttpResponse HttpClient::Get(const std::string& url, const HttpHeaders& headers) const {
  return Send(HttpMethod::kGet, url, {}, headers);
}

HttpResponse HttpClient::Post(const std::string& url, std::string_view body,
                              const HttpHeaders& headers) const {
  return Send(HttpMethod::kPost, url, body, headers);
}

HttpResponse HttpClient::Put(const std::string& url, std::string_view body,
                             const HttpHeaders& headers) const {
  return Send(HttpMethod::kPut, url, body, headers);
}

HttpResponse HttpClient::Delete(const std::string& url, const HttpHeaders& headers) const {
  return Send(HttpMethod::kDelete, url, {}, headers);
}

HttpResponse HttpClient::DownloadToFile(const std::string& url, const std::string& path,
                                        std::uint64_t max_bytes, const HttpHeaders& headers) const {
  TempFile temp(path);
  HttpResponse r = DownloadToSink(
      url,
      [&](const char* data, std::size_t n) {
        while (n > 0) {
          const ssize_t written = ::write(temp.fd(), data, n);
          if (written < 0) {
            if (errno == EINTR) continue;
            ThrowIo("cannot write the downloaded file", path);
          }
          data += written;
          n -= static_cast<std::size_t>(written);
        }
      },
      max_bytes, headers);
  // A 2xx without a body never reached the sink: it is an empty file.
  if (r.ok()) temp.Commit(path);
  return r;
}

HttpResponse HttpClient::DownloadToSink(const std::string& url,
                                        const std::function<void(const char*, std::size_t)>& sink,
                                        std::uint64_t max_bytes, const HttpHeaders& headers) const {
  net::CurlLease lease(impl_->pool);
  net::CurlTransfer transfer;
  transfer.max_memory_bytes = kMaxErrorBodyBytes;
  transfer.sink = [&sink](std::string_view piece) {
    sink(piece.data(), piece.size());
    return true;
  };
  transfer.max_file_bytes = max_bytes;
  char error_buffer[CURL_ERROR_SIZE];
  net::SetCommonOptions(lease.get(), impl_->options, url, transfer, error_buffer);
  curl_easy_setopt(lease.get(), CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(lease.get(), CURLOPT_BUFFERSIZE, kDownloadBufferBytes);
  const net::CurlHeaderList list = net::BuildHeaderList(impl_->options, headers, false, false);
  curl_easy_setopt(lease.get(), CURLOPT_HTTPHEADER, list.get());
  net::Perform(lease.get(), transfer, "GET", url, error_buffer);
  return std::move(transfer.response);
}

HttpResponse HttpClient::UploadMultipart(const std::string& url, std::string_view field,
                                         std::string_view filename, std::string_view bytes,
                                         const HttpHeaders& headers) const {
  net::CurlLease lease(impl_->pool);
  net::CurlTransfer transfer;
  transfer.max_memory_bytes = impl_->options.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE];
  net::SetCommonOptions(lease.get(), impl_->options, url, transfer, error_buffer);
  MimeSource source{bytes};  // outlives the mime body that reads it
  MimePost mime(lease.get());
  curl_mimepart* part = curl_mime_addpart(mime.get());
  if (part == nullptr) throw Error(ErrorCode::kInternal, "curl_mime_addpart failed");
  curl_mime_name(part, std::string(field).c_str());
  curl_mime_filename(part, std::string(filename).c_str());
  curl_mime_type(part, "application/octet-stream");
  curl_mime_data_cb(part, static_cast<curl_off_t>(bytes.size()), &MimeSource::Read,
                    &MimeSource::Seek, nullptr, &source);
  curl_easy_setopt(lease.get(), CURLOPT_MIMEPOST, mime.get());
  const net::CurlHeaderList list = net::BuildHeaderList(impl_->options, headers, true, true);
  curl_easy_setopt(lease.get(), CURLOPT_HTTPHEADER, list.get());
  net::Perform(lease.get(), transfer, "POST", url, error_buffer);
  return std::move(transfer.response);
}

}  // namespace pgha
