// pgha's error model: one ErrorCode table shared by C++, the C ABI, Python and REST.
#ifndef PGHA_ERROR_HPP
#define PGHA_ERROR_HPP

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "pgha/export.hpp"

namespace pgha {

/// Stable error codes. The numbers never change meaning; the C ABI returns them negated,
/// REST maps them to HTTP statuses (docs/errors.md has the table).
enum class ErrorCode : int {
  kOk = 0,
  kBadInput = 1,         ///< malformed text or bytes, out-of-range value (HTTP 400)
  kNotFound = 2,         ///< file, timeline, node or route does not exist (HTTP 404)
  kWrongState = 3,       ///< the object is not in a state that allows the call (HTTP 409)
  kConflict = 4,         ///< another operation holds what is needed (HTTP 409)
  kPostgresFailed = 5,   ///< a PostgreSQL program or query failed (HTTP 500)
  kPeerUnreachable = 6,  ///< another node's agent did not answer (HTTP 503)
  kTimeout = 7,          ///< a deadline passed before the promised state (HTTP 504)
  kIo = 8,               ///< reading or writing a local file failed (HTTP 500)
  kInternal = 9,         ///< a bug in pgha (HTTP 500)
  kUnauthorized = 10,    ///< missing or wrong credentials (HTTP 401)
  /// the local PostgreSQL server is starting or stopping right now: retry in a moment (HTTP
  /// 503 with Retry-After)
  kUnavailable = 11,
};

/// The stable lower-case name of a code, e.g. "bad_input".
PGHA_API std::string_view ErrorCodeName(ErrorCode code) noexcept;

/// The exception every pgha function throws. The message is one line that quotes the bad
/// value and names the file, offset, line, LSN or node involved; advice follows "HINT:".
/// Copyable and thread-compatible.
class PGHA_API Error : public std::runtime_error {
 public:
  /// `position` is the byte offset (binary input) or 1-based line (text input) of the
  /// problem, when there is one.
  Error(ErrorCode code, const std::string& message,
        std::optional<std::uint64_t> position = std::nullopt);

  /// The stable code of this error.
  ErrorCode code() const noexcept { return code_; }
  /// Byte offset or line number of the problem in the input, when known.
  std::optional<std::uint64_t> position() const noexcept { return position_; }

 private:
  ErrorCode code_;
  std::optional<std::uint64_t> position_;
};

/// Either a value or the Error that prevented it: the non-throwing form of the parsers,
/// for untrusted input.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// The value; throws the held Error when there is none.
  const T& value() const& {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(v_);
  }
  T&& value() && {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(std::move(v_));
  }
  /// The error; precondition: !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Runs `fn` and turns a pgha::Error into a failed Result (other exceptions: kInternal).
template <typename Fn>
auto Capture(Fn&& fn) noexcept -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, e.what());
  } catch (...) {
    return Error(ErrorCode::kInternal, "unknown exception");
  }
}

}  // namespace pgha

#endif  // PGHA_ERROR_HPP
