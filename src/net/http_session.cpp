#include "http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <unistd.h>

#include <limits>

#include "handler_call.hpp"
#include "net_text.hpp"
#include "text.hpp"

namespace pgha::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::size_t kFirstReadBytes = std::size_t{16} * 1024;
constexpr std::size_t kDrainChunk = std::size_t{64} * 1024;
constexpr std::size_t kDrainMaxBytes = 64u << 20;
constexpr std::chrono::milliseconds kLingerTime{2000};

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::need_more).category();
}

// The answer to plain HTTP on a TLS port.
constexpr std::string_view kPlainHttpBody =
    "{\"code\":1,\"msg\":\"this port serves HTTPS: plain HTTP is refused\"}";
const std::string kPlainHttpRefusal =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
    std::to_string(kPlainHttpBody.size()) + "\r\nConnection: close\r\n\r\n" +
    std::string(kPlainHttpBody);

std::variant<PlainStream, TlsStream> MakeStream(asio::ip::tcp::socket&& socket,
                                                ServerShared& shared) {
  if (shared.tls) {
    return std::variant<PlainStream, TlsStream>(std::in_place_type<TlsStream>, std::move(socket),
                                                *shared.tls);
  }
  return std::variant<PlainStream, TlsStream>(std::in_place_type<PlainStream>, std::move(socket));
}

// The request as far as its header tells (everything but the body).
template <class Message>
void FillHead(HttpRequest& request, const Message& message) {
  request.target.assign(std::string_view(message.target()));
  for (const auto& field : message) {
    request.headers.Add(std::string(field.name_string()), std::string(field.value()));
  }
}

}  // namespace

BodySpool::~BodySpool() {
  ::unlink(path_.c_str());
}

HttpSession::HttpSession(asio::ip::tcp::socket&& socket, ServerShared& shared)
    : shared_(shared), stream_(MakeStream(std::move(socket), shared)) {
  ++shared_.connections;
}

HttpSession::~HttpSession() {
  shared_.Unregister(this);
  --shared_.connections;
}

void HttpSession::Start() {
  shared_.Register(this, weak_from_this());
  beast::error_code ec;
  Tcp().socket().set_option(asio::ip::tcp::no_delay(true), ec);
  const auto endpoint = Tcp().socket().remote_endpoint(ec);
  if (!ec) remote_ = endpoint.address().to_string();
  asio::dispatch(Tcp().get_executor(),
                 beast::bind_front_handler(
                     shared_.tls ? &HttpSession::DetectTls : &HttpSession::WaitForRequest,
                     shared_from_this()));
}

void HttpSession::CloseNow() noexcept {
  beast::error_code ec;
  Tcp().socket().close(ec);
}

// TLS: like a request, the first bytes (the ClientHello) must come within the idle timeout
// and the handshake end within the read timeout, so a slow handshake cannot hold the server.
void HttpSession::DetectTls() {
  Tcp().expires_after(shared_.options.idle_timeout);
  beast::async_detect_ssl(Tcp(), buffer_,
                          beast::bind_front_handler(&HttpSession::OnDetect, shared_from_this()));
}

void HttpSession::OnDetect(ErrorCodeT ec, bool is_tls) {
  if (ec) {
    CloseNow();
    return;
  }
  if (!is_tls) {
    RefusePlainHttp();
    return;
  }
  Tcp().expires_after(shared_.options.read_timeout);
  std::get<TlsStream>(stream_).async_handshake(
      asio::ssl::stream_base::server, buffer_.data(),
      beast::bind_front_handler(&HttpSession::OnHandshake, shared_from_this()));
}

void HttpSession::OnHandshake(ErrorCodeT ec, std::size_t used) {
  if (ec) {
    CloseNow();  // not TLS after all, no common protocol or cipher, a refused client certificate
    return;
  }
  buffer_.consume(used);
  WaitForRequest();
}

