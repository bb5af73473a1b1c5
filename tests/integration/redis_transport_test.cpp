// The socket transport against real redis-server processes (started on free loopback ports).

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "eventually.hpp"
#include "redis/transport/transport.hpp"
#include "redis_server.hpp"
#include "tls_certs.hpp"

using namespace std::chrono_literals;
using streamll::AuthError;
using streamll::ClosedError;
using streamll::IoError;
using streamll::RedisConnectionOptions;
using streamll::ReplyError;
using streamll::SslCertReqs;
using streamll::TimeoutError;
using streamll::TlsError;
using streamll::redis::CommandBuffer;
using streamll::redis::make_socket_transport;
using streamll::redis::RedisReply;
using streamll::redis::ReplyType;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
using streamll::test::TlsCerts;
using streamll::testing::eventually;
using Clock = std::chrono::steady_clock;

namespace {

RedisConnectionOptions options_for(const std::string& url) {
  RedisConnectionOptions o;
  o.url = url;
  o.connect_timeout = 2s;
  o.socket_timeout = 2s;
  return o;
}

std::unique_ptr<streamll::redis::RedisTransport> connected(const RedisConnectionOptions& o) {
  auto t = make_socket_transport(o);
  t->connect();
  REQUIRE(t->is_connected());
  return t;
}

// Bytes that reached the server's end of a connection to 127.0.0.1:`port` and that it has not
// read (the receive queues of /proc/net/tcp): a request sent to a stopped server shows here.
std::size_t unread_by_server(int port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  std::size_t unread = 0;
  while (std::getline(table, line)) {
    // "  3: 0100007F:1A2B 0100007F:C350 01 00000000:0000000E ...": local address, remote
    // address, state (01: established), then the send and receive queues in hex.
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues;
    fields >> slot >> local >> remote >> state >> queues;
    const auto port_at = local.find(':');
    const auto receive_at = queues.find(':');
    if (state != "01" || port_at == std::string::npos || receive_at == std::string::npos) continue;
    if (std::stoi(local.substr(port_at + 1), nullptr, 16) != port) continue;
    unread += std::stoul(queues.substr(receive_at + 1), nullptr, 16);
  }
  return unread;
}

void require_pong(streamll::redis::RedisTransport& t) {
  const RedisReply reply = t.command({"PING"});
  REQUIRE(reply.is_status());
  CHECK(reply.text == "PONG");
}

template <typename Exception, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Exception& e) {
    return e.what();
  }
  FAIL("expected exception not thrown");
  return {};
}

long long elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

}  // namespace

TEST_CASE("transport: PING and a 1000-command pipeline in one execute", "[redis_transport]") {
  RedisServer server;
  auto t = connected(options_for(server.url()));
  require_pong(*t);

  CommandBuffer buffer;
  for (int i = 0; i < 1000; ++i) {
    const std::string payload = "{\"n\":" + std::to_string(i) + "}";
    buffer.begin_command(5).arg("XADD").arg("ml_events").arg("*").arg("event").arg(payload);
  }
  REQUIRE(buffer.command_count() == 1000);
  std::vector<RedisReply> replies;
  t->execute(buffer, replies);
  REQUIRE(replies.size() == 1000);
  for (const auto& r : replies) {
    REQUIRE(r.is_string());
    REQUIRE(r.text.find('-') != std::string::npos);  // a stream id "ms-seq"
  }
  CHECK(t->command({"XLEN", "ml_events"}).integer == 1000);

  // The buffer is reusable: clear() and the next batch goes out on the same connection.
  buffer.clear();
  buffer.append({"XLEN", "ml_events"})
      .append({"GET", "missing"})
      .begin_command(2)
      .arg("ECHO")
      .arg(42LL);
  t->execute(buffer, replies);
  REQUIRE(replies.size() == 3);
  CHECK(replies[0].integer == 1000);
  CHECK(replies[1].is_nil());
  CHECK(replies[2].text == "42");
  CHECK(server.cli({"CLIENT", "LIST"}).find("name=streamll") != std::string::npos);
}

