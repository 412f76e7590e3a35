// Bearer-token check in constant time (private to src/net).
#ifndef PGHA_NET_BEARER_AUTH_HPP
#define PGHA_NET_BEARER_AUTH_HPP

#include <array>
#include <string>
#include <string_view>

namespace pgha::net {

/// Holds the SHA-256 of the configured token (never the token itself) and checks
/// Authorization header values against it. Thread-safe (immutable after construction).
class BearerAuth {
 public:
  /// `token` must be valid (see ValidateToken); an empty token disables the check.
  explicit BearerAuth(std::string_view token);

  /// True when auth is off, or `authorization` (the header's value; empty when absent) is
  /// "Bearer <token>" (scheme any case) with the configured token. Constant time in the
  /// token's content and length.
  bool Check(std::string_view authorization) const noexcept;

  /// Throws Error(kBadInput) unless `token` is 1..4096 printable ASCII bytes without spaces.
  static void ValidateToken(std::string_view token);

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest Sha256(std::string_view text) noexcept;

  bool enabled_;
  Digest digest_{};
};

}  // namespace pgha::net

#endif  // PGHA_NET_BEARER_AUTH_HPP