// Plain HTTP on the TLS port: a 400 in plain text, then closed.
void HttpSession::RefusePlainHttp() {
  Tcp().expires_after(shared_.options.write_timeout);
  asio::async_write(Tcp(), asio::buffer(kPlainHttpRefusal),
                    [self = shared_from_this()](ErrorCodeT ec, std::size_t) {
                      if (ec) return self->CloseNow();
                      self->LingerClose();
                    });
}

// Waits up to the idle timeout for the first byte of the next request; the read deadline
// starts when it arrives, so a slow client cannot stretch a request past read_timeout.
void HttpSession::WaitForRequest() {
  if (buffer_.size() > 0) {  // a pipelined request is already buffered
    ReadHeader();
    return;
  }
  Tcp().expires_after(shared_.options.idle_timeout);
  Io([this](auto& stream) {
    stream.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&HttpSession::OnFirstBytes, shared_from_this()));
  });
}

void HttpSession::OnFirstBytes(ErrorCodeT ec, std::size_t n) {
  if (ec) {
    CloseNow();  // idle timeout, client gone
    return;
  }
  buffer_.commit(n);
  ReadHeader();
}

void HttpSession::ReadHeader() {
  deadline_ = std::chrono::steady_clock::now() + shared_.options.read_timeout;
  method_ = HttpMethod::kGet;  // until the request line says otherwise (HEAD omits bodies)
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(shared_.options.max_header_bytes));
  // No body limit yet: Beast would apply it to Content-Length as soon as the header is in,
  // before the route is known (a body file has its own limit). CheckQueryAndSize sets it,
  // and no body byte is read before. (Not boost::none: Boost 1.74 compares a length with an
  // empty optional as larger.)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  Tcp().expires_at(deadline_);
  Io([this](auto& stream) {
    http::async_read_header(stream, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  });
}

void HttpSession::OnReadError(ErrorCodeT ec) {
  file_parser_.reset();
  spool_.reset();  // a body that did not arrive whole is no body
  if (ec == http::error::header_limit) {
    Reply(
        431, ErrorCode::kBadInput,
        "request header larger than " + std::to_string(shared_.options.max_header_bytes) + " bytes",
        true);
  } else if (ec == http::error::bad_version) {  // Beast parses HTTP/1.0 and 1.1 only
    Reply(505, ErrorCode::kBadInput, "HTTP version not supported", true);
  } else if (ec == http::error::body_limit) {
    Reply(413, ErrorCode::kBadInput, "request body larger than the limit", true);
  } else if (IsHttpError(ec) && ec != http::error::end_of_stream &&
             ec != http::error::partial_message) {
    Reply(400, ErrorCode::kBadInput, "malformed HTTP request: " + ec.message(), true);
  } else {
    CloseNow();  // timeout (the stream already closed), end of stream, reset
  }
}

void HttpSession::OnHeader(ErrorCodeT ec, std::size_t /*n*/) {
  if (ec) {
    OnReadError(ec);
    return;
  }
  const auto& header = parser_->get();
  keep_alive_ = header.keep_alive();
  version_ = header.version();
  linger_ = false;
  const std::string expect(header[http::field::expect]);  // `header` may move (OpenBodyFile)
  if (!CheckHeader()) return;
  if (BodyDone()) {
    Dispatch();
    return;
  }
  if (!expect.empty() && !EqualsIgnoreCase(expect, "100-continue")) {
    Reply(417, ErrorCode::kBadInput, "unsupported Expect " + QuoteForMessage(expect), true);
    return;
  }
  if (!expect.empty()) {
    empty_res_.emplace(http::status::continue_, version_);
    Tcp().expires_at(deadline_);
    Io([this](auto& stream) {
      http::async_write(stream, *empty_res_,
                        [self = shared_from_this()](ErrorCodeT wec, std::size_t) {
                          self->empty_res_.reset();
                          if (wec) return self->CloseNow();
                          self->ReadBody();
                        });
    });
    return;
  }
  ReadBody();
}

