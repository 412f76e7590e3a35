// The one try/catch every C entry point goes through, and the thread-local last error.
#ifndef PGHA_CAPI_C_GUARD_HPP
#define PGHA_CAPI_C_GUARD_HPP

#include <cstring>
#include <new>
#include <string>

#include "pgha/error.hpp"

namespace pgha::capi {

/// Records a failure for pgha_last_error() and returns its negated code.
int Fail(ErrorCode code, const std::string& message) noexcept;
/// Clears the last error (called on entry).
void ClearError() noexcept;

/// Runs `fn` (which returns nothing) and maps any exception to a negative code.
template <typename Fn>
int Guard(Fn&& fn) noexcept {
  ClearError();
  try {
    fn();
    return 0;
  } catch (const Error& e) {
    return Fail(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return Fail(ErrorCode::kInternal, "out of memory");
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, e.what());
  } catch (...) {
    return Fail(ErrorCode::kInternal, "unknown exception");
  }
}

/// Throws kBadInput naming `what` when `p` is NULL.
template <typename T>
void Require(const T* p, const char* what) {
  if (p == nullptr) throw Error(ErrorCode::kBadInput, std::string(what) + " must not be NULL");
}

/// Throws kBadInput unless *version == PGHA_STRUCT_VERSION-compatible (>= 1).
void CheckVersion(int version, const char* what);

/// Copies `text` with its NUL into buf[bufsize]; kBadInput when it does not fit.
void CopyOut(const std::string& text, char* buf, std::size_t bufsize);

}  // namespace pgha::capi

#endif  // PGHA_CAPI_C_GUARD_HPP
