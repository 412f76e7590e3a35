// Loading TLS certificates and keys for the server and the client (private to src/net).
#ifndef PGHA_NET_TLS_FILES_HPP
#define PGHA_NET_TLS_FILES_HPP

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"

namespace pgha::net {

struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

/// A read-only memory BIO over `text` (which must outlive it).
BioPtr MemoryBio(const std::string& text);
/// What was written to the memory BIO `bio`.
std::string BioText(BIO* bio);

/// OpenSSL's error queue as one line ("" when empty); the queue is emptied.
std::string TakeOpenSslErrors();

/// Every PEM certificate of the file `path`, in order. `what` names the setting in messages
/// ("TLS certificate file"). Throws Error(kNotFound / kIo) when the file cannot be read and
/// Error(kBadInput) when it holds no certificate.
std::vector<X509Ptr> LoadCertificates(std::string_view what, const std::string& path);

/// The unencrypted PEM private key in `path`. Throws Error(kNotFound / kIo) when the file
/// cannot be read, Error(kBadInput) when others may read it (or the group, unless root owns
/// it) or it holds no unencrypted key.
PkeyPtr LoadPrivateKey(std::string_view what, const std::string& path);

/// A certificate chain (leaf first) and its key, checked: they match, the leaf has not
/// expired. Throws as the two loaders do, Error(kBadInput) for a mismatch or expiry.
struct CertifiedKey {
  std::vector<X509Ptr> chain;
  PkeyPtr key;
};
CertifiedKey LoadCertifiedKey(std::string_view what, const std::string& cert_file,
                              const std::string& key_file);

/// The server's TLS context for `tls` (TLS 1.2+, no renegotiation, OpenSSL's ciphers, the
/// client CA when set). Throws as CheckServerTls does.
std::unique_ptr<boost::asio::ssl::context> MakeServerTlsContext(const HttpServerTls& tls);

}  // namespace pgha::net

#endif  // PGHA_NET_TLS_FILES_HPP
