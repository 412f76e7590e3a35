// Helpers shared by the libFuzzer targets of tests/fuzz: invariant checks that abort with a
// message (libFuzzer then keeps the input as crash-<sha1>), and the rule that a parser of
// untrusted input refuses it only with ErrorCode::kBadInput.
#ifndef PGHA_TESTS_FUZZ_SUPPORT_HPP
#define PGHA_TESTS_FUZZ_SUPPORT_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "pgha/error.hpp"

namespace pgha::fuzz {

/// Reports a violated invariant and aborts, so that libFuzzer records the input.
[[noreturn]] inline void Fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "pgha fuzz: invariant violated at %s:%d: %s\n", file, line, what);
  std::abort();
}

/// A refusal of untrusted input must be kBadInput: kInternal means a std::exception (say
/// std::out_of_range from a substr) escaped the parser, which is a bug.
inline void CheckRefusal(const Error& error, const char* file, int line) {
  if (error.code() != ErrorCode::kBadInput) {
    std::fprintf(stderr, "pgha fuzz: refusal with code %d: %s\n", static_cast<int>(error.code()),
                 error.what());
    Fail("refusal is not kBadInput", file, line);
  }
}

/// The input bytes as text.
inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace pgha::fuzz

/// Aborts (a libFuzzer crash) when `cond` is false.
#define PGHA_FUZZ_CHECK(cond)                                   \
  do {                                                          \
    if (!(cond)) ::pgha::fuzz::Fail(#cond, __FILE__, __LINE__); \
  } while (false)

/// Aborts unless `error` is a kBadInput refusal.
#define PGHA_FUZZ_CHECK_REFUSAL(error) ::pgha::fuzz::CheckRefusal((error), __FILE__, __LINE__)

#endif  // PGHA_TESTS_FUZZ_SUPPORT_HPP
