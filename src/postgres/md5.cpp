#include "md5.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "pgha/error.hpp"

namespace pgha {

namespace {

constexpr std::size_t kReadSize = 1u << 20;

[[noreturn]] void OpenSslFailed(const char* what) {
  throw Error(ErrorCode::kInternal,
              std::string("OpenSSL MD5 failed in ") + what +
                  " HINT: MD5 is not available when OpenSSL runs in FIPS mode");
}

std::string Hex(const unsigned char* bytes, unsigned int size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * static_cast<std::size_t>(size), '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

}  // namespace

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) OpenSslFailed("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    OpenSslFailed("EVP_DigestInit_ex");
  }
}

Md5::~Md5() {
  EVP_MD_CTX_free(ctx_);
}

void Md5::Update(const void* data, std::size_t size) {
  if (size > 0 && EVP_DigestUpdate(ctx_, data, size) != 1) OpenSslFailed("EVP_DigestUpdate");
}

std::string Md5::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_, digest, &size) != 1) OpenSslFailed("EVP_DigestFinal_ex");
  if (EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) != 1) OpenSslFailed("EVP_DigestInit_ex");
  return Hex(digest, size);
}

std::string Md5Hex(std::string_view data) {
  Md5 md5;
  md5.Update(data.data(), data.size());
  return md5.HexDigest();
}

Md5FileResult Md5File(int fd, const std::string& path) {
  thread_local std::vector<unsigned char> buffer(kReadSize);
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Md5 md5;
  Md5FileResult out;
  for (;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(out.bytes));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, "could not read \"" + path + "\": " + std::strerror(errno));
    }
    if (n == 0) break;
    md5.Update(buffer.data(), static_cast<std::size_t>(n));
    out.bytes += static_cast<std::uint64_t>(n);
  }
  out.md5 = md5.HexDigest();
  return out;
}

bool IsMd5Hex(std::string_view text) noexcept {
  if (text.size() != 32) return false;
  for (char c : text) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace pgha
