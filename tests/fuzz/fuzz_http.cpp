// libFuzzer target: the HTTP request text pgha parses before any handler runs. The first
// byte picks the parser ('Q' query strings, 'R' routing, 'M' multipart; any other byte by its
// value modulo 3):
//   Q<query>                        ParseQuery / TryParseQuery
//   R<method letter><path>          Router::Match on the agent's routes (G H P U D A O)
//   M<content type>\n<body>         TryParseMultipart / ParseMultipartFile
// Invariants: refusals are kBadInput; what parses, written back out, parses to the same value.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "pgha/http.hpp"
#include "pgha/http_server.hpp"

namespace {

using pgha::HttpMethod;

void CheckQuery(std::string_view text) {
  pgha::Result<std::map<std::string, std::string>> r = pgha::TryParseQuery(text);
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    return;
  }
  std::string rebuilt;
  for (const auto& [key, value] : r.value()) {
    PGHA_FUZZ_CHECK(!key.empty());
    if (!rebuilt.empty()) rebuilt += '&';
    rebuilt += pgha::PercentEncode(key) + "=" + pgha::PercentEncode(value);
  }
  pgha::Result<std::map<std::string, std::string>> again = pgha::TryParseQuery(rebuilt);
  PGHA_FUZZ_CHECK(again.ok() && again.value() == r.value());
  PGHA_FUZZ_CHECK(pgha::ParseQuery(text) == r.value());
}

// The agent's routes (src/agent/routes_*.cpp), copied: what is fuzzed is the router itself.
const pgha::Router& AgentRouter() {
  static const pgha::Router router = [] {
    struct Route {
      HttpMethod method;
      const char* pattern;
    };
    static const Route kRoutes[] = {
        {HttpMethod::kGet, "/api/pg/v1/health"},
        {HttpMethod::kPost, "/api/pg/v1/nodes/env"},
        {HttpMethod::kPost, "/api/pg/v1/pg/:scope/:db"},
        {HttpMethod::kPost, "/api/pg/v1/test/:case"},
        {HttpMethod::kGet, "/api/pg/v1/instance/:scope"},
        {HttpMethod::kPost, "/api/pg/v1/instance/:scope"},
        {HttpMethod::kPost, "/api/pg/v1/instance/all/:order"},
        {HttpMethod::kPost, "/api/pg/v1/instance/failover/:how"},
        {HttpMethod::kPost, "/api/pg/v1/instance/switchover/:order"},
        {HttpMethod::kDelete, "/api/pg/v1/instance/:scope"},
        {HttpMethod::kPost, "/api/pg/v1/node/:scope"},
        {HttpMethod::kGet, "/api/pg/v1/lsn/:scope"},
        {HttpMethod::kGet, "/api/pg/v1/internal/facts"},
        {HttpMethod::kPost, "/api/pg/v1/internal/stop"},
        {HttpMethod::kPost, "/api/pg/v1/internal/start"},
        {HttpMethod::kPost, "/api/pg/v1/internal/promote"},
        {HttpMethod::kPost, "/api/pg/v1/internal/pull-wal"},
        {HttpMethod::kPost, "/api/pg/v1/internal/rewind"},
        {HttpMethod::kPost, "/api/pg/v1/internal/lease"},
        {HttpMethod::kDelete, "/api/pg/v1/internal/lease"},
        {HttpMethod::kGet, "/api/pg/v1/walFiles/:tl/:hi/:lo"},
        {HttpMethod::kGet, "/api/pg/v1/walFiles/:walFile"},
        {HttpMethod::kGet, "/api/pg/v1/walFile/:walFile"},
        {HttpMethod::kPut, "/api/pg/v1/walFile/:walFile"},
        {HttpMethod::kPost, "/api/pg/v1/walFile/:walFile"},
        {HttpMethod::kGet, "/api/pg/v1/validLsn/:tl/:hi/:lo"},
        {HttpMethod::kGet, "/api/pg/v1/in_recovery"},
    };
    pgha::Router r;
    for (const Route& route : kRoutes) {
      r.Add(route.method, route.pattern,
            [](const pgha::HttpRequest&) { return pgha::HttpResponse::Text(200, ""); });
    }
    return r;
  }();
  return router;
}

// The path of a matched pattern with its parameters percent-encoded again.
std::string RebuildPath(std::string_view pattern,
                        const std::map<std::string, std::string>& params) {
  std::string path;
  std::size_t start = 1;
  while (start <= pattern.size()) {
    std::size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    const std::string_view seg = pattern.substr(start, end - start);
    path += '/';
    path += seg.front() == ':' ? pgha::PercentEncode(params.at(std::string(seg.substr(1))))
                               : std::string(seg);
    start = end + 1;
  }
  return path;
}

