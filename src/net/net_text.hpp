// Small ASCII helpers shared by the net layer (private to src/net).
#ifndef PGHA_NET_NET_TEXT_HPP
#define PGHA_NET_NET_TEXT_HPP

#include <string>
#include <string_view>

namespace pgha::net {

/// `c` lower-cased when it is an ASCII capital.
inline char AsciiLower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// ASCII case-insensitive equality (header names, media types).
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

/// True when `text` starts with `prefix`, ignoring ASCII case.
inline bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

/// `text` without leading and trailing spaces and tabs (HTTP optional white space).
inline std::string_view TrimOws(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// True for the bytes HTTP calls "tchar" (RFC 9110 token characters).
inline bool IsTokenChar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace pgha::net

#endif  // PGHA_NET_NET_TEXT_HPP
