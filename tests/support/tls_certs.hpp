#pragma once
// Test support: a throwaway PKI made with the openssl command line at test time (EC P-256 keys,
// so it takes a fraction of a second). Made once per test process (TlsCerts::shared()), removed
// at exit.
//
//   ca         signs server and client
//   server     CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1
//   client     for mutual TLS (extendedKeyUsage clientAuth)
//   other_ca   an unrelated CA (verifying the server against it must fail)
//   self_signed a server certificate signed by nobody we trust (for ssl_cert_reqs=none)
//   ca_dir     an OpenSSL hashed directory with the CA (for ssl_ca_dir)

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace streamll::test {

class TlsCerts {
 public:
  std::string dir;
  std::string ca_cert, ca_key;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string other_ca_cert, other_ca_key;
  std::string self_signed_cert, self_signed_key;
  std::string ca_dir;  ///< hashed directory (openssl rehash) holding ca_cert, for ssl_ca_dir

  /// The process-wide set, generated on first use. Throws std::runtime_error when openssl fails.
  static const TlsCerts& shared() {
    static const TlsCerts certs;
    return certs;
  }

  TlsCerts(const TlsCerts&) = delete;
  TlsCerts& operator=(const TlsCerts&) = delete;
  ~TlsCerts() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

 private:
  TlsCerts() {
    char pattern[] = "/tmp/streamll-tls-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = pattern;
    auto path = [&](const char* name) { return dir + "/" + name; };
    ca_cert = path("ca.crt");
    ca_key = path("ca.key");
    server_cert = path("server.crt");
    server_key = path("server.key");
    client_cert = path("client.crt");
    client_key = path("client.key");
    other_ca_cert = path("other_ca.crt");
    other_ca_key = path("other_ca.key");
    self_signed_cert = path("self_signed.crt");
    self_signed_key = path("self_signed.key");

    write_file(path("server.ext"),
               "basicConstraints=CA:FALSE\n"
               "keyUsage=digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth\n"
               "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
    write_file(path("client.ext"),
               "basicConstraints=CA:FALSE\n"
               "keyUsage=digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=clientAuth\n");

    make_ca(ca_cert, ca_key, "streamll test CA");
    make_ca(other_ca_cert, other_ca_key, "unrelated test CA");
    make_signed(server_cert, server_key, "localhost", path("server.csr"), path("server.ext"));
    make_signed(client_cert, client_key, "streamll-client", path("client.csr"), path("client.ext"));
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self_signed_key, "-out", self_signed_cert, "-days", "2", "-subj",
             "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    ca_dir = path("ca_dir");
    std::filesystem::create_directory(ca_dir);
    std::filesystem::copy_file(ca_cert, ca_dir + "/ca.pem");
    openssl({"rehash", ca_dir});
  }

  void make_ca(const std::string& cert, const std::string& key, const std::string& cn) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn, "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  }

  void make_signed(const std::string& cert, const std::string& key, const std::string& cn,
                   const std::string& csr, const std::string& ext) {
    openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + cn});
    openssl({"x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext});
  }

  static void write_file(const std::string& file, const std::string& text) {
    std::ofstream out(file);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + file);
  }

  // Runs openssl with a time bound; throws with its output on failure.
  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    const std::string log = dir + "/openssl.log";
    if (run_bounded(args, 20, log) != 0) {
      throw std::runtime_error("openssl " + args[1] + " failed: " + read_text_file(log));
    }
  }
};

}  // namespace streamll::test
