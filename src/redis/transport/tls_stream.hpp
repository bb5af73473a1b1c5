#pragma once
// Internal: TLS over a connected nonblocking socket with OpenSSL 3.
//
// Verification per SslCertReqs: none = SSL_VERIFY_NONE; optional = SSL_VERIFY_PEER against the
// configured (or system) CAs, no host name check; required = SSL_VERIFY_PEER plus the host name
// (or IP address) check against ssl_server_name / the URL's host. SNI is sent for DNS names.
// The socket is driven through our own BIO whose writes use send(MSG_NOSIGNAL), so a peer that
// vanished mid-write yields an error, never SIGPIPE.

#include <memory>
#include <string>

#include "redis/transport/byte_stream.hpp"

namespace streamll::redis {

/// Certificates and verification settings, loaded once per transport (SSL_CTX). Immutable after
/// construction and shared by the connections it makes.
class TlsContext {
 public:
  /// Loads CA file/dir (or the system defaults), the client certificate and key. Throws
  /// ConfigError naming the option when a file cannot be loaded.
  explicit TlsContext(const ConnectionTarget& target);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Runs the TLS handshake on `socket` before the deadline. Throws TlsError naming the reason
  /// ("certificate verify failed: ..."), TimeoutError, ClosedError (interrupted or EOF).
  std::unique_ptr<ByteStream> handshake(SocketHandle socket, const WaitContext& wait) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace streamll::redis
