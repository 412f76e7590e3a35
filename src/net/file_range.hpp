// An open file and the byte range of it a response still has to send (private to src/net).
#ifndef PGHA_NET_FILE_RANGE_HPP
#define PGHA_NET_FILE_RANGE_HPP

#include <unistd.h>

#include <cstdint>
#include <utility>

namespace pgha::net {

/// Owns a file descriptor; tracks the next offset and the bytes left. Movable, not copyable.
class FileRange {
 public:
  FileRange(int fd, std::uint64_t offset, std::uint64_t length) noexcept
      : fd_(fd), offset_(offset), remain_(length) {}
  FileRange(FileRange&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), offset_(other.offset_), remain_(other.remain_) {}
  FileRange& operator=(FileRange&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
      offset_ = other.offset_;
      remain_ = other.remain_;
    }
    return *this;
  }
  FileRange(const FileRange&) = delete;
  FileRange& operator=(const FileRange&) = delete;
  ~FileRange() { Close(); }

  int fd() const noexcept { return fd_; }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t remain() const noexcept { return remain_; }
  /// Records that `n` more bytes (n <= remain()) were sent.
  void Advance(std::uint64_t n) noexcept {
    offset_ += n;
    remain_ -= n;
  }

 private:
  void Close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  std::uint64_t offset_ = 0;
  std::uint64_t remain_ = 0;
};

}  // namespace pgha::net

#endif  // PGHA_NET_FILE_RANGE_HPP
