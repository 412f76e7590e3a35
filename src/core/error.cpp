#include "pgha/error.hpp"

namespace pgha {

std::string_view ErrorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kBadInput: return "bad_input";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kWrongState: return "wrong_state";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kPostgresFailed: return "postgres_failed";
    case ErrorCode::kPeerUnreachable: return "peer_unreachable";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kUnavailable: return "unavailable";
  }
  return "unknown";
}

Error::Error(ErrorCode code, const std::string& message, std::optional<std::uint64_t> position)
    : std::runtime_error(message), code_(code), position_(position) {}

}  // namespace pgha
