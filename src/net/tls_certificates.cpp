// MakeCertificate: EC P-256 keys and X.509 v3 certificates through OpenSSL's C API.
#include "tls_certificates.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pgha/error.hpp"
#include "tls_files.hpp"

namespace pgha::net {

namespace {

struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};

[[noreturn]] void Fail(const std::string& what) {
  throw Error(ErrorCode::kInternal, "making a certificate: " + what + ": " + TakeOpenSslErrors());
}

PkeyPtr NewKey() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) Fail("EC key generation");
  return key;
}

void SetSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) Fail("RAND_bytes");
  bytes[0] &= 0x7F;  // positive
  std::unique_ptr<BIGNUM, BnFree> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) Fail("serial");
}

void AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) {
    throw Error(ErrorCode::kBadInput, "certificate extension " + std::string(OBJ_nid2sn(nid)) +
                                          " \"" + value + "\": " + TakeOpenSslErrors());
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) Fail("X509_add_ext");
}

std::string AltNames(const CertificateSpec& spec) {
  std::string names;
  for (const std::string& dns : spec.dns_names) names += (names.empty() ? "DNS:" : ",DNS:") + dns;
  for (const std::string& ip : spec.ip_addresses) names += (names.empty() ? "IP:" : ",IP:") + ip;
  return names;
}

void AddExtensions(X509* cert, X509* issuer, const CertificateSpec& spec) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
  AddExtension(cert, &ctx, NID_basic_constraints,
               spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExtension(cert, &ctx, NID_key_usage,
               spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!spec.ca) AddExtension(cert, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
  AddExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) AddExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
  const std::string alt = AltNames(spec);
  if (!alt.empty()) AddExtension(cert, &ctx, NID_subject_alt_name, alt);
}

std::string Pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) Fail("PEM_write_bio_X509");
  return BioText(bio.get());
}

std::string Pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    Fail("PEM_write_bio_PrivateKey");
  }
  return BioText(bio.get());
}

}  // namespace

PemCertificate MakeCertificate(const CertificateSpec& spec, const PemCertificate* issuer) {
  X509Ptr issuer_cert;
  PkeyPtr issuer_key;
  if (issuer != nullptr) {
    BioPtr cert_bio = MemoryBio(issuer->certificate);
    BioPtr key_bio = MemoryBio(issuer->private_key);
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!issuer_cert || !issuer_key) {
      throw Error(ErrorCode::kBadInput,
                  "issuer is not a PEM certificate and key: " + TakeOpenSslErrors());
    }
  }
  PkeyPtr key = NewKey();
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) Fail("X509_new");
  SetSerial(cert.get());
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(spec.validity).count();
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(seconds)) == nullptr) {
    Fail("validity");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(),
                           issuer_cert ? X509_get_subject_name(issuer_cert.get()) : subject) != 1 ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    Fail("names");
  }
  AddExtensions(cert.get(), issuer_cert.get(), spec);
  EVP_PKEY* signer = issuer_key ? issuer_key.get() : key.get();
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) Fail("X509_sign");
  return {Pem(cert.get()), Pem(key.get())};
}

}  // namespace pgha::net
