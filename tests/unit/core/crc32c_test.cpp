#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "crc32c_internal.hpp"
#include "pgha/crc32c.hpp"

namespace {

// Bit-at-a-time CRC-32C straight from the definition (reflected polynomial 0x82F63B78):
// an independent reference for both implementations.
std::uint32_t BitwiseCrc32c(const std::uint8_t* p, std::size_t n) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1u) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t Portable(const void* data, std::size_t size) {
  return pgha::Crc32cFinish(pgha::Crc32cExtendPortable(pgha::kCrc32cInit, data, size));
}

std::vector<std::uint8_t> RandomBytes(std::mt19937& rng, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

}  // namespace

TEST_CASE("Crc32c known answers (reference §1.3)") {
  struct Case {
    std::string input;
    std::uint32_t crc;
  };
  for (const Case& c :
       {Case{"123456789", 0xE3069283u}, Case{std::string(32, '\0'), 0x8A9136AAu}, Case{"", 0u}}) {
    CAPTURE(c.input.size());
    CHECK(pgha::Crc32c(c.input.data(), c.input.size()) == c.crc);
    CHECK(Portable(c.input.data(), c.input.size()) == c.crc);
    CHECK(BitwiseCrc32c(reinterpret_cast<const std::uint8_t*>(c.input.data()), c.input.size()) ==
          c.crc);
  }
}

TEST_CASE("Crc32cExtend continues across any split like one call") {
  MESSAGE("hardware CRC-32C: " << std::string(pgha::Crc32cIsHardwareAccelerated() ? "yes" : "no"));
  std::mt19937 rng(20240611);
  // One buffer with slack in front so that starts at every alignment are tried.
  std::vector<std::uint8_t> storage = RandomBytes(rng, 300 + 8);
  for (std::size_t len = 0; len <= 300; ++len) {
    std::size_t shift = len % 8;
    const std::uint8_t* data = storage.data() + shift;
    std::uint32_t want = BitwiseCrc32c(data, len);
    CAPTURE(len);
    REQUIRE(Portable(data, len) == want);
    REQUIRE(pgha::Crc32c(data, len) == want);
    std::uniform_int_distribution<std::size_t> pick(0, len);
    for (int round = 0; round < 4; ++round) {
      std::size_t a = pick(rng);
      std::size_t b = pick(rng);
      if (a > b) std::swap(a, b);
      CAPTURE(a);
      CAPTURE(b);
      std::uint32_t hw = pgha::Crc32cExtend(pgha::kCrc32cInit, data, a);
      hw = pgha::Crc32cExtend(hw, data + a, b - a);
      hw = pgha::Crc32cExtend(hw, data + b, len - b);
      std::uint32_t sw = pgha::Crc32cExtendPortable(pgha::kCrc32cInit, data, a);
      sw = pgha::Crc32cExtendPortable(sw, data + a, len - a);
      CHECK(pgha::Crc32cFinish(hw) == want);
      CHECK(pgha::Crc32cFinish(sw) == want);
    }
  }
}

TEST_CASE("Crc32c hardware and portable paths agree on random buffers") {
  std::mt19937 rng(7);
  for (std::size_t len = 0; len <= 300; ++len) {
    std::vector<std::uint8_t> buf = RandomBytes(rng, len);
    CAPTURE(len);
    CHECK(pgha::Crc32cExtend(pgha::kCrc32cInit, buf.data(), len) ==
          pgha::Crc32cExtendPortable(pgha::kCrc32cInit, buf.data(), len));
    // A running CRC that is not the initial value, as in the middle of a record.
    std::uint32_t mid = static_cast<std::uint32_t>(rng());
    CHECK(pgha::Crc32cExtend(mid, buf.data(), len) ==
          pgha::Crc32cExtendPortable(mid, buf.data(), len));
  }
}

TEST_CASE("Crc32c detects every single-bit change") {
  std::mt19937 rng(99);
  std::vector<std::uint8_t> buf = RandomBytes(rng, 192);  // the checksummed part of a slot file
  std::uint32_t base = pgha::Crc32c(buf.data(), buf.size());
  for (std::size_t i = 0; i < buf.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      buf[i] = static_cast<std::uint8_t>(buf[i] ^ (1u << bit));
      CHECK(pgha::Crc32c(buf.data(), buf.size()) != base);
      buf[i] = static_cast<std::uint8_t>(buf[i] ^ (1u << bit));
    }
  }
}
