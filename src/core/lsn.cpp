#include "pgha/lsn.hpp"

#include <cstdio>
#include <limits>

#include "pgha/error.hpp"
#include "text.hpp"

namespace pgha {

namespace {

// Parses one half: 1..8 hex digits. Returns the number of characters consumed (0 on error).
std::size_t ParseHalf(std::string_view text, std::uint32_t* out) {
  std::size_t n = 0;
  std::uint32_t v = 0;
  while (n < text.size() && n < 9) {
    int d = HexDigitValue(text[n]);
    if (d < 0) break;
    v = (v << 4) | static_cast<std::uint32_t>(d);
    ++n;
  }
  if (n == 0 || n > 8) return 0;
  *out = v;
  return n;
}

}  // namespace

std::optional<Lsn> Lsn::TryParse(std::string_view text) noexcept {
  std::uint32_t hi = 0;
  std::uint32_t lo = 0;
  std::size_t n1 = ParseHalf(text, &hi);
  if (n1 == 0 || n1 >= text.size() || text[n1] != '/') return std::nullopt;
  std::string_view rest = text.substr(n1 + 1);
  std::size_t n2 = ParseHalf(rest, &lo);
  if (n2 == 0 || n2 != rest.size()) return std::nullopt;
  return Lsn((std::uint64_t{hi} << 32) | lo);
}

Lsn Lsn::Parse(std::string_view text) {
  if (auto lsn = TryParse(text)) return *lsn;
  throw Error(ErrorCode::kBadInput, "invalid LSN \"" + QuoteForMessage(text) +
                                        "\": expected X/Y with 1 to 8 hex digits on each side");
}

std::string Lsn::ToString() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%X/%X", high(), low());
  return buf;
}

Lsn Lsn::Plus(std::uint64_t bytes) const {
  if (bytes > std::numeric_limits<std::uint64_t>::max() - value_) {
    throw Error(ErrorCode::kBadInput,
                "LSN " + ToString() + " + " + std::to_string(bytes) + " passes FFFFFFFF/FFFFFFFF");
  }
  return Lsn(value_ + bytes);
}

Lsn Lsn::Minus(std::uint64_t bytes) const {
  if (bytes > value_) {
    throw Error(ErrorCode::kBadInput,
                "LSN " + ToString() + " - " + std::to_string(bytes) + " goes below 0/0");
  }
  return Lsn(value_ - bytes);
}

std::int64_t Lsn::Diff(Lsn other) const {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (value_ >= other.value_) {
    std::uint64_t d = value_ - other.value_;
    if (d > kMax) {
      throw Error(ErrorCode::kBadInput,
                  "distance from " + other.ToString() + " to " + ToString() + " overflows int64");
    }
    return static_cast<std::int64_t>(d);
  }
  std::uint64_t d = other.value_ - value_;
  if (d > kMax + 1) {
    throw Error(ErrorCode::kBadInput,
                "distance from " + other.ToString() + " to " + ToString() + " overflows int64");
  }
  return d == kMax + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(d);
}

}  // namespace pgha
