// TLS settings are checked when the server or client is made, with messages naming the file:
// CheckServerTls, CheckClientTls, and the certificates MakeCertificate makes.
#include <doctest/doctest.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <string>

#include "net/tls_test_support.hpp"
#include "pgha/http_client.hpp"
#include "pgha/http_server.hpp"
#include "tls_files.hpp"

using pgha::CheckClientTls;
using pgha::CheckServerTls;
using pgha::ErrorCode;
using pgha::HttpClientTls;
using pgha::HttpServerTls;
using pgha::test::TlsFiles;
using pgha::test::WriteTextFile;

namespace {

// The code and message of what `call` throws (kOk and "" when nothing).
std::pair<ErrorCode, std::string> Outcome(const std::function<void()>& call) {
  try {
    call();
  } catch (const pgha::Error& e) {
    return {e.code(), e.what()};
  }
  return {ErrorCode::kOk, ""};
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string EncryptedKeyPem() {
  pgha::net::PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  pgha::net::BioPtr bio(BIO_new(BIO_s_mem()));
  char pass[] = "passphrase";
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), pass,
                                        sizeof pass - 1, nullptr, nullptr) == 1);
  return pgha::net::BioText(bio.get());
}

}  // namespace

TEST_CASE("MakeCertificate: a CA and what it signs verify, with the names asked for") {
  TlsFiles tls;
  const auto ca = pgha::net::LoadCertificates("CA", tls.ca_file);
  const auto leaf = pgha::net::LoadCertificates("leaf", tls.cert_file);
  REQUIRE(ca.size() == 1);
  REQUIRE(leaf.size() == 1);
  CHECK(X509_check_ca(ca[0].get()) == 1);
  CHECK(X509_check_ca(leaf[0].get()) == 0);
  pgha::net::PkeyPtr ca_key(X509_get_pubkey(ca[0].get()));
  CHECK(X509_verify(leaf[0].get(), ca_key.get()) == 1);
  CHECK(X509_check_host(leaf[0].get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(leaf[0].get(), "example.org", 0, 0, nullptr) != 1);
  CHECK(X509_check_ip_asc(leaf[0].get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(leaf[0].get(), "::1", 0) == 1);
  CHECK(X509_check_ip_asc(leaf[0].get(), "127.0.0.2", 0) != 1);
  CHECK(Contains(tls.server.private_key, "-----BEGIN PRIVATE KEY-----"));
  CHECK(Outcome([] {
          pgha::net::MakeCertificate({"x", {}, {"not-an-ip"}});
        }).first == ErrorCode::kBadInput);
}

TEST_CASE("CheckServerTls: good files pass; each bad one is named") {
  TlsFiles tls;
  CHECK(Outcome([&] {
          CheckServerTls({tls.cert_file, tls.key_file, ""});
        }).first == ErrorCode::kOk);
  CHECK(Outcome([&] {
          CheckServerTls({tls.cert_file, tls.key_file, tls.ca_file});
        }).first == ErrorCode::kOk);
  CHECK(Outcome([] { CheckServerTls({}); }).first == ErrorCode::kOk);  // TLS off

  TlsFiles other;
  const std::string missing = tls.dir.File("missing.pem");
  const std::string garbage = tls.dir.File("garbage.pem");
  WriteTextFile(garbage, "not PEM at all\n", 0644);
  const std::string garbage_key = tls.dir.File("garbage.key");
  WriteTextFile(garbage_key, "not PEM at all\n");
  const std::string open_key = tls.dir.File("open.key");
  WriteTextFile(open_key, tls.server.private_key, 0644);
  const std::string group_key = tls.dir.File("group.key");  // root owns it: 0640 accepted
  WriteTextFile(group_key, tls.server.private_key, 0640);
  const std::string encrypted = tls.dir.File("encrypted.key");
  WriteTextFile(encrypted, EncryptedKeyPem());
  const std::string expired = tls.dir.File("expired.pem");
  const std::string expired_key = tls.dir.File("expired.key");
  const auto old = pgha::net::MakeCertificate(
      {"old", {}, {"127.0.0.1"}, false, std::chrono::hours(-1)}, &tls.ca);
  WriteTextFile(expired, old.certificate, 0644);
  WriteTextFile(expired_key, old.private_key);

  struct Case {
    HttpServerTls tls;
    ErrorCode code;
    std::string says;
  };
  const Case cases[] = {
      {{tls.cert_file, "", ""}, ErrorCode::kBadInput, "without a key file"},
      {{"", tls.key_file, ""}, ErrorCode::kBadInput, "without a certificate file"},
      {{"", "", tls.ca_file}, ErrorCode::kBadInput, "client CA file is set without"},
      {{missing, tls.key_file, ""}, ErrorCode::kNotFound, missing},
      {{tls.cert_file, missing, ""}, ErrorCode::kNotFound, missing},
      {{garbage, tls.key_file, ""}, ErrorCode::kBadInput, "holds no PEM certificate"},
      {{tls.cert_file, garbage_key, ""}, ErrorCode::kBadInput, "holds no PEM private key"},
      {{tls.cert_file, other.key_file, ""}, ErrorCode::kBadInput, "is not the key of"},
      {{tls.cert_file, open_key, ""}, ErrorCode::kBadInput, "chmod 600"},
      {{tls.cert_file, encrypted, ""}, ErrorCode::kBadInput, "passphrase"},
      {{expired, expired_key, ""}, ErrorCode::kBadInput, "expired on"},
      {{tls.cert_file, tls.key_file, garbage}, ErrorCode::kBadInput, "client CA file"},
      {{tls.cert_file, tls.key_file, tls.dir.path().string()},
       ErrorCode::kBadInput,
       "not a regular file"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.says);
    const auto [code, message] = Outcome([&] { CheckServerTls(c.tls); });
    CHECK(code == c.code);
    CHECK(Contains(message, c.says));
    // The server's constructor refuses the same way, before anything listens.
    pgha::HttpServerOptions o;
    o.auth_disabled = true;
    o.tls = c.tls;
    CHECK(Outcome([&] { pgha::HttpServer server{o, pgha::Router{}}; }).first == c.code);
  }
  CHECK(Outcome([&] { CheckServerTls({tls.cert_file, group_key, ""}); }).first == ErrorCode::kOk);
}

TEST_CASE("CheckClientTls and HttpClient: CA file and client certificate are checked") {
  TlsFiles tls;
  tls.Issue("client", {"client", {}, {}});
  const std::string garbage = tls.dir.File("garbage.pem");
  WriteTextFile(garbage, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0644);
  struct Case {
    HttpClientTls tls;
    ErrorCode code;
  };
  const Case cases[] = {
      {{}, ErrorCode::kOk},
      {{tls.ca_file, false, "", ""}, ErrorCode::kOk},
      {{tls.ca_file, false, tls.dir.File("client.pem"), tls.dir.File("client.key")},
       ErrorCode::kOk},
      {{tls.dir.File("none.pem"), false, "", ""}, ErrorCode::kNotFound},
      {{garbage, false, "", ""}, ErrorCode::kBadInput},
      {{tls.ca_file, false, tls.dir.File("client.pem"), ""}, ErrorCode::kBadInput},
      {{tls.ca_file, false, tls.dir.File("client.pem"), tls.key_file}, ErrorCode::kBadInput},
  };
  for (const Case& c : cases) {
    CAPTURE(c.tls.ca_file);
    CAPTURE(c.tls.key_file);
    CHECK(Outcome([&] { CheckClientTls(c.tls); }).first == c.code);
    pgha::HttpClientOptions o;
    o.tls = c.tls;
    CHECK(Outcome([&] { pgha::HttpClient client(o); }).first == c.code);
  }
}
