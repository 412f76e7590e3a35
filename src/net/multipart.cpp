// multipart/form-data (RFC 7578 over RFC 2046), strict and bounded: what `curl -F` sends.
#include <string>
#include <utility>
#include <vector>

#include "net_text.hpp"
#include "pgha/http.hpp"
#include "text.hpp"

namespace pgha {

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

[[noreturn]] void Fail(const std::string& what, std::size_t offset) {
  throw Error(ErrorCode::kBadInput,
              "multipart body: " + what + " at offset " + std::to_string(offset), offset);
}

[[noreturn]] void FailHeader(const std::string& what, std::string_view value) {
  throw Error(ErrorCode::kBadInput, what + " in " + QuoteForMessage(value));
}

bool IsBoundaryChar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// Reads a quoted-string starting at text[i] == '"'; advances i past the closing quote.
std::string ReadQuoted(std::string_view text, std::size_t& i) {
  std::string value;
  for (++i; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      ++i;
      return value;
    }
    if (c == '\\') {
      if (++i == text.size()) break;
      c = text[i];
    }
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') FailHeader("control byte", text);
    value.push_back(c);
  }
  FailHeader("unterminated quoted string", text);
}

// Parses `*( OWS ";" OWS name "=" (token / quoted-string) ) OWS`; names lower-cased.
Params ParseParams(std::string_view text) {
  Params params;
  std::size_t i = 0;
  auto skip_ows = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  for (skip_ows(); i < text.size(); skip_ows()) {
    if (text[i] != ';') FailHeader("expected ';'", text);
    ++i;
    skip_ows();
    std::string name;
    while (i < text.size() && net::IsTokenChar(text[i])) name.push_back(net::AsciiLower(text[i++]));
    if (name.empty() || i == text.size() || text[i] != '=') FailHeader("bad parameter", text);
    ++i;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      value = ReadQuoted(text, i);
    } else {
      while (i < text.size() && net::IsTokenChar(text[i])) value.push_back(text[i++]);
      if (value.empty()) FailHeader("empty parameter value", text);
    }
    for (const auto& p : params) {
      if (p.first == name) FailHeader("parameter " + QuoteForMessage(name) + " repeated", text);
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

// Splits "type; params" into the trimmed type and its parameters.
std::pair<std::string_view, Params> SplitMediaValue(std::string_view value) {
  const std::size_t semi = value.find(';');
  const std::string_view type = net::TrimOws(value.substr(0, semi));
  Params params;
  if (semi != std::string_view::npos) params = ParseParams(value.substr(semi));
  return {type, std::move(params)};
}

const std::string* FindParam(const Params& params, std::string_view name) {
  for (const auto& p : params) {
    if (p.first == name) return &p.second;
  }
  return nullptr;
}

std::string BoundaryOf(std::string_view content_type) {
  auto [type, params] = SplitMediaValue(content_type);
  if (!net::EqualsIgnoreCase(type, "multipart/form-data")) {
    FailHeader("not multipart/form-data", content_type);
  }
  const std::string* boundary = FindParam(params, "boundary");
  if (boundary == nullptr) FailHeader("no boundary", content_type);
  if (boundary->empty() || boundary->size() > 70 || boundary->back() == ' ') {
    FailHeader("boundary of bad length", content_type);
  }
  for (char c : *boundary) {
    if (!IsBoundaryChar(c)) FailHeader("bad boundary character", content_type);
  }
  return *boundary;
}

// Applies one "Name: value" header line of a part to `part`.
void ApplyPartHeader(std::string_view line, std::size_t offset, MultipartPart& part,
                     bool& has_disposition) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) Fail("malformed part header", offset);
  const std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!net::IsTokenChar(c)) Fail("malformed part header name", offset);
  }
  const std::string_view value = net::TrimOws(line.substr(colon + 1));
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') Fail("control byte in header", offset);
  }
  if (net::EqualsIgnoreCase(name, "Content-Disposition")) {
    if (has_disposition) Fail("Content-Disposition repeated", offset);
    has_disposition = true;
    auto [type, params] = SplitMediaValue(value);
    if (!net::EqualsIgnoreCase(type, "form-data")) Fail("part is not form-data", offset);
    const std::string* field = FindParam(params, "name");
    if (field == nullptr || field->empty()) Fail("part without a name", offset);
    part.name = *field;
    if (const std::string* file = FindParam(params, "filename")) part.filename = *file;
  } else if (net::EqualsIgnoreCase(name, "Content-Type")) {
    part.content_type = std::string(value);
  } else if (net::EqualsIgnoreCase(name, "Content-Transfer-Encoding")) {
    if (!net::EqualsIgnoreCase(value, "binary") && !net::EqualsIgnoreCase(value, "8bit") &&
        !net::EqualsIgnoreCase(value, "7bit")) {
      Fail("unsupported Content-Transfer-Encoding " + QuoteForMessage(value), offset);
    }
  }
}

