// File bodies: sendfile() from the page cache to the socket, no copy through user space;
// through TLS, read in chunks and encrypted.
#include <sys/sendfile.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <cerrno>

#include "http_session.hpp"

namespace pgha::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::uint64_t kSendfileChunk = 1u << 20;
// Bytes sent in one turn before yielding the io thread to other connections.
constexpr std::uint64_t kBytesPerTurn = 4u << 20;
// Bytes read from the file per TLS write.
constexpr std::uint64_t kTlsFileChunk = 256u << 10;

}  // namespace

void HttpSession::OnFileHeader(ErrorCodeT ec, std::size_t /*n*/) {
  empty_res_.reset();
  if (ec) {
    FinishFile(ec);
    return;
  }
  // The write deadline covers the whole body; the stream's own timer only covers its ops.
  Tcp().expires_never();
  file_timer_.emplace(Tcp().get_executor());
  file_timer_->expires_after(shared_.options.write_timeout);
  const std::uint64_t generation = ++file_generation_;
  file_timer_->async_wait([self = shared_from_this(), generation](ErrorCodeT wait_ec) {
    // A reader too slow: closing makes the pending wait fail. A timer that fired just as
    // the body finished must not close the connection's next request.
    if (!wait_ec && self->file_ && self->file_generation_ == generation) self->CloseNow();
  });
  if (std::holds_alternative<TlsStream>(stream_)) {
    SendFileTls();
  } else {
    SendFileChunk();
  }
}

void HttpSession::SendFileChunk() {
  auto& socket = Tcp().socket();
  ErrorCodeT ec;
  socket.native_non_blocking(true, ec);
  std::uint64_t this_turn = 0;
  while (!ec && file_->remain() > 0) {
    if (this_turn >= kBytesPerTurn) {
      asio::post(Tcp().get_executor(),
                 beast::bind_front_handler(&HttpSession::SendFileChunk, shared_from_this()));
      return;
    }
    auto offset = static_cast<off_t>(file_->offset());
    const auto want = static_cast<std::size_t>(std::min(file_->remain(), kSendfileChunk));
    const ssize_t n = ::sendfile(socket.native_handle(), file_->fd(), &offset, want);
    if (n > 0) {
      file_->Advance(static_cast<std::uint64_t>(n));
      this_turn += static_cast<std::uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      socket.async_wait(asio::ip::tcp::socket::wait_write,
                        [self = shared_from_this()](ErrorCodeT wait_ec) {
                          if (wait_ec) return self->FinishFile(wait_ec);
                          self->SendFileChunk();
                        });
      return;
    } else {
      // n == 0: the file shrank under us, the promised length cannot be sent.
      ec = n == 0 ? ErrorCodeT(http::error::short_read)
                  : ErrorCodeT(errno, boost::system::system_category());
    }
  }
  FinishFile(ec);
}

// One chunk: pread, then an encrypted write; the next chunk from its completion.
void HttpSession::SendFileTls() {
  if (file_->remain() == 0) {
    FinishFile({});
    return;
  }
  if (!file_chunk_) file_chunk_ = std::make_unique<char[]>(kTlsFileChunk);
  const auto want = static_cast<std::size_t>(std::min(file_->remain(), kTlsFileChunk));
  ssize_t n = 0;
  do {
    n = ::pread(file_->fd(), file_chunk_.get(), want, static_cast<off_t>(file_->offset()));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {  // n == 0: the file shrank under us
    FinishFile(n == 0 ? ErrorCodeT(http::error::short_read)
                      : ErrorCodeT(errno, boost::system::system_category()));
    return;
  }
  const auto got = static_cast<std::size_t>(n);
  asio::async_write(std::get<TlsStream>(stream_), asio::buffer(file_chunk_.get(), got),
                    [self = shared_from_this(), got](ErrorCodeT ec, std::size_t) {
                      if (ec) return self->FinishFile(ec);
                      self->file_->Advance(got);
                      self->SendFileTls();
                    });
}

void HttpSession::FinishFile(ErrorCodeT ec) {
  if (file_timer_) file_timer_->cancel();
  file_timer_.reset();
  file_.reset();
  file_chunk_.reset();
  OnWrite(ec, 0);
}

}  // namespace pgha::net
