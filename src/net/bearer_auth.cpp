#include "bearer_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "net_text.hpp"
#include "pgha/error.hpp"

namespace pgha::net {

BearerAuth::BearerAuth(std::string_view token) : enabled_(!token.empty()) {
  if (enabled_) digest_ = Sha256(token);
}

void BearerAuth::ValidateToken(std::string_view token) {
  if (token.empty() || token.size() > 4096) {
    throw Error(ErrorCode::kBadInput, "bearer token must be 1 to 4096 bytes long");
  }
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    // The token is never quoted in messages: only its shape is reported.
    if (u <= 0x20 || u >= 0x7F) {
      throw Error(ErrorCode::kBadInput,
                  "bearer token must be printable ASCII without spaces or control bytes");
    }
  }
}

BearerAuth::Digest BearerAuth::Sha256(std::string_view text) noexcept {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    // Cannot happen with a working OpenSSL; a random-looking mismatch refuses access.
    digest.fill(0xFF);
  }
  return digest;
}

bool BearerAuth::Check(std::string_view authorization) const noexcept {
  if (!enabled_) return true;
  std::string_view value = authorization;
  constexpr std::string_view kScheme = "Bearer";
  if (!StartsWithIgnoreCase(value, kScheme)) return false;
  value.remove_prefix(kScheme.size());
  if (value.empty() || (value.front() != ' ' && value.front() != '\t')) return false;
  value = TrimOws(value);
  if (value.empty()) return false;
  // Comparing digests of equal length hides the token's length and content from timing.
  const Digest presented = Sha256(value);
  return CRYPTO_memcmp(presented.data(), digest_.data(), digest_.size()) == 0;
}

}  // namespace pgha::net
