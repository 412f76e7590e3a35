#include "conninfo.hpp"

#include <arpa/inet.h>

#include <cstdio>

#include "pgha/error.hpp"

namespace pgha::pg {

namespace {

// `value` for an error message: quoted, control bytes as \xNN, cut at 64 bytes.
std::string Shown(std::string_view value) {
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > 64) out += "...";
  return out + "\"";
}

[[noreturn]] void Bad(std::string_view what, std::string_view value, std::string_view why) {
  throw Error(ErrorCode::kBadInput,
              std::string(what) + " " + Shown(value) + " is invalid: " + std::string(why));
}

bool IsControl(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c < 0x20 || c == 0x7f;
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string Escaped(std::string_view value, char quote_escape) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\'') {
      out += quote_escape;
      out += '\'';
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

std::string QuoteConninfoValue(std::string_view value) {
  return Escaped(value, '\\');
}

std::string BuildConninfo(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (value.empty()) continue;
    if (!out.empty()) out += ' ';
    out += key + "=" + QuoteConninfoValue(value);
  }
  return out;
}

std::string QuoteGucString(std::string_view value) {
  return Escaped(value, '\'');
}

void CheckHost(std::string_view host, std::string_view what) {
  if (host.empty() || host.size() > 255) Bad(what, host, "expected 1 to 255 bytes");
  for (char c : host) {
    if (!IsAlnum(c) && std::string_view(".-_:%/[]").find(c) == std::string_view::npos)
      Bad(what, host, "only letters, digits and .-_:%/[] are allowed");
  }
}

void CheckPort(int port, std::string_view what) {
  if (port < 1 || port > 65535)
    throw Error(ErrorCode::kBadInput,
                std::string(what) + " " + std::to_string(port) + " is invalid: expected 1..65535");
}

void CheckRoleName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 63) Bad(what, name, "expected 1 to 63 bytes");
  for (char c : name) {
    if (IsControl(c)) Bad(what, name, "control characters are not allowed");
    if (c == '"') Bad(what, name, "'\"' is not allowed");
  }
}

void CheckSlotName(std::string_view name) {
  if (name.empty() || name.size() > 63) Bad("slot name", name, "expected 1 to 63 bytes");
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      Bad("slot name", name, "only lower-case letters, digits and '_' are allowed");
  }
}

void CheckPrintable(std::string_view value, std::string_view what, std::size_t max) {
  if (value.size() > max) Bad(what, value, "too long");
  for (char c : value) {
    if (IsControl(c)) Bad(what, value, "control characters are not allowed");
  }
}

void CheckSecret(std::string_view value, std::string_view what, std::size_t max) {
  // The value is never quoted: messages end up in logs and HTTP answers.
  auto bad = [&](const char* why) {
    throw Error(ErrorCode::kBadInput, std::string(what) + " (" + std::to_string(value.size()) +
                                          " bytes, not shown) is invalid: " + why);
  };
  if (value.size() > max) bad("too long");
  for (char c : value) {
    if (IsControl(c)) bad("control characters are not allowed");
  }
}

void CheckApplyDelay(std::string_view delay) {
  std::size_t i = 0;
  while (i < delay.size() && delay[i] >= '0' && delay[i] <= '9') ++i;
  if (i == 0 || i > 9)
    Bad("apply delay", delay, "expected 1 to 9 digits and a unit, e.g. \"5min\"");
  std::string_view unit = delay.substr(i);
  if (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  for (std::string_view ok : {"", "ms", "s", "min", "h", "d"}) {
    if (unit == ok && !(unit.empty() && i < delay.size())) return;
  }
  Bad("apply delay", delay, "the unit must be one of ms, s, min, h, d");
}

void CheckGucName(std::string_view name) {
  if (name.empty() || name.size() > 63) Bad("setting name", name, "expected 1 to 63 bytes");
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAlnum(c) || c == '_' || (i > 0 && c == '.');
    if (!ok || (i == 0 && c >= '0' && c <= '9'))
      Bad("setting name", name, "expected [A-Za-z_][A-Za-z0-9_.]*");
  }
}

std::string CheckSubnet(std::string_view subnet, int mask) {
  std::string text(subnet);
  unsigned char buf[16];
  int max_mask = -1;
  if (::inet_pton(AF_INET, text.c_str(), buf) == 1) {
    max_mask = 32;
  } else if (::inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    max_mask = 128;
  } else {
    Bad("SUBNET", subnet, "expected an IPv4 or IPv6 address");
  }
  if (mask < 0 || mask > max_mask)
    throw Error(ErrorCode::kBadInput, "MASK " + std::to_string(mask) + " is invalid for SUBNET " +
                                          Shown(subnet) + ": expected 0.." +
                                          std::to_string(max_mask));
  return text + "/" + std::to_string(mask);
}

}  // namespace pgha::pg