TEST_CASE("transport: large values survive partial writes and reads", "[redis_transport]") {
  RedisServer server;
  auto t = connected(options_for(server.url()));
  const std::string big(3 * 1024 * 1024 + 17, 'x');
  CHECK(t->command({"SET", "big", big}).text == "OK");
  const RedisReply reply = t->command({"GET", "big"});
  CHECK(reply.text == big);
  const RedisReply nested = t->command({"XADD", "s", "*", "a", "1", "b", "2"});
  REQUIRE(nested.is_string());
  const RedisReply range = t->command({"XRANGE", "s", "-", "+"});
  REQUIRE(range.is_array());
  REQUIRE(range.elements.size() == 1);
  REQUIRE(range.elements[0].elements.size() == 2);
  CHECK(range.elements[0].elements[1].elements.size() == 4);
  CHECK(range.elements[0].elements[1].elements[3].text == "2");
}

TEST_CASE("transport: AUTH with a password, good and wrong", "[redis_transport]") {
  const std::string password = "correct-h0rse";
  RedisServerOptions server_options;
  server_options.requirepass = password;
  RedisServer server(server_options);

  auto good = options_for("redis://:" + password + "@127.0.0.1:" + std::to_string(server.port()));
  require_pong(*connected(good));

  auto via_token = options_for(server.url());
  via_token.auth_token = password;  // the cloud guides' name for the same thing
  require_pong(*connected(via_token));

  const std::string wrong_password = "Wr0ng-Secret-123";
  auto wrong = options_for(server.url());
  wrong.password = wrong_password;
  auto t = make_socket_transport(wrong);
  const std::string message = message_of<AuthError>([&] { t->connect(); });
  CHECK_THAT(message, Catch::Contains("WRONGPASS"));
  CHECK_THAT(message, Catch::Contains("'default'"));
  CHECK_THAT(message, !Catch::Contains(wrong_password));
  CHECK_FALSE(t->is_connected());

  // No password configured against a server that needs one: NOAUTH, reported as AuthError.
  auto none = make_socket_transport(options_for(server.url()));
  CHECK_THAT(message_of<AuthError>([&] { none->connect(); }),
             Catch::Contains("requires a password"));
}

TEST_CASE("transport: ACL users, and NOPERM comes back as an error reply", "[redis_transport]") {
  RedisServerOptions server_options;
  server_options.acl_users = {"writer on >writer-pw ~* &* +@all",
                              "reader on >reader-pw ~* &* +@all -xadd"};
  RedisServer server(server_options);

  auto writer = options_for(server.url());
  writer.username = "writer";
  writer.password = "writer-pw";
  auto w = connected(writer);
  CHECK(w->command({"ACL", "WHOAMI"}).text == "writer");
  CHECK(w->command({"XADD", "s", "*", "k", "v"}).is_string());

  auto r =
      connected(options_for("redis://reader:reader-pw@127.0.0.1:" + std::to_string(server.port())));
  CommandBuffer buffer;
  buffer.append({"XADD", "s", "*", "k", "v"})
      .append({"XLEN", "s"})
      .append({"XADD", "s", "*", "k", "v"});
  std::vector<RedisReply> replies;
  REQUIRE_NOTHROW(r->execute(buffer, replies));
  REQUIRE(replies.size() == 3);
  CHECK(replies[0].is_error());
  CHECK(replies[0].error_prefix() == "NOPERM");
  CHECK(replies[1].integer == 1);
  CHECK(replies[2].error_prefix() == "NOPERM");
  CHECK(r->is_connected());  // a refusal is not a transport failure

  auto bad_user = options_for(server.url());
  bad_user.username = "reader";
  bad_user.password = "nope-not-it";
  const std::string message =
      message_of<AuthError>([&] { make_socket_transport(bad_user)->connect(); });
  CHECK_THAT(message, Catch::Contains("'reader'"));
  CHECK_THAT(message, !Catch::Contains("nope-not-it"));
}

