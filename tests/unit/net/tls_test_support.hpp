// TLS files for the net tests: a CA and certificates made at test time (no key is checked
// in), written into a scratch directory.
#ifndef PGHA_TESTS_NET_TLS_TEST_SUPPORT_HPP
#define PGHA_TESTS_NET_TLS_TEST_SUPPORT_HPP

#include <sys/stat.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "net/net_test_support.hpp"
#include "tls_certificates.hpp"

namespace pgha::test {

/// Writes `text` to `path` with `mode`.
inline void WriteTextFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  ::chmod(path.c_str(), mode);
}

/// A CA ("ca.pem") and a server certificate it signed for 127.0.0.1 and localhost
/// ("server.pem", "server.key").
struct TlsFiles {
  TlsFiles() {
    ca = net::MakeCertificate({"pgha test CA", {}, {}, true});
    server = net::MakeCertificate({"pgha test server", {"localhost"}, {"127.0.0.1", "::1"}}, &ca);
    WriteTextFile(ca_file, ca.certificate, 0644);
    WriteTextFile(cert_file, server.certificate, 0644);
    WriteTextFile(key_file, server.private_key);
  }

  /// Writes a certificate `ca` signed for `names`, as NAME.pem and NAME.key in the directory.
  void Issue(const std::string& name, const net::CertificateSpec& spec) {
    const net::PemCertificate made = net::MakeCertificate(spec, &ca);
    WriteTextFile(dir.File(name + ".pem"), made.certificate, 0644);
    WriteTextFile(dir.File(name + ".key"), made.private_key);
  }

  ScratchDir dir;
  net::PemCertificate ca;
  net::PemCertificate server;
  std::string ca_file = dir.File("ca.pem");
  std::string cert_file = dir.File("server.pem");
  std::string key_file = dir.File("server.key");
};

}  // namespace pgha::test

#endif  // PGHA_TESTS_NET_TLS_TEST_SUPPORT_HPP
