// OpenSSL 3 TLS client over our nonblocking sockets. See tls_stream.hpp for the verification
// mapping. OpenSSL's error queue is per thread: it is cleared before every SSL call so a stale
// entry left by other code never turns into a wrong message here.

#include "redis/transport/tls_stream.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "openssl_setup.hpp"
#include "redis/config/connection_target.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll::redis {
namespace {

// ---- a socket BIO whose writes never raise SIGPIPE ------------------------------------------

struct BioSocket {
  int fd = -1;
  int last_errno = 0;
};

int bio_write(BIO* bio, const char* data, int size) {
  auto* sock = static_cast<BioSocket*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t n = ::send(sock->fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    sock->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;
  }
}

int bio_read(BIO* bio, char* data, int size) {
  auto* sock = static_cast<BioSocket*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t n = ::recv(sock->fd, data, static_cast<std::size_t>(size), 0);
    if (n >= 0) return static_cast<int>(n);  // 0 is EOF: no retry flag
    if (errno == EINTR) continue;
    sock->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_bio_method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "streamll-socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

// ---- error text --------------------------------------------------------------------------------

// "certificate verify failed: unable to get local issuer certificate", "tlsv13 alert
// certificate required", ... The reason strings of the queue, most specific first.
std::string openssl_reason(const SSL* ssl) {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    if (!out.empty()) out += "; ";
    out += reason ? reason : "error " + std::to_string(code);
  }
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      const std::string detail = X509_verify_cert_error_string(verify);
      if (out.empty()) out = "certificate verify failed";
      out += ": " + detail;
    }
  }
  return out.empty() ? std::string("unknown TLS error") : out;
}

std::string openssl_queue_text() { return openssl_reason(nullptr); }

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

class TlsStream final : public ByteStream {
 public:
  TlsStream(SocketHandle socket, SSL* ssl, std::unique_ptr<BioSocket> bio_socket,
            std::string display)
      : socket_(std::move(socket)),
        ssl_(ssl),
        bio_socket_(std::move(bio_socket)),
        display_(std::move(display)) {}
  ~TlsStream() override { SSL_free(ssl_); }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  IoStep write_some(const char* data, std::size_t size) override {
    ERR_clear_error();
    std::size_t written = 0;
    const int ret = SSL_write_ex(ssl_, data, size, &written);
    if (ret == 1) return {written, 0, false};
    const IoStep step = on_error(ret, "writing to");
    if (step.eof) throw ClosedError("connection closed by " + display_ + " during a write");
    return step;
  }

  IoStep read_some(char* data, std::size_t size) override {
    ERR_clear_error();
    std::size_t read = 0;
    const int ret = SSL_read_ex(ssl_, data, size, &read);
    if (ret == 1) return {read, 0, false};
    return on_error(ret, "reading from");
  }

  int fd() const noexcept override { return socket_.get(); }

  // Drives SSL_connect to completion before the deadline.
  void handshake(const WaitContext& wait) {
    for (;;) {
      ERR_clear_error();
      const int ret = SSL_connect(ssl_);
      if (ret == 1) return;
      const int error = SSL_get_error(ssl_, ret);
      if (error == SSL_ERROR_WANT_READ) {
        wait_ready(socket_.get(), POLLIN, wait, "in the TLS handshake with");
      } else if (error == SSL_ERROR_WANT_WRITE) {
        wait_ready(socket_.get(), POLLOUT, wait, "in the TLS handshake with");
      } else if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN) {
        std::string reason;
        if (error == SSL_ERROR_SYSCALL && bio_socket_->last_errno != 0) {
          reason = std::strerror(bio_socket_->last_errno);
        } else if (ERR_peek_error() != 0) {
          reason = openssl_queue_text();
        } else {
          reason = "the server closed the connection (is it a TLS port?)";
        }
        throw TlsError("TLS handshake with " + display_ + " failed: " + reason);
      } else {
        throw TlsError("TLS handshake with " + display_ + " failed: " + openssl_reason(ssl_));
      }
    }
  }

 private:
  IoStep on_error(int ret, const char* doing) {
    switch (SSL_get_error(ssl_, ret)) {
      case SSL_ERROR_WANT_READ:
        return {0, POLLIN, false};
      case SSL_ERROR_WANT_WRITE:
        return {0, POLLOUT, false};
      case SSL_ERROR_ZERO_RETURN:
        return {0, 0, true};
      case SSL_ERROR_SYSCALL:
        if (bio_socket_->last_errno != 0)
          throw_socket_error(bio_socket_->last_errno, doing, display_);
        throw ClosedError(std::string("connection lost ") + doing + " " + display_);
      default:
        throw TlsError(std::string("TLS error ") + doing + " " + display_ + ": " +
                       openssl_reason(nullptr));
    }
  }

  SocketHandle socket_;
  SSL* ssl_;
  std::unique_ptr<BioSocket> bio_socket_;
  std::string display_;
};

}  // namespace