TEST_CASE("transport: SELECT from the URL, and a bad db is a ReplyError", "[redis_transport]") {
  RedisServer server;
  auto t = connected(options_for(server.url() + "/3"));
  CHECK(t->command({"SET", "where", "db3"}).text == "OK");
  CHECK(server.cli({"-n", "3", "GET", "where"}) == "db3");
  CHECK(server.cli({"-n", "0", "EXISTS", "where"}) == "0");

  auto explicit_db = options_for(server.url() + "/3");
  explicit_db.db = 5;  // the explicit field wins over the URL's /3
  connected(explicit_db)->command({"SET", "where", "db5"});
  CHECK(server.cli({"-n", "5", "GET", "where"}) == "db5");

  auto out_of_range = make_socket_transport(options_for(server.url() + "/99"));
  try {
    out_of_range->connect();
    FAIL("SELECT 99 accepted");
  } catch (const AuthError&) {
    FAIL("SELECT failure reported as an authentication failure");
  } catch (const ReplyError& e) {
    CHECK(e.prefix() == "ERR");
    CHECK_THAT(e.what(), Catch::Contains("SELECT 99"));
  }
  CHECK_FALSE(out_of_range->is_connected());
}

TEST_CASE("transport: unix socket", "[redis_transport]") {
  RedisServerOptions server_options;
  server_options.unix_socket = true;
  RedisServer server(server_options);
  auto t = connected(options_for(server.unix_url() + "?db=2"));
  require_pong(*t);
  t->command({"SET", "k", "unix"});
  CHECK(server.cli({"-n", "2", "GET", "k"}) == "unix");
}

TEST_CASE("transport: WRONGTYPE is an error reply among successes", "[redis_transport]") {
  RedisServer server;
  server.cli({"SET", "ml_events", "not a stream"});
  auto t = connected(options_for(server.url()));
  CommandBuffer buffer;
  buffer.append({"XADD", "ml_events", "*", "event", "{}"})
      .append({"XADD", "other", "*", "event", "{}"});
  const auto replies = t->execute(buffer);
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].type == ReplyType::error);
  CHECK(replies[0].error_prefix() == "WRONGTYPE");
  CHECK(replies[1].is_string());
  CHECK(t->is_connected());
  CHECK_THROWS_AS(streamll::redis::throw_if_error(replies[0], "XADD"), ReplyError);
}

TEST_CASE("transport: connection refused is a quick IoError", "[redis_transport]") {
  // A port that was free a moment ago and has nothing listening.
  int port = 0;
  {
    RedisServer server;
    port = server.port();
  }
  auto t = make_socket_transport(options_for("redis://127.0.0.1:" + std::to_string(port)));
  const auto start = Clock::now();
  try {
    t->connect();
    FAIL("connected to a dead port");
  } catch (const TimeoutError&) {
    FAIL("refused connection reported as a timeout");
  } catch (const IoError& e) {
    CHECK_THAT(e.what(), Catch::Contains("refused"));
  }
  CHECK(elapsed_ms(start) < 500);
  CHECK_THROWS_AS(t->command({"PING"}), ClosedError);  // not connected
}

TEST_CASE("transport: a SIGSTOPped server gives TimeoutError within the bound",
          "[redis_transport]") {
  RedisServer server;
  auto o = options_for(server.url());
  o.socket_timeout = 300ms;
  o.connect_timeout = 300ms;
  auto t = connected(o);
  server.sigstop();

  auto start = Clock::now();
  CHECK_THROWS_AS(t->command({"PING"}), TimeoutError);
  auto took = elapsed_ms(start);
  CHECK(took >= 290);
  CHECK(took < 300 + 250);
  CHECK_FALSE(t->is_connected());

  // Connecting to a stopped server: the kernel accepts TCP, the handshake never answers.
  start = Clock::now();
  CHECK_THROWS_AS(t->connect(), TimeoutError);
  took = elapsed_ms(start);
  CHECK(took < 300 + 250);

  server.sigcont();
  t->connect();
  require_pong(*t);
}

