// Percent-encoding (RFC 3986) and query strings (application/x-www-form-urlencoded).
#include <string>

#include "pgha/http.hpp"
#include "text.hpp"

namespace pgha {

namespace {

bool IsUnreserved(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool IsControl(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7F;
}

// Decodes one key or value of a query string; `base` is its offset in the whole query.
std::string DecodeQueryPart(std::string_view part, std::size_t base, std::string_view query) {
  std::string decoded;
  try {
    decoded = PercentDecode(part, /*plus_is_space=*/true);
  } catch (const Error& e) {
    throw Error(ErrorCode::kBadInput, std::string(e.what()) + " in query " + QuoteForMessage(query),
                base + e.position().value_or(0));
  }
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    if (IsControl(decoded[i])) {
      throw Error(ErrorCode::kBadInput,
                  "control character in query value " + QuoteForMessage(decoded) + " of " +
                      QuoteForMessage(query),
                  base);
    }
  }
  return decoded;
}

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      const int hi = i + 1 < text.size() ? HexDigitValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexDigitValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        throw Error(ErrorCode::kBadInput,
                    "malformed percent escape " + QuoteForMessage(text.substr(i, 3)) +
                        " at offset " + std::to_string(i) + " of " + QuoteForMessage(text),
                    i);
      }
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') {
      throw Error(ErrorCode::kBadInput,
                  "NUL byte at offset " + std::to_string(i) + " of " + QuoteForMessage(text), i);
    }
    out.push_back(c);
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0F]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> result;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view piece = query.substr(start, end - start);
    if (!piece.empty()) {
      const std::size_t eq = piece.find('=');
      const std::string_view raw_key = piece.substr(0, eq);
      std::string key = DecodeQueryPart(raw_key, start, query);
      if (key.empty()) {
        throw Error(
            ErrorCode::kBadInput,
            "empty key at offset " + std::to_string(start) + " of query " + QuoteForMessage(query),
            start);
      }
      std::string value;
      if (eq != std::string_view::npos) {
        value = DecodeQueryPart(piece.substr(eq + 1), start + eq + 1, query);
      }
      if (!result.emplace(key, std::move(value)).second) {
        throw Error(
            ErrorCode::kBadInput,
            "query key " + QuoteForMessage(key) + " given twice in " + QuoteForMessage(query),
            start);
      }
    }
    start = end + 1;
  }
  return result;
}

Result<std::map<std::string, std::string>> TryParseQuery(std::string_view query) noexcept {
  return Capture([&] { return ParseQuery(query); });
}

}  // namespace pgha