struct TlsContext::State {
  SSL_CTX* ctx = nullptr;
  SslCertReqs reqs = SslCertReqs::required;
  std::string server_name;
  std::string display;
  ~State() { SSL_CTX_free(ctx); }
};

TlsContext::TlsContext(const ConnectionTarget& target) : state_(std::make_unique<State>()) {
  ERR_clear_error();
  State& s = *state_;
  s.reqs = target.cert_reqs;
  s.server_name = target.server_name;
  s.display = target.display;
  (void)detail::openssl_ready();  // OpenSSL's first setup, fork-safe (openssl_setup.hpp)
  s.ctx = SSL_CTX_new(TLS_client_method());
  if (s.ctx == nullptr) throw TlsError("cannot create a TLS context: " + openssl_queue_text());
  SSL_CTX_set_min_proto_version(s.ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(s.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A peer that drops TCP without close_notify reads as EOF (ClosedError), not a TLS error.
  SSL_CTX_set_options(s.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);

  if (s.reqs == SslCertReqs::none) {
    SSL_CTX_set_verify(s.ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(s.ctx, SSL_VERIFY_PEER, nullptr);
    if (!target.ca_file.empty() || !target.ca_dir.empty()) {
      const char* file = target.ca_file.empty() ? nullptr : target.ca_file.c_str();
      const char* dir = target.ca_dir.empty() ? nullptr : target.ca_dir.c_str();
      if (SSL_CTX_load_verify_locations(s.ctx, file, dir) != 1) {
        throw ConfigError(file ? "ssl_ca_file" : "ssl_ca_dir",
                          "cannot load CA certificates from '" + std::string(file ? file : dir) +
                              "': " + openssl_queue_text());
      }
    } else if (SSL_CTX_set_default_verify_paths(s.ctx) != 1) {
      throw TlsError("cannot load the system CA certificates: " + openssl_queue_text());
    }
  }
  if (!target.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(s.ctx, target.cert_file.c_str()) != 1) {
      throw ConfigError("ssl_cert_file", "cannot load the client certificate '" + target.cert_file +
                                             "': " + openssl_queue_text());
    }
    if (SSL_CTX_use_PrivateKey_file(s.ctx, target.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw ConfigError("ssl_key_file", "cannot load the client key '" + target.key_file +
                                            "': " + openssl_queue_text());
    }
    if (SSL_CTX_check_private_key(s.ctx) != 1) {
      throw ConfigError("ssl_key_file", "'" + target.key_file + "' does not match ssl_cert_file '" +
                                            target.cert_file + "'");
    }
  }
}

TlsContext::~TlsContext() = default;

std::unique_ptr<ByteStream> TlsContext::handshake(SocketHandle socket,
                                                  const WaitContext& wait) const {
  const State& s = *state_;
  ERR_clear_error();
  SSL* ssl = SSL_new(s.ctx);
  if (ssl == nullptr) throw TlsError("cannot create a TLS session: " + openssl_queue_text());
  auto bio_socket = std::make_unique<BioSocket>();
  bio_socket->fd = socket.get();
  BIO* bio = BIO_new(socket_bio_method());
  if (bio == nullptr) {
    SSL_free(ssl);
    throw TlsError("cannot create a TLS BIO: " + openssl_queue_text());
  }
  BIO_set_data(bio, bio_socket.get());
  SSL_set_bio(ssl, bio, bio);
  // From here the stream owns ssl (and through it the BIO).
  auto stream =
      std::make_unique<TlsStream>(std::move(socket), ssl, std::move(bio_socket), s.display);

  const bool ip = is_ip_address(s.server_name);
  if (!ip && !s.server_name.empty()) SSL_set_tlsext_host_name(ssl, s.server_name.c_str());
  if (s.reqs == SslCertReqs::required && !s.server_name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, s.server_name.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, s.server_name.c_str(), 0);
    if (ok != 1) throw TlsError("cannot verify against host name '" + s.server_name + "'");
  }
  stream->handshake(wait);
  return stream;
}

}  // namespace streamll::redis
