#include "tar_extract.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "pgha/error.hpp"

namespace pgha::pg {

namespace {

constexpr std::size_t kBlock = 512;

// Offsets and sizes of the ustar header fields PostgreSQL fills (src/port/tar.c).
constexpr std::size_t kNameAt = 0, kNameLen = 100;
constexpr std::size_t kModeAt = 100, kModeLen = 8;
constexpr std::size_t kSizeAt = 124, kSizeLen = 12;
constexpr std::size_t kSumAt = 148, kSumLen = 8;
constexpr std::size_t kTypeAt = 156;
constexpr std::size_t kLinkAt = 157, kLinkLen = 100;
constexpr std::size_t kMagicAt = 257;
constexpr std::size_t kPrefixAt = 345, kPrefixLen = 155;

std::string CString(std::string_view block, std::size_t at, std::size_t len) {
  std::string_view f = block.substr(at, len);
  return std::string(f.substr(0, f.find('\0')));
}

std::string Shown(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 120)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return "\"" + out + "\"";
}

[[noreturn]] void Bad(const std::string& what) {
  throw Error(ErrorCode::kBadInput, "base backup archive: " + what);
}

[[noreturn]] void IoFailure(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorCode::kIo,
              "base backup: cannot " + what + " \"" + path + "\": " + std::strerror(err));
}

// The member's relative path, checked: not absolute, no ".." or empty component. Leading
// "./" (PostgreSQL names some members "./pg_wal/...") and a directory's trailing slashes are
// dropped; what is left must not be empty or ".".
std::string CheckedName(std::string name) {
  const std::string given = name;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  while (name.compare(0, 2, "./") == 0) name.erase(0, 2);
  if (given.empty() || given.front() == '/')
    Bad("member name " + Shown(given) + " is not relative");
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = name.find('/', start);
    std::string_view part = std::string_view(name).substr(start, slash - start);
    if (part.empty() || part == "." || part == "..")
      Bad("member name " + Shown(given) + " has an empty, \".\" or \"..\" component");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return name;
}

bool AllZero(const char* data, std::size_t size) {
  return std::all_of(data, data + size, [](char c) { return c == '\0'; });
}

}  // namespace

std::optional<std::uint64_t> TarNumber(std::string_view field) {
  if (field.empty()) return std::nullopt;
  if (static_cast<unsigned char>(field[0]) & 0x80) {
    // base-256, big-endian, the first byte's high bit a marker (print_tar_number)
    std::uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (std::size_t i = 1; i < field.size(); ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  std::size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  std::uint64_t v = 0;
  std::size_t digits = 0;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i, ++digits) {
    if (v >> 61) return std::nullopt;
    v = v * 8 + static_cast<std::uint64_t>(field[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  for (; i < field.size(); ++i) {
    if (field[i] != '\0' && field[i] != ' ') return std::nullopt;
  }
  return v;
}

TarExtractor::TarExtractor(std::string root, std::optional<fs::Owner> owner, bool allow_symlinks)
    : root_(std::move(root)), owner_(owner), allow_symlinks_(allow_symlinks) {
  header_.reserve(kBlock);
}

TarExtractor::~TarExtractor() {
  if (fd_ >= 0) ::close(fd_);
}

void TarExtractor::Feed(const char* data, std::size_t size) {
  while (size > 0) {
    if (ended_) {
      if (!AllZero(data, size)) Bad("data after the end of the archive");
      return;
    }
    if (left_ > 0) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, size));
      Write(data, n);
      data += n;
      size -= n;
      left_ -= n;
      if (left_ == 0) CloseFile();
      continue;
    }
    if (padding_ > 0) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(padding_, size));
      data += n;
      size -= n;
      padding_ -= n;
      continue;
    }
    std::size_t n = std::min(kBlock - header_.size(), size);
    header_.append(data, n);
    data += n;
    size -= n;
    if (header_.size() == kBlock) {
      Header();
      header_.clear();
    }
  }
}

void TarExtractor::Header() {
  if (AllZero(header_.data(), kBlock)) {
    ended_ = true;
    return;
  }
  std::string_view h(header_);
  auto stored = TarNumber(h.substr(kSumAt, kSumLen));
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= kSumAt && i < kSumAt + kSumLen) ? std::uint64_t{' '}
                                                 : static_cast<unsigned char>(h[i]);
  }
  if (!stored || *stored != sum) Bad("a header's checksum does not match (not a tar stream?)");
  std::string name = CString(h, kNameAt, kNameLen);
  if (h.substr(kMagicAt, 5) == "ustar") {
    std::string prefix = CString(h, kPrefixAt, kPrefixLen);
    if (!prefix.empty()) name = prefix + "/" + name;
  }
  name = CheckedName(std::move(name));
  auto mode = TarNumber(h.substr(kModeAt, kModeLen));
  auto size = TarNumber(h.substr(kSizeAt, kSizeLen));
  if (!mode || !size) Bad("member " + Shown(name) + " has a bad mode or size field");
  const std::string path = root_ + "/" + name;
  const auto perm = static_cast<mode_t>(*mode & 07777);
  const char type = h[kTypeAt];
  if (type == '5') {
    if (::mkdir(path.c_str(), perm & 0777) != 0) {
      struct stat st {};
      if (errno != EEXIST || ::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        IoFailure("create directory", path, errno);
    }
    if (owner_) fs::ChownIfRoot(path, *owner_);
  } else if (type == '2') {
    if (!allow_symlinks_) Bad("member " + Shown(name) + " is a symbolic link");
    std::string target = CString(h, kLinkAt, kLinkLen);
    if (::symlink(target.c_str(), path.c_str()) != 0) IoFailure("create link", path, errno);
    if (owner_ && ::geteuid() == 0 && ::lchown(path.c_str(), owner_->uid, owner_->gid) != 0)
      IoFailure("give away", path, errno);
  } else if (type == '0' || type == '\0') {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, perm & 0777);
    if (fd_ < 0) IoFailure("create", path, errno);
    if (owner_ && ::geteuid() == 0 && ::fchown(fd_, owner_->uid, owner_->gid) != 0)
      IoFailure("give away", path, errno);
    name_ = name;
    left_ = *size;
    padding_ = (kBlock - *size % kBlock) % kBlock;
    if (left_ == 0) CloseFile();
  } else {
    Bad("member " + Shown(name) + " has type '" + std::string(1, type) +
        "' (only files, directories and links are expected)");
  }
  ++members_;
}

void TarExtractor::Write(const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      IoFailure("write", root_ + "/" + name_, errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    bytes_written_ += static_cast<std::uint64_t>(n);
  }
}

void TarExtractor::CloseFile() {
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) IoFailure("close", root_ + "/" + name_, errno);
}

void TarExtractor::Finish() {
  if (left_ > 0 || fd_ >= 0) Bad("the archive ends inside member " + Shown(name_));
  if (!header_.empty()) Bad("the archive ends inside a header");
}

}  // namespace pgha::pg