TEST_CASE("transport: interrupt() unblocks a waiting execute from another thread",
          "[redis_transport]") {
  RedisServer server;
  auto o = options_for(server.url());
  o.socket_timeout = 10s;
  auto t = connected(o);
  server.sigstop();
  bool ping_sent = false;
  std::thread interrupter([&] {
    // Interrupted once the PING waits, unread, at the stopped server: execute is waiting.
    ping_sent = eventually([&] { return unread_by_server(server.port()) > 0; });
    t->interrupt();
  });
  const auto start = Clock::now();
  CHECK_THROWS_AS(t->command({"PING"}), ClosedError);
  CHECK(elapsed_ms(start) < 2000);
  interrupter.join();
  CHECK(ping_sent);
  CHECK_THROWS_AS(t->connect(), ClosedError);  // sticky until cleared
  server.sigcont();
  t->clear_interrupt();
  t->connect();
  require_pong(*t);
}

TEST_CASE("transport: kill -9 mid-connection, then reconnect after restart", "[redis_transport]") {
  RedisServer server;
  auto t = connected(options_for(server.url()));
  require_pong(*t);
  server.kill9();

  // The first write may still be accepted by the kernel; the read then sees EOF or a reset.
  CHECK_THROWS_AS(t->command({"PING"}), IoError);
  CHECK_FALSE(t->is_connected());
  CHECK_THROWS_AS(t->connect(), IoError);  // nothing listening

  server.restart();
  t->connect();
  require_pong(*t);
  CHECK(t->command({"XADD", "s", "*", "k", "v"}).is_string());
}

TEST_CASE("transport: a large pipeline to a killed server fails without SIGPIPE",
          "[redis_transport]") {
  RedisServer server;
  auto t = connected(options_for(server.url()));
  server.kill9();
  CommandBuffer buffer;
  const std::string payload(64 * 1024, 'p');
  for (int i = 0; i < 64; ++i) buffer.append({"SET", "k", payload});
  // Writing 4 MB into a dead socket: EPIPE/ECONNRESET must surface as an exception.
  CHECK_THROWS_AS(t->execute(buffer), IoError);
}

TEST_CASE("transport: TLS with the test CA verifies and works", "[redis_transport]") {
  const TlsCerts& certs = TlsCerts::shared();
  RedisServerOptions server_options;
  server_options.tls = true;
  RedisServer server(server_options);

  auto o = options_for(server.tls_url());
  o.ssl_ca_file = certs.ca_cert;
  auto t = connected(o);
  require_pong(*t);
  const std::string big(1024 * 1024, 'y');
  CHECK(t->command({"SET", "big", big}).text == "OK");
  CHECK(t->command({"GET", "big"}).text == big);

  auto by_dir = options_for(server.tls_url());
  by_dir.ssl_ca_dir = certs.ca_dir;
  require_pong(*connected(by_dir));

  // ssl=true on a redis:// URL pointing at the TLS port, host name "localhost" via SNI.
  auto forced = options_for("redis://localhost:" + std::to_string(server.tls_port()));
  forced.ssl = true;
  forced.ssl_ca_file = certs.ca_cert;
  require_pong(*connected(forced));
}

TEST_CASE("transport: TLS verification failures are TlsErrors naming the reason",
          "[redis_transport]") {
  const TlsCerts& certs = TlsCerts::shared();
  RedisServerOptions server_options;
  server_options.tls = true;
  RedisServer server(server_options);

  auto wrong_ca = options_for(server.tls_url());
  wrong_ca.ssl_ca_file = certs.other_ca_cert;
  auto t = make_socket_transport(wrong_ca);
  const std::string message = message_of<TlsError>([&] { t->connect(); });
  CHECK_THAT(message, Catch::Contains("certificate verify failed"));
  // OpenSSL names the precise cause after the colon ("unable to get local issuer certificate",
  // or "self-signed certificate in certificate chain" when the server also sends its root).
  CHECK_THAT(message, Catch::Contains("certificate verify failed: ") &&
                          (Catch::Contains("local issuer") || Catch::Contains("self-signed")));
  CHECK_FALSE(t->is_connected());

  auto wrong_name = options_for(server.tls_url());
  wrong_name.ssl_ca_file = certs.ca_cert;
  wrong_name.ssl_server_name = "redis.example.com";
  CHECK_THAT(message_of<TlsError>([&] { make_socket_transport(wrong_name)->connect(); }),
             Catch::Contains("mismatch"));
  // optional: the chain is verified, the name is not.
  wrong_name.ssl_cert_reqs = SslCertReqs::optional;
  require_pong(*connected(wrong_name));

  // Plain RESP to a TLS port, and TLS to a plain port: clear failures, bounded.
  auto plain_to_tls = options_for("redis://127.0.0.1:" + std::to_string(server.tls_port()));
  plain_to_tls.connect_timeout = 500ms;
  CHECK_THROWS_AS(make_socket_transport(plain_to_tls)->connect(), IoError);
  auto tls_to_plain = options_for("rediss://127.0.0.1:" + std::to_string(server.port()));
  tls_to_plain.ssl_ca_file = certs.ca_cert;
  tls_to_plain.connect_timeout = 500ms;
  // The plain server reads the ClientHello as an unfinished inline command and stays silent.
  CHECK_THROWS_AS(make_socket_transport(tls_to_plain)->connect(), IoError);
}

