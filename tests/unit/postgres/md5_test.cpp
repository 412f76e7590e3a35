// The private MD5 helper (OpenSSL EVP): RFC 1321's test vectors, streaming, hex checks.
#include "md5.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "pg_wal_dir.hpp"
#include "pgha/error.hpp"

TEST_CASE("MD5 matches RFC 1321's vectors, in one piece and streamed") {
  struct Vector {
    const char* text;
    const char* md5;
  };
  const Vector vectors[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  pgha::Md5 streamed;
  for (const Vector& v : vectors) {
    CAPTURE(v.text);
    CHECK(pgha::Md5Hex(v.text) == v.md5);
    std::string text = v.text;
    for (char c : text) streamed.Update(&c, 1);
    CHECK(streamed.HexDigest() == v.md5);  // and starts over
  }
}

TEST_CASE("Md5File reads the whole file through the per-thread buffer") {
  pgha::test::PgWalDir dir;
  std::string big((5u << 20) + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  dir.Put("big", big);
  int fd = ::open(dir.File("big").c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  pgha::Md5FileResult r = pgha::Md5File(fd, dir.File("big"));
  ::close(fd);
  CHECK(r.bytes == big.size());
  CHECK(r.md5 == pgha::Md5Hex(big));
}

TEST_CASE("IsMd5Hex accepts 32 hex digits of either case only") {
  CHECK(pgha::IsMd5Hex("d41d8cd98f00b204e9800998ecf8427e"));
  CHECK(pgha::IsMd5Hex("D41D8CD98F00B204E9800998ECF8427E"));
  for (const char* bad :
       {"", "d41d8cd98f00b204e9800998ecf8427", "d41d8cd98f00b204e9800998ecf8427e0",
        "g41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427 "}) {
    CAPTURE(bad);
    CHECK_FALSE(pgha::IsMd5Hex(bad));
  }
  CHECK(pgha::LowerAscii("AbC09") == "abc09");
}
