// The writing half of HttpSession: HttpResponse → Beast message → socket.
#include <fcntl.h>
#include <sys/stat.h>

#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <cstring>

#include "handler_call.hpp"
#include "http_session.hpp"
#include "net_text.hpp"
#include "text.hpp"

namespace pgha::net {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

bool IsSafeHeaderValue(std::string_view value) noexcept {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool IsManagedHeader(std::string_view name) noexcept {
  return EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
         EqualsIgnoreCase(name, "Connection");
}

// Opens `file` and checks its range. On failure returns the error response to send instead.
std::optional<HttpResponse> OpenRange(const HttpFileBody& file, std::optional<FileRange>& out,
                                      const ServerShared& shared) {
  const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return HttpResponse::ErrorBody(404, ErrorCode::kNotFound,
                                     "file " + QuoteForMessage(file.path) + " not found");
    }
    shared.Log("cannot open " + QuoteForMessage(file.path) + ": " + std::strerror(err));
    return HttpResponse::ErrorBody(500, ErrorCode::kIo,
                                   "cannot open " + QuoteForMessage(file.path));
  }
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  const auto size = regular ? static_cast<std::uint64_t>(st.st_size) : 0;
  const std::uint64_t length = file.length.value_or(size >= file.offset ? size - file.offset : 0);
  if (!regular || file.offset > size || length > size - file.offset) {
    ::close(fd);
    shared.Log("file response " + QuoteForMessage(file.path) +
               ": not a regular file or range outside it");
    return InternalErrorResponse();
  }
  out.emplace(fd, file.offset, length);
  return std::nullopt;
}

}  // namespace

template <class Message>
void HttpSession::Write(Message& message) {
  Tcp().expires_after(shared_.options.write_timeout);
  Io([this, &message](auto& stream) {
    http::async_write(stream, message,
                      beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this()));
  });
}

template <class Message>
bool HttpSession::CopyHeaders(const HttpResponse& response, Message& message) {
  message.version(version_);
  message.result(static_cast<unsigned>(response.status));
  bool has_type = false;
  for (const auto& [name, value] : response.headers.fields()) {
    if (name.empty() || !IsSafeHeaderValue(value)) return false;
    for (char c : name) {
      if (!IsTokenChar(c)) return false;
    }
    if (IsManagedHeader(name)) continue;
    has_type = has_type || EqualsIgnoreCase(name, "Content-Type");
    message.insert(beast::string_view(name.data(), name.size()),
                   beast::string_view(value.data(), value.size()));
  }
  if (!has_type) message.set(http::field::content_type, "application/octet-stream");
  message.keep_alive(keep_alive_);
  return true;
}

void HttpSession::Respond(HttpResponse response) {
  if (method_ == HttpMethod::kHead) {
    WriteHead(std::move(response));
  } else if (response.file) {
    WriteFile(std::move(response));
  } else {
    WriteString(std::move(response));
  }
}

void HttpSession::WriteString(HttpResponse&& response) {
  auto& message = string_res_.emplace();
  if (!CopyHeaders(response, message)) {
    shared_.Log("response with a malformed header field dropped");
    string_res_.reset();
    WriteString(InternalErrorResponse());
    return;
  }
  message.body() = std::move(response.body);
  message.content_length(message.body().size());
  Write(message);
}

// The header goes through Beast; the body follows with sendfile() (http_session_file.cpp).
void HttpSession::WriteFile(HttpResponse&& response) {
  if (auto failed = OpenRange(*response.file, file_, shared_)) {
    WriteString(std::move(*failed));
    return;
  }
  auto& message = empty_res_.emplace();
  if (!CopyHeaders(response, message)) {
    shared_.Log("response with a malformed header field dropped");
    empty_res_.reset();
    file_.reset();
    WriteString(InternalErrorResponse());
    return;
  }
  message.content_length(file_->remain());
  Tcp().expires_after(shared_.options.write_timeout);
  Io([this, &message](auto& stream) {
    http::async_write(stream, message,
                      beast::bind_front_handler(&HttpSession::OnFileHeader, shared_from_this()));
  });
}

// HEAD: the headers GET would send, Content-Length included, and no body.
void HttpSession::WriteHead(HttpResponse&& response) {
  std::uint64_t length = response.body.size();
  if (response.file) {
    std::optional<FileRange> range;
    if (auto failed = OpenRange(*response.file, range, shared_)) {
      response = std::move(*failed);
      length = response.body.size();
    } else {
      length = range->remain();
    }
  }
  auto& message = empty_res_.emplace();
  if (!CopyHeaders(response, message)) {
    empty_res_.reset();
    shared_.Log("response with a malformed header field dropped");
    WriteHead(InternalErrorResponse());
    return;
  }
  message.content_length(length);
  Write(message);
}

}  // namespace pgha::net
