// HTTP methods, header fields, requests, responses and the REST error body.
#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "net_text.hpp"
#include "pgha/http.hpp"
#include "text.hpp"

namespace pgha {

namespace {

constexpr std::array<std::pair<HttpMethod, std::string_view>, 7> kMethodNames{{
    {HttpMethod::kGet, "GET"},
    {HttpMethod::kHead, "HEAD"},
    {HttpMethod::kPost, "POST"},
    {HttpMethod::kPut, "PUT"},
    {HttpMethod::kDelete, "DELETE"},
    {HttpMethod::kPatch, "PATCH"},
    {HttpMethod::kOptions, "OPTIONS"},
}};

}  // namespace

std::string_view HttpMethodName(HttpMethod method) noexcept {
  for (const auto& [m, name] : kMethodNames) {
    if (m == method) return name;
  }
  return "UNKNOWN";
}

std::optional<HttpMethod> ParseHttpMethod(std::string_view name) noexcept {
  for (const auto& [m, n] : kMethodNames) {
    if (n == name) return m;
  }
  return std::nullopt;
}

// --- HttpHeaders ---------------------------------------------------------------------------

const std::string* HttpHeaders::Get(std::string_view name) const noexcept {
  for (const auto& [n, v] : fields_) {
    if (net::EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

std::string HttpHeaders::GetOr(std::string_view name, std::string_view fallback) const {
  const std::string* value = Get(name);
  return value != nullptr ? *value : std::string(fallback);
}

void HttpHeaders::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void HttpHeaders::Set(std::string_view name, std::string value) {
  Remove(name);
  fields_.emplace_back(std::string(name), std::move(value));
}

void HttpHeaders::Remove(std::string_view name) {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [&](const auto& f) { return net::EqualsIgnoreCase(f.first, name); }),
                fields_.end());
}

// --- HttpRequest ---------------------------------------------------------------------------

const std::string& HttpRequest::Param(std::string_view name) const {
  auto it = params.find(std::string(name));
  if (it == params.end()) {
    throw Error(ErrorCode::kInternal,
                "route of " + QuoteForMessage(path) + " has no parameter " + QuoteForMessage(name));
  }
  return it->second;
}

std::optional<std::string> HttpRequest::Query(std::string_view name) const {
  auto it = query.find(std::string(name));
  if (it == query.end()) return std::nullopt;
  return it->second;
}

// --- HttpResponse --------------------------------------------------------------------------

HttpResponse HttpResponse::Json(int status, std::string json_text) {
  return Text(status, std::move(json_text), "application/json");
}

HttpResponse HttpResponse::Text(int status, std::string text, std::string content_type) {
  HttpResponse response;
  response.status = status;
  response.headers.Add("Content-Type", std::move(content_type));
  response.body = std::move(text);
  return response;
}

HttpResponse HttpResponse::File(std::string path, std::string content_type, std::uint64_t offset,
                                std::optional<std::uint64_t> length) {
  HttpResponse response;
  response.headers.Add("Content-Type", std::move(content_type));
  response.file = HttpFileBody{std::move(path), offset, length};
  return response;
}

HttpResponse HttpResponse::FromError(const Error& error) {
  HttpResponse response = ErrorBody(HttpStatusForError(error.code()), error.code(), error.what());
  // A server in transition answers in a moment (docs/errors.md).
  if (error.code() == ErrorCode::kUnavailable) response.headers.Add("Retry-After", "1");
  return response;
}

HttpResponse HttpResponse::ErrorBody(int status, ErrorCode code, std::string_view msg) {
  return Json(status, ErrorJson(code, msg));
}

int HttpStatusForError(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kBadInput: return 400;
    case ErrorCode::kUnauthorized: return 401;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kWrongState:
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kPeerUnreachable:
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kTimeout: return 504;
    case ErrorCode::kPostgresFailed:
    case ErrorCode::kIo:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

std::string ErrorJson(ErrorCode code, std::string_view message) {
  nlohmann::json body = {{"code", static_cast<int>(code)}, {"msg", std::string(message)}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pgha
