// RedisSink over TLS (rediss://) to a redis-server with a TLS port and certificates made with
// openssl at test time: verification that works, verification that fails clearly (and opens
// the breaker), ssl_cert_reqs none/optional, mutual TLS.

#include <catch2/catch.hpp>

#include <thread>

#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"
#include "tls_certs.hpp"

using namespace std::chrono_literals;
using streamll::BreakerState;
using streamll::RedisSink;
using streamll::SslCertReqs;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
using streamll::test::TlsCerts;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;
using SteadyClock = std::chrono::steady_clock;

namespace {

RedisServerOptions tls_server_options() {
  RedisServerOptions o;
  o.tls = true;
  return o;
}

// Sends ten events and checks, on the plain port, that exactly they arrived.
void require_delivers(RedisSink& sink, RedisServer& server) {
  for (int i = 0; i < 10; ++i) sink.handle(sinkit::numbered_event(0, i));
  INFO("last_error: " << sink.stats().last_error);
  REQUIRE(sink.flush(5s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 10));
}

// The handshake keeps failing: the breaker opens and nothing is delivered. Returns last_error.
std::string require_refused(RedisSink& sink) {
  for (int i = 0; i < 10; ++i) sink.handle(sinkit::numbered_event(0, i));
  REQUIRE(eventually([&] { return sink.circuit_breaker().state == BreakerState::open; }));
  const auto stats = sink.stats();
  CHECK(stats.delivered == 0);
  CHECK(stats.transport_errors >= 2);
  CHECK_FALSE(stats.connected);
  CHECK(sink.buffered() == 10);
  return stats.last_error;
}

}  // namespace

TEST_CASE("RedisSink over rediss:// verifies the server against ssl_ca_file and delivers",
          "[redis_sink_it][tls]") {
  const TlsCerts& certs = TlsCerts::shared();
  RedisServer server(tls_server_options());
  auto options = sinkit::fast_options(server.tls_url());
  options.connection.ssl_ca_file = certs.ca_cert;
  REQUIRE(options.connection.ssl_cert_reqs ==
          SslCertReqs::required);  // the default: chain and host name

  SECTION("host name from the URL (an IP in the certificate's subjectAltName)") {
    RedisSink sink(options);
    require_delivers(sink, server);
  }
  SECTION("host name from ssl_server_name") {
    options.connection.ssl_server_name = "localhost";
    RedisSink sink(options);
    require_delivers(sink, server);
  }
  SECTION("ssl=true on a redis:// URL") {
    options.connection.url = "redis://127.0.0.1:" + std::to_string(server.tls_port());
    options.connection.ssl = true;
    RedisSink sink(options);
    require_delivers(sink, server);
  }
}

TEST_CASE(
    "RedisSink over TLS with the wrong CA fails clearly and opens the breaker unless "
    "ssl_cert_reqs=none",
    "[redis_sink_it][tls]") {
  const TlsCerts& certs = TlsCerts::shared();
  RedisServer server(tls_server_options());
  auto options = sinkit::fast_options(server.tls_url());
  options.connection.ssl_ca_file = certs.other_ca_cert;

  SECTION("required") {
    RedisSink sink(options);
    const std::string error = require_refused(sink);
    INFO("last_error: " << error);
    CHECK(error.find("TLS") != std::string::npos);
    CHECK(error.find("verify failed") != std::string::npos);
  }
  SECTION("optional still checks the chain") {
    options.connection.ssl_cert_reqs = SslCertReqs::optional;
    RedisSink sink(options);
    const std::string error = require_refused(sink);
    INFO("last_error: " << error);
    CHECK(error.find("verify failed") != std::string::npos);
  }
  SECTION("none") {
    options.connection.ssl_cert_reqs = SslCertReqs::none;
    RedisSink sink(options);
    require_delivers(sink, server);
  }
}

