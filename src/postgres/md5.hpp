// MD5 with OpenSSL's EVP interface (private to the postgres layer).
#ifndef PGHA_POSTGRES_MD5_HPP
#define PGHA_POSTGRES_MD5_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// OpenSSL's context type, declared here so that no OpenSSL header leaks into our includers.
struct evp_md_ctx_st;

namespace pgha {

/// An incremental MD5. Throws Error(kInternal) when OpenSSL has no MD5 (e.g. FIPS mode).
class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  /// Adds `size` bytes.
  void Update(const void* data, std::size_t size);
  /// The digest as md5sum prints it (32 lower-case hex digits); then starts over.
  std::string HexDigest();

 private:
  evp_md_ctx_st* ctx_;
};

/// MD5 of `data` in md5sum's spelling.
std::string Md5Hex(std::string_view data);

/// What Md5File read.
struct Md5FileResult {
  std::string md5;
  std::uint64_t bytes = 0;
};

/// MD5 of the open file `fd` from offset 0 to its end, read in 1 MiB pieces through one
/// buffer per thread (reused across calls). `path` names the file in errors (kIo).
Md5FileResult Md5File(int fd, const std::string& path);

/// True for 32 hex digits (either case).
bool IsMd5Hex(std::string_view text) noexcept;
/// `text` in lower case (ASCII).
std::string LowerAscii(std::string_view text);

}  // namespace pgha

#endif  // PGHA_POSTGRES_MD5_HPP
