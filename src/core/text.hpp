// Small text helpers shared by the core parsers (private to src/core).
#ifndef PGHA_CORE_TEXT_HPP
#define PGHA_CORE_TEXT_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgha {

/// 0..15 for a hex digit of either case, -1 otherwise.
inline int HexDigitValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// True when `c` is 0-9 or A-F (PostgreSQL's WAL file names are upper case only).
inline bool IsUpperHexDigit(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/// Parses exactly `text` as upper-case hex into a 32-bit value; nullopt on any other input.
std::optional<std::uint32_t> ParseUpperHex32(std::string_view text) noexcept;

/// `v` as 8 lower-case hex digits (CRCs in messages and names).
std::string LowerHex32(std::uint32_t v);

/// Parses exactly `text` as an unsigned decimal number that fits in uint64.
std::optional<std::uint64_t> ParseDecimalU64(std::string_view text) noexcept;

/// `text` made safe for one line of an error message: at most 64 characters, control and
/// non-ASCII bytes shown as \xNN, an ellipsis when cut.
std::string QuoteForMessage(std::string_view text);

/// `text` without leading and trailing blanks (space, tab, CR, LF).
std::string_view Trim(std::string_view text) noexcept;

/// Calls fn(line, line_number) for each line of `text`: split at '\n' (which is not passed),
/// numbered from 1, a last line without '\n' included.
template <typename Fn>
void ForEachLine(std::string_view text, Fn&& fn) {
  std::uint64_t line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    fn(line, ++line_no);
  }
}

}  // namespace pgha

#endif  // PGHA_CORE_TEXT_HPP