TEST_CASE("transport: ssl_cert_reqs=none connects to a self-signed server", "[redis_transport]") {
  const TlsCerts& certs = TlsCerts::shared();
  RedisServerOptions server_options;
  server_options.tls = true;
  server_options.tls_cert_file = certs.self_signed_cert;
  server_options.tls_key_file = certs.self_signed_key;
  RedisServer server(server_options);

  auto o = options_for(server.tls_url());
  o.ssl_cert_reqs = SslCertReqs::none;
  require_pong(*connected(o));

  o.ssl_cert_reqs = SslCertReqs::required;
  o.ssl_ca_file = certs.ca_cert;
  CHECK_THROWS_AS(make_socket_transport(o)->connect(), TlsError);
}

TEST_CASE("transport: mutual TLS with a client certificate", "[redis_transport]") {
  const TlsCerts& certs = TlsCerts::shared();
  RedisServerOptions server_options;
  server_options.tls = true;
  server_options.tls_auth_clients = true;
  RedisServer server(server_options);

  auto o = options_for(server.tls_url());
  o.ssl_ca_file = certs.ca_cert;
  o.ssl_cert_file = certs.client_cert;
  o.ssl_key_file = certs.client_key;
  require_pong(*connected(o));

  // Without a client certificate the server refuses (during the handshake or at the first read).
  auto anonymous = options_for(server.tls_url());
  anonymous.ssl_ca_file = certs.ca_cert;
  auto t = make_socket_transport(anonymous);
  CHECK_THROWS_AS(t->connect(), IoError);
  CHECK_FALSE(t->is_connected());

  // A key that does not belong to the certificate is a configuration error.
  auto mismatched = o;
  mismatched.ssl_key_file = certs.server_key;
  CHECK_THROWS_AS(make_socket_transport(mismatched), streamll::ConfigError);
}

TEST_CASE("transport: OOM under maxmemory noeviction is an error reply", "[redis_transport]") {
  RedisServerOptions server_options;
  server_options.maxmemory = "100kb";  // below what an empty server already uses
  RedisServer server(server_options);
  auto t = connected(options_for(server.url()));
  CommandBuffer buffer;
  buffer.append({"XADD", "ml_events", "*", "event", "{}"}).append({"PING"});
  const auto replies = t->execute(buffer);
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].error_prefix() == "OOM");
  CHECK(replies[1].text == "PONG");
  CHECK(t->is_connected());
}

TEST_CASE("transport: a TLS pipeline to a killed server fails without SIGPIPE",
          "[redis_transport]") {
  RedisServerOptions server_options;
  server_options.tls = true;
  RedisServer server(server_options);
  auto o = options_for(server.tls_url());
  o.ssl_ca_file = TlsCerts::shared().ca_cert;
  auto t = connected(o);
  require_pong(*t);
  server.kill9();
  CommandBuffer buffer;
  const std::string payload(64 * 1024, 'p');
  for (int i = 0; i < 64; ++i) buffer.append({"SET", "k", payload});
  CHECK_THROWS_AS(t->execute(buffer), IoError);
  CHECK_FALSE(t->is_connected());
  server.restart();
  t->connect();
  require_pong(*t);
}