void CheckRoute(HttpMethod method, std::string_view path) {
  const pgha::RouteMatch m = AgentRouter().Match(method, path);
  PGHA_FUZZ_CHECK(m.status == 200 || m.status == 400 || m.status == 404 || m.status == 405);
  PGHA_FUZZ_CHECK((m.status == 200) == (m.handler != nullptr));
  PGHA_FUZZ_CHECK((m.status == 405) == !m.allowed.empty());
  PGHA_FUZZ_CHECK(m.status == 200 || !m.message.empty());
  if (m.status != 200) return;
  for (const auto& [name, value] : m.params) {
    PGHA_FUZZ_CHECK(!value.empty() && value.find('/') == std::string::npos &&
                    value.find('\0') == std::string::npos && value != "." && value != "..");
  }
  const pgha::RouteMatch again = AgentRouter().Match(method, RebuildPath(m.pattern, m.params));
  PGHA_FUZZ_CHECK(again.status == 200 && again.pattern == m.pattern && again.params == m.params);
}

HttpMethod MethodFor(char c) {
  static constexpr std::string_view kLetters = "GHPUDAO";  // in HttpMethod order
  std::size_t i = kLetters.find(c);
  if (i == std::string_view::npos) i = static_cast<unsigned char>(c) % kLetters.size();
  return static_cast<HttpMethod>(i);
}

// `text` as an RFC 7578 quoted-string.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A body holding `parts` again, with boundary kBoundary; empty when it cannot (a part's header
// block would pass the parser's limit, or a content holds the new delimiter).
constexpr std::string_view kBoundary = "pgha-fuzz-7f3a9c";
std::string RebuildBody(const std::vector<pgha::MultipartPart>& parts) {
  const std::string delimiter = "--" + std::string(kBoundary);
  std::string body = delimiter;
  for (const pgha::MultipartPart& part : parts) {
    std::string headers = "Content-Disposition: form-data; name=" + Quoted(part.name);
    if (!part.filename.empty()) headers += "; filename=" + Quoted(part.filename);
    if (!part.content_type.empty()) headers += "\r\nContent-Type: " + part.content_type;
    if (headers.size() > pgha::kMultipartMaxHeaderBytes) return "";
    if (part.content.find("\r\n" + delimiter) != std::string_view::npos) return "";
    body.append("\r\n").append(headers).append("\r\n\r\n").append(part.content);
    body.append("\r\n").append(delimiter);
  }
  return body + "--\r\n";
}

bool IsFilePart(const pgha::MultipartPart& part) {
  return part.name == "data" || !part.filename.empty();
}

void CheckMultipartFile(std::string_view content_type, std::string_view body, bool has_file) {
  try {
    const pgha::MultipartPart file = pgha::ParseMultipartFile(content_type, body);
    PGHA_FUZZ_CHECK(has_file && IsFilePart(file));
  } catch (const pgha::Error& e) {
    PGHA_FUZZ_CHECK_REFUSAL(e);
    PGHA_FUZZ_CHECK(!has_file);
  }
}

void CheckMultipart(std::string_view content_type, std::string_view body) {
  pgha::Result<std::vector<pgha::MultipartPart>> r = pgha::TryParseMultipart(content_type, body);
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    CheckMultipartFile(content_type, body, false);
    return;
  }
  const std::vector<pgha::MultipartPart>& parts = r.value();
  PGHA_FUZZ_CHECK(!parts.empty() && parts.size() <= pgha::kMultipartMaxParts);
  bool has_file = false;
  for (const pgha::MultipartPart& part : parts) {
    PGHA_FUZZ_CHECK(!part.name.empty());
    PGHA_FUZZ_CHECK(part.content.data() >= body.data() &&
                    part.content.data() + part.content.size() <= body.data() + body.size());
    has_file = has_file || IsFilePart(part);
  }
  CheckMultipartFile(content_type, body, has_file);
  const std::string rebuilt = RebuildBody(parts);
  if (rebuilt.empty()) return;
  const std::string rebuilt_type = "multipart/form-data; boundary=" + std::string(kBoundary);
  pgha::Result<std::vector<pgha::MultipartPart>> again =
      pgha::TryParseMultipart(rebuilt_type, rebuilt);
  PGHA_FUZZ_CHECK(again.ok() && again.value().size() == parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const pgha::MultipartPart& a = parts[i];
    const pgha::MultipartPart& b = again.value()[i];
    PGHA_FUZZ_CHECK(a.name == b.name && a.filename == b.filename &&
                    a.content_type == b.content_type && a.content == b.content);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text = pgha::fuzz::AsText(data + 1, size - 1);
  const char mode = "QRM"[data[0] % 3];  // 'Q' % 3 == 0, 'R' % 3 == 1, 'M' % 3 == 2
  if (mode == 'Q') {
    CheckQuery(text);
  } else if (mode == 'R') {
    if (text.empty()) return 0;
    CheckRoute(MethodFor(text[0]), text.substr(1));
    std::optional<HttpMethod> m = pgha::ParseHttpMethod(text);
    PGHA_FUZZ_CHECK(!m || pgha::HttpMethodName(*m) == text);
  } else {
    const std::size_t nl = text.find('\n');
    const std::string_view content_type = text.substr(0, nl);
    const std::string_view body =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    CheckMultipart(content_type, body);
  }
  return 0;
}