// Method, route, auth, query and body size, decided before any body byte is read. Replies
// and returns false when the request is refused (unauthenticated clients learn nothing
// about which paths exist).
bool HttpSession::CheckHeader() {
  const auto& header = parser_->get();
  const bool has_body = !parser_->is_done();
  const std::string_view method_name(header.method_string());
  const auto method = ParseHttpMethod(method_name);
  if (!method) {
    Reply(501, ErrorCode::kBadInput, "method " + QuoteForMessage(method_name) + " not supported",
          true);
    return false;
  }
  method_ = *method;
  const std::string_view target(header.target());
  const std::size_t question = target.find('?');
  path_.assign(target.substr(0, question));
  query_text_.assign(question == std::string_view::npos ? std::string_view()
                                                        : target.substr(question + 1));
  match_ = shared_.router.Match(method_, path_);
  const bool is_public = match_.status == 200 && match_.options.public_route;
  if (!is_public && !shared_.auth.Check(std::string_view(header[http::field::authorization]))) {
    Reply(401, ErrorCode::kUnauthorized, "unauthorized", has_body);
    return false;
  }
  if (match_.status != 200) {
    Reply(match_.status, match_.status == 400 ? ErrorCode::kBadInput : ErrorCode::kNotFound,
          match_.message, has_body);
    return false;
  }
  return CheckQueryAndSize(has_body);
}

// The query string and the announced body size of a routed, authorised request.
bool HttpSession::CheckQueryAndSize(bool has_body) {
  auto query = TryParseQuery(query_text_);
  if (!query) {
    Reply(400, ErrorCode::kBadInput, query.error().what(), has_body);
    return false;
  }
  query_ = std::move(query).value();
  if (has_body && match_.body_file != nullptr) return OpenBodyFile();
  const std::size_t limit = shared_.BodyLimit(match_.options);
  const auto length = parser_->content_length();
  if (length && *length > limit) {
    Reply(413, ErrorCode::kBadInput,
          "request body of " + std::to_string(*length) + " bytes is larger than the limit of " +
              std::to_string(limit),
          true);
    return false;
  }
  parser_->body_limit(static_cast<std::uint64_t>(limit));
  return true;
}

// A route with a body file: its function names the file and the limit, then the header
// parser becomes one that writes the body to that file as it arrives.
bool HttpSession::OpenBodyFile() {
  HttpRequest head;
  head.method = method_;
  head.path = path_;
  head.params = match_.params;
  head.query = query_;
  head.remote_address = remote_;
  FillHead(head, parser_->get());
  HttpBodyFile spec;
  try {
    spec = (*match_.body_file)(head);
  } catch (const Error& e) {
    Reply(HttpStatusForError(e.code()), e.code(), e.what(), true);
    return false;
  } catch (const std::exception& e) {
    shared_.Log("body file of " + path_ + " failed: " + e.what());
    Reply(500, ErrorCode::kInternal, "internal error", true);
    return false;
  }
  const auto length = parser_->content_length();
  if (length && *length > spec.max_bytes) {
    Reply(413, ErrorCode::kBadInput,
          "request body of " + std::to_string(*length) + " bytes is larger than the limit of " +
              std::to_string(spec.max_bytes),
          true);
    return false;
  }
  file_parser_.emplace(std::move(*parser_));
  parser_.reset();
  file_parser_->body_limit(spec.max_bytes);
  beast::error_code ec;
  file_parser_->get().body().open(spec.path.c_str(), beast::file_mode::write_new, ec);
  if (ec) {
    Reply(500, ErrorCode::kIo, "cannot create the request body file: " + ec.message(), true);
    return false;
  }
  spool_ = std::make_shared<BodySpool>(spec.path);
  return true;
}

bool HttpSession::BodyDone() const {
  return file_parser_ ? file_parser_->is_done() : parser_->is_done();
}

void HttpSession::ReadBody() {
  Tcp().expires_at(deadline_);
  Io([this](auto& stream) {
    auto done = beast::bind_front_handler(&HttpSession::OnBody, shared_from_this());
    if (file_parser_) {
      http::async_read(stream, buffer_, *file_parser_, std::move(done));
    } else {
      http::async_read(stream, buffer_, *parser_, std::move(done));
    }
  });
}