// Parses the header block body[pos, end) of one part (lines separated by CRLF).
void ParsePartHeaders(std::string_view body, std::size_t pos, std::size_t end,
                      MultipartPart& part) {
  bool has_disposition = false;
  while (pos < end) {
    std::size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos || eol > end) eol = end;
    const std::string_view line = body.substr(pos, eol - pos);
    if (line.empty() || line.front() == ' ' || line.front() == '\t') {
      Fail("empty or folded part header line", pos);
    }
    ApplyPartHeader(line, pos, part, has_disposition);
    pos = eol + 2;
  }
  if (!has_disposition) Fail("part without Content-Disposition", end);
}

}  // namespace

std::vector<MultipartPart> ParseMultipart(std::string_view content_type, std::string_view body) {
  const std::string delimiter = "--" + BoundaryOf(content_type);
  const std::string next_delimiter = "\r\n" + delimiter;
  if (body.substr(0, delimiter.size()) != delimiter) Fail("does not start with the boundary", 0);
  std::vector<MultipartPart> parts;
  std::size_t pos = delimiter.size();
  while (true) {
    if (body.substr(pos, 2) == "--") break;  // close delimiter; the epilogue is ignored
    if (body.substr(pos, 2) != "\r\n") Fail("boundary not followed by CRLF", pos);
    pos += 2;
    if (parts.size() == kMultipartMaxParts) Fail("more than 16 parts", pos);
    if (body.substr(pos, 2) == "\r\n") Fail("part without headers", pos);
    const std::size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos || headers_end - pos > kMultipartMaxHeaderBytes) {
      Fail("part headers unterminated or too long", pos);
    }
    MultipartPart part;
    ParsePartHeaders(body, pos, headers_end, part);
    const std::size_t content_start = headers_end + 4;
    const std::size_t content_end = body.find(next_delimiter, content_start);
    if (content_end == std::string_view::npos) Fail("no boundary after part", content_start);
    part.content = body.substr(content_start, content_end - content_start);
    parts.push_back(std::move(part));
    pos = content_end + next_delimiter.size();
  }
  if (parts.empty()) Fail("no part", pos);
  return parts;
}

Result<std::vector<MultipartPart>> TryParseMultipart(std::string_view content_type,
                                                     std::string_view body) noexcept {
  return Capture([&] { return ParseMultipart(content_type, body); });
}

MultipartPart ParseMultipartFile(std::string_view content_type, std::string_view body,
                                 std::string_view field) {
  std::vector<MultipartPart> parts = ParseMultipart(content_type, body);
  for (MultipartPart& part : parts) {
    if (part.name == field) return std::move(part);
  }
  for (MultipartPart& part : parts) {
    if (!part.filename.empty()) return std::move(part);
  }
  throw Error(ErrorCode::kBadInput,
              "multipart body has no part named " + QuoteForMessage(field) + " and no file part");
}

}  // namespace pgha
