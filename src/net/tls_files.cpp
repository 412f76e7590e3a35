// TLS files: PEM certificates and keys read with messages an operator can act on, the
// server's SSL context, and the checks of CheckServerTls / CheckClientTls.
#include "tls_files.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pgha/error.hpp"

namespace pgha::net {

namespace {

constexpr std::size_t kMaxPemBytes = std::size_t{1} << 20;

std::string Named(std::string_view what, const std::string& path) {
  return std::string(what) + " \"" + path + "\"";
}

struct PemFile {
  std::string text;
  struct stat st {};
};

PemFile ReadPemFile(std::string_view what, const std::string& path) {
  if (path.empty()) throw Error(ErrorCode::kBadInput, std::string(what) + " is not set");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                Named(what, path) + ": cannot open: " + std::strerror(err));
  }
  PemFile file;
  const bool regular = ::fstat(fd, &file.st) == 0 && S_ISREG(file.st.st_mode);
  if (!regular || static_cast<std::size_t>(file.st.st_size) > kMaxPemBytes) {
    ::close(fd);
    throw Error(ErrorCode::kBadInput,
                Named(what, path) + " is not a regular file of at most 1 MiB");
  }
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, Named(what, path) + ": cannot read: " + std::strerror(err));
    }
    if (n == 0 || file.text.size() + static_cast<std::size_t>(n) > kMaxPemBytes) break;
    file.text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return file;
}

// Encrypted keys are refused instead of prompting on the terminal.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*user*/) {
  return -1;
}

void CheckKeyPermissions(std::string_view what, const std::string& path, const struct stat& st) {
  const bool others = (st.st_mode & S_IRWXO) != 0;
  const bool group = (st.st_mode & S_IRWXG) != 0;
  if (others || (group && st.st_uid != 0)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw Error(ErrorCode::kBadInput,
                Named(what, path) + " may be read by " + (others ? "others" : "its group") +
                    " (mode " + mode +
                    "). HINT: chmod 600 it (0640 is accepted when root owns the file)");
  }
}

std::string TimeText(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), time) != 1) return "?";
  return BioText(bio.get());
}

}  // namespace

BioPtr MemoryBio(const std::string& text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) throw Error(ErrorCode::kInternal, "BIO_new_mem_buf failed");
  return bio;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string TakeOpenSslErrors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

std::vector<X509Ptr> LoadCertificates(std::string_view what, const std::string& path) {
  const PemFile file = ReadPemFile(what, path);
  BioPtr bio = MemoryBio(file.text);
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  const std::string errors = TakeOpenSslErrors();  // the end of the file, or a bad block
  if (certs.empty()) {
    throw Error(ErrorCode::kBadInput, Named(what, path) + " holds no PEM certificate" +
                                          (errors.empty() ? "" : " (" + errors + ")"));
  }
  return certs;
}

PkeyPtr LoadPrivateKey(std::string_view what, const std::string& path) {
  const PemFile file = ReadPemFile(what, path);
  CheckKeyPermissions(what, path, file.st);
  BioPtr bio = MemoryBio(file.text);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  const std::string errors = TakeOpenSslErrors();
  if (!key) {
    throw Error(ErrorCode::kBadInput,
                Named(what, path) + " holds no PEM private key (" + errors +
                    "). HINT: the key must be PEM and not encrypted with a passphrase");
  }
  return key;
}

CertifiedKey LoadCertifiedKey(std::string_view what, const std::string& cert_file,
                              const std::string& key_file) {
  const std::string prefix(what);
  if (cert_file.empty() != key_file.empty()) {
    throw Error(ErrorCode::kBadInput,
                prefix + (cert_file.empty() ? " key file is set without a certificate file"
                                            : " certificate file is set without a key file"));
  }
  CertifiedKey ck;
  ck.chain = LoadCertificates(prefix + " certificate file", cert_file);
  ck.key = LoadPrivateKey(prefix + " key file", key_file);
  X509* leaf = ck.chain.front().get();
  if (X509_check_private_key(leaf, ck.key.get()) != 1) {
    TakeOpenSslErrors();
    throw Error(ErrorCode::kBadInput, Named(prefix + " key file", key_file) +
                                          " is not the key of the first certificate of " +
                                          Named(prefix + " certificate file", cert_file));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    throw Error(ErrorCode::kBadInput, "the certificate of " +
                                          Named(prefix + " certificate file", cert_file) +
                                          " expired on " + TimeText(X509_get0_notAfter(leaf)));
  }
  return ck;
}

std::unique_ptr<boost::asio::ssl::context> MakeServerTlsContext(const HttpServerTls& tls) {
  CertifiedKey ck = LoadCertifiedKey("TLS", tls.cert_file, tls.key_file);
  std::vector<X509Ptr> client_cas;
  if (!tls.client_ca_file.empty()) {
    client_cas = LoadCertificates("TLS client CA file", tls.client_ca_file);
  }
  auto ctx = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  bool ok = SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) == 1;
  SSL_CTX_set_options(
      native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  ok = ok && SSL_CTX_use_certificate(native, ck.chain.front().get()) == 1;
  for (std::size_t i = 1; ok && i < ck.chain.size(); ++i) {
    ok = SSL_CTX_add1_chain_cert(native, ck.chain[i].get()) == 1;
  }
  ok = ok && SSL_CTX_use_PrivateKey(native, ck.key.get()) == 1;
  if (ok && !client_cas.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    ok = names != nullptr;
    for (const X509Ptr& ca : client_cas) {
      ok = ok && X509_STORE_add_cert(store, ca.get()) == 1;
      X509_NAME* name = ok ? X509_NAME_dup(X509_get_subject_name(ca.get())) : nullptr;
      ok = ok && name != nullptr && sk_X509_NAME_push(names, name) > 0;
    }
    if (names != nullptr) SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    static constexpr unsigned char kSessionContext[] = "pgha";
    ok = ok &&
         SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1) == 1;
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  if (!ok)
    throw Error(ErrorCode::kInternal, "cannot set up the TLS context: " + TakeOpenSslErrors());
  return ctx;
}

}  // namespace pgha::net

namespace pgha {

void CheckServerTls(const HttpServerTls& tls) {
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      throw Error(ErrorCode::kBadInput,
                  "a TLS client CA file is set without a certificate and key file");
    }
    return;
  }
  net::MakeServerTlsContext(tls);
}

void CheckClientTls(const HttpClientTls& tls) {
  if (!tls.ca_file.empty()) net::LoadCertificates("TLS CA file", tls.ca_file);
  if (!tls.cert_file.empty() || !tls.key_file.empty()) {
    net::LoadCertifiedKey("TLS client", tls.cert_file, tls.key_file);
  }
}

}  // namespace pgha
