// Making certificates: a private CA and the certificates it signs, for `pghactl local up
// --tls` and the tests (private to src/net; programs above every layer include it through
// pgha_net_headers).
#ifndef PGHA_NET_TLS_CERTIFICATES_HPP
#define PGHA_NET_TLS_CERTIFICATES_HPP

#include <chrono>
#include <string>
#include <vector>

namespace pgha::net {

/// A certificate and its private key, both PEM (the key unencrypted, PKCS#8).
struct PemCertificate {
  std::string certificate;
  std::string private_key;
};

/// What a new certificate says.
struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> dns_names;     ///< subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  ///< subjectAltName IP entries (IPv4 or IPv6 text)
  bool ca = false;  ///< a CA (may sign certificates) rather than a server/client certificate
  std::chrono::hours validity{24 * 365};  ///< from one hour ago (clock skew) to now + this
};

/// A new EC P-256 key and a certificate for it that `issuer` signed, or that signs itself
/// when `issuer` is null. A non-CA certificate is for servers and clients (extended key
/// usage serverAuth and clientAuth). Throws Error(kBadInput) for a bad IP address or
/// issuer, Error(kInternal) when OpenSSL fails.
PemCertificate MakeCertificate(const CertificateSpec& spec, const PemCertificate* issuer = nullptr);

}  // namespace pgha::net

#endif  // PGHA_NET_TLS_CERTIFICATES_HPP