TEST_CASE("RedisSink over TLS checks the host name unless ssl_cert_reqs=optional",
          "[redis_sink_it][tls]") {
  RedisServer server(tls_server_options());
  auto options = sinkit::fast_options(server.tls_url());
  options.connection.ssl_ca_file = TlsCerts::shared().ca_cert;
  options.connection.ssl_server_name = "redis.example.com";  // not in the certificate

  SECTION("required refuses a certificate for another name") {
    RedisSink sink(options);
    const std::string error = require_refused(sink);
    INFO("last_error: " << error);
    CHECK(error.find("hostname mismatch") != std::string::npos);
  }
  SECTION("optional accepts it: the chain is good") {
    options.connection.ssl_cert_reqs = SslCertReqs::optional;
    RedisSink sink(options);
    require_delivers(sink, server);
  }
}

TEST_CASE("RedisSink presents a client certificate to a server that requires one",
          "[redis_sink_it][tls]") {
  const TlsCerts& certs = TlsCerts::shared();
  auto server_options = tls_server_options();
  server_options.tls_auth_clients = true;
  RedisServer server(server_options);
  auto options = sinkit::fast_options(server.tls_url());
  options.connection.ssl_ca_file = certs.ca_cert;

  SECTION("with ssl_cert_file and ssl_key_file") {
    options.connection.ssl_cert_file = certs.client_cert;
    options.connection.ssl_key_file = certs.client_key;
    RedisSink sink(options);
    require_delivers(sink, server);
  }
  SECTION("without: refused, breaker open") {
    RedisSink sink(options);
    const std::string error = require_refused(sink);
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("RedisSink takes its TLS settings from the environment", "[redis_sink_it][tls]") {
  RedisServer server(tls_server_options());
  const auto options = streamll::RedisSinkOptions::from_env(sinkit::env_from({
      {"REDIS_URL", server.tls_url()},
      {"REDIS_SSL_CA_FILE", TlsCerts::shared().ca_cert},
      {"REDIS_SSL_SERVER_NAME", "localhost"},
      {"REDIS_SSL_CERT_REQS", "required"},
      {"REDIS_CONNECT_TIMEOUT_MS", "500"},
      {"REDIS_SOCKET_TIMEOUT_MS", "500"},
  }));
  CHECK(options.connection.ssl_server_name == "localhost");
  RedisSink sink(options);
  require_delivers(sink, server);
}

TEST_CASE(
    "RedisSink takes REDIS_SSL, the CA directory and the client certificate from the environment",
    "[redis_sink_it][tls]") {
  const TlsCerts& certs = TlsCerts::shared();
  auto server_options = tls_server_options();
  server_options.tls_auth_clients = true;  // mutual TLS: the client files must really be used
  RedisServer server(server_options);
  // A plain redis:// URL to the TLS port: REDIS_SSL=true is what turns TLS on.
  const auto options = streamll::RedisSinkOptions::from_env(sinkit::env_from({
      {"REDIS_URL", "redis://127.0.0.1:" + std::to_string(server.tls_port())},
      {"REDIS_SSL", "true"},
      {"REDIS_SSL_CA_DIR", certs.ca_dir},
      {"REDIS_SSL_CERT_FILE", certs.client_cert},
      {"REDIS_SSL_KEY_FILE", certs.client_key},
      {"REDIS_SSL_SERVER_NAME", "localhost"},
      {"REDIS_MAX_CONNECTIONS", "1"},
      {"REDIS_CONNECT_TIMEOUT_MS", "500"},
      {"REDIS_SOCKET_TIMEOUT_MS", "500"},
  }));
  CHECK(options.connection.max_connections == 1);  // the only value accepted
  RedisSink sink(options);
  require_delivers(sink, server);
  DirectRedis redis = DirectRedis::tcp(server.port());
  // One connection from the sink (besides this readback).
  const std::string clients = redis.text({"CLIENT", "LIST"});
  std::size_t connections = 0;
  for (std::size_t at = clients.find("name=streamll"); at != std::string::npos;
       at = clients.find("name=streamll", at + 1)) {
    ++connections;
  }
  CHECK(connections == 1);
}
