// One server connection: reads requests, routes, authenticates, runs handlers, writes
// responses (private to src/net).
#ifndef PGHA_NET_HTTP_SESSION_HPP
#define PGHA_NET_HTTP_SESSION_HPP

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "file_range.hpp"
#include "pgha/http.hpp"
#include "server_shared.hpp"

namespace pgha::net {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

/// A connection's life: [TLS: first bytes within idle_timeout, handshake within
/// read_timeout] → [idle wait] → header (deadline starts) → auth/route checks →
/// [100 Continue] → body (same deadline) → handler → write (write deadline) → idle wait…
/// Every step runs on the connection's strand; the session lives as long as a pending
/// operation holds it. Plain and TLS connections share every step (Io() picks the stream);
/// only the handshake, closing and file bodies differ.
/// A request body file, removed when the last holder lets go (the session, or the job running
/// its handler).
class BodySpool {
 public:
  explicit BodySpool(std::string path) : path_(std::move(path)) {}
  ~BodySpool();
  BodySpool(const BodySpool&) = delete;
  BodySpool& operator=(const BodySpool&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket&& socket, ServerShared& shared);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  /// Registers the session and starts reading (on its strand).
  void Start();
  /// Closes the socket. Only when no io thread runs (HttpServer::Stop).
  void CloseNow() noexcept;

 private:
  using ErrorCodeT = boost::beast::error_code;

  /// Calls `op(stream)` with the connection's stream, plain or TLS.
  template <class Op>
  void Io(Op&& op) {
    std::visit(std::forward<Op>(op), stream_);
  }
  /// The TCP layer under either stream: deadlines and the socket.
  boost::beast::tcp_stream& Tcp() noexcept {
    return std::visit(
        [](auto& s) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(s); },
        stream_);
  }

  void DetectTls();
  void OnDetect(ErrorCodeT ec, bool is_tls);
  void OnHandshake(ErrorCodeT ec, std::size_t used);
  void RefusePlainHttp();
  void WaitForRequest();
  void OnFirstBytes(ErrorCodeT ec, std::size_t n);
  void ReadHeader();
  void OnHeader(ErrorCodeT ec, std::size_t n);
  bool CheckHeader();
  bool CheckQueryAndSize(bool has_body);
  bool OpenBodyFile();
  bool BodyDone() const;
  void ReadBody();
  void OnBody(ErrorCodeT ec, std::size_t n);
  void Dispatch();
  HttpRequest BuildRequest();
  void Respond(HttpResponse response);
  void Reply(int status, ErrorCode code, std::string_view msg, bool close);
  void WriteString(HttpResponse&& response);
  void WriteFile(HttpResponse&& response);
  void OnFileHeader(ErrorCodeT ec, std::size_t n);
  void SendFileChunk();
  void SendFileTls();
  void FinishFile(ErrorCodeT ec);
  void WriteHead(HttpResponse&& response);
  template <class Message>
  void Write(Message& message);
  void OnWrite(ErrorCodeT ec, std::size_t n);
  void OnReadError(ErrorCodeT ec);
  void CloseAfterResponse();
  void LingerClose();
  void OnLinger(ErrorCodeT ec, std::size_t n);

  template <class Message>
  bool CopyHeaders(const HttpResponse& response, Message& message);

  ServerShared& shared_;
  std::variant<PlainStream, TlsStream> stream_;
  boost::beast::flat_buffer buffer_;
  std::string remote_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  // A route with a body file: the parser the header parser became, and the file.
  std::optional<boost::beast::http::request_parser<boost::beast::http::file_body>> file_parser_;
  std::shared_ptr<BodySpool> spool_;
  std::chrono::steady_clock::time_point deadline_;
  HttpMethod method_ = HttpMethod::kGet;
  std::string path_;
  std::string query_text_;
  std::map<std::string, std::string> query_;
  RouteMatch match_;
  bool keep_alive_ = true;
  bool linger_ = false;  // close after the response, draining what the client still sends
  unsigned version_ = 11;
  std::size_t lingered_ = 0;
  // The response being written (one at a time).
  std::optional<boost::beast::http::response<boost::beast::http::string_body>> string_res_;
  std::optional<boost::beast::http::response<boost::beast::http::empty_body>> empty_res_;
  std::optional<FileRange> file_;                        // the file body being sent
  std::optional<boost::asio::steady_timer> file_timer_;  // its write deadline
  std::uint64_t file_generation_ = 0;                    // which file the timer is for
  std::unique_ptr<char[]> file_chunk_;                   // TLS: file bytes on their way
  std::unique_ptr<char[]> drain_;
};

}  // namespace pgha::net

#endif  // PGHA_NET_HTTP_SESSION_HPP