void HttpSession::OnBody(ErrorCodeT ec, std::size_t /*n*/) {
  if (ec) {
    OnReadError(ec);
    return;
  }
  Dispatch();
}

HttpRequest HttpSession::BuildRequest() {
  HttpRequest request;
  request.method = method_;
  request.path = std::move(path_);
  request.params = std::move(match_.params);
  request.query = std::move(query_);
  if (file_parser_) {
    FillHead(request, file_parser_->get());
    beast::error_code ignored;
    file_parser_->get().body().file().close(ignored);
    if (spool_) request.body_file = spool_->path();
  } else {
    FillHead(request, parser_->get());
    request.body = std::move(parser_->get().body());
  }
  request.remote_address = remote_;
  return request;
}

void HttpSession::Dispatch() {
  HttpRequest request = BuildRequest();
  const HttpHandler* handler = match_.handler;
  parser_.reset();
  file_parser_.reset();
  std::shared_ptr<BodySpool> spool = std::move(spool_);  // removed once the handler returned
  if (!match_.options.blocking) {
    Respond(CallHandler(*handler, request, shared_));
    return;
  }
  auto job = std::make_shared<HttpRequest>(std::move(request));
  asio::post(*shared_.workers, [self = shared_from_this(), handler, job, spool]() mutable {
    auto response = std::make_shared<HttpResponse>(CallHandler(*handler, *job, self->shared_));
    spool.reset();
    asio::post(self->Tcp().get_executor(),
               [self, response] { self->Respond(std::move(*response)); });
  });
}

void HttpSession::Reply(int status, ErrorCode code, std::string_view msg, bool close) {
  if (close) {
    keep_alive_ = false;
    linger_ = true;
  }
  HttpResponse response = HttpResponse::ErrorBody(status, code, msg);
  if (status == 401) response.headers.Set("WWW-Authenticate", "Bearer");
  if (status == 405) {
    std::string allow;
    for (HttpMethod m : match_.allowed) {
      allow += (allow.empty() ? "" : ", ") + std::string(HttpMethodName(m));
    }
    response.headers.Set("Allow", allow);
  }
  parser_.reset();
  file_parser_.reset();
  spool_.reset();
  Respond(std::move(response));
}

void HttpSession::OnWrite(ErrorCodeT ec, std::size_t /*n*/) {
  string_res_.reset();
  empty_res_.reset();
  if (ec) {
    CloseNow();
    return;
  }
  if (linger_) {
    LingerClose();
    return;
  }
  if (!keep_alive_) {
    CloseAfterResponse();
    return;
  }
  WaitForRequest();
}

// Plain: FIN after the response. TLS: close_notify first (waiting a little for the client's),
// so the client can tell the end from a truncation.
void HttpSession::CloseAfterResponse() {
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) {
    beast::error_code ignored;
    Tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    CloseNow();
    return;
  }
  Tcp().expires_after(
      std::min<std::chrono::milliseconds>(kLingerTime, shared_.options.write_timeout));
  tls->async_shutdown([self = shared_from_this()](ErrorCodeT) { self->CloseNow(); });
}

// After refusing a request whose body may still be arriving: stop sending, then read and
// drop what comes for a short while, so that the client reads the response instead of a
// connection reset. The bytes are dropped undecrypted (TCP layer) on a TLS connection too.
void HttpSession::LingerClose() {
  beast::error_code ignored;
  Tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  drain_ = std::make_unique<char[]>(kDrainChunk);
  Tcp().expires_after(
      std::min<std::chrono::milliseconds>(kLingerTime, shared_.options.read_timeout));
  OnLinger({}, 0);
}

void HttpSession::OnLinger(ErrorCodeT ec, std::size_t n) {
  lingered_ += n;
  if (ec || lingered_ > kDrainMaxBytes) {
    CloseNow();
    return;
  }
  Tcp().async_read_some(asio::buffer(drain_.get(), kDrainChunk),
                        beast::bind_front_handler(&HttpSession::OnLinger, shared_from_this()));
}

}  // namespace pgha::net
