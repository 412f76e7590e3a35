// ThrowIfHttpError: an error response of a peer back into a pgha::Error.
#include <nlohmann/json.hpp>

#include "pgha/http_client.hpp"
#include "text.hpp"

namespace pgha {

namespace {

ErrorCode CodeForStatus(int status) noexcept {
  switch (status) {
    case 401: return ErrorCode::kUnauthorized;
    case 404: return ErrorCode::kNotFound;
    case 409: return ErrorCode::kConflict;
    case 503: return ErrorCode::kInternal;  // it answered: see ThrowIfHttpError
    case 504: return ErrorCode::kTimeout;
    default: return status >= 400 && status < 500 ? ErrorCode::kBadInput : ErrorCode::kInternal;
  }
}

// The code and msg of a {"code": N, "msg": "..."} body, when it is one.
bool ParseErrorBody(const std::string& body, ErrorCode& code, std::string& msg) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  const auto c = j.find("code");
  const auto m = j.find("msg");
  if (c == j.end() || m == j.end() || !c->is_number_integer() || !m->is_string()) return false;
  const auto n = c->get<std::int64_t>();
  if (n <= 0 || n > static_cast<std::int64_t>(ErrorCode::kUnavailable)) return false;
  code = static_cast<ErrorCode>(n);
  msg = m->get<std::string>();
  return true;
}

}  // namespace

void ThrowIfHttpError(const HttpResponse& response, std::string_view what) {
  if (response.ok()) return;
  ErrorCode code = ErrorCode::kInternal;
  std::string msg;
  if (!ParseErrorBody(response.body, code, msg)) {
    code = CodeForStatus(response.status);
    msg = "HTTP " + std::to_string(response.status);
    if (!response.body.empty()) msg += ": " + QuoteForMessage(response.body);
  }
  // An answer proves that the peer is up. kPeerUnreachable, which the operations take as
  // "down: may be skipped with force=true", comes from the transport only (HttpClient); a
  // peer that says it could not reach another node failed the call.
  if (code == ErrorCode::kPeerUnreachable) {
    code = ErrorCode::kInternal;
    msg += " (the peer answered with peer_unreachable: it could not reach another node)";
  }
  throw Error(code, std::string(what) + ": " + msg);
}

}  // namespace pgha
