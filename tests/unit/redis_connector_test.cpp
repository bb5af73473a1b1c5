// Where connections go, without servers: Sentinel replies and the resolver's order of asking,
// the ROLE check, the user's endpoint provider, and the cluster slot map's refresh, against a
// network of scripted fakes.

#include <catch2/catch.hpp>

#include "fake_network.hpp"
#include "redis/routing/connector.hpp"
#include "redis/routing/sentinel_resolver.hpp"
#include "streamll/errors.hpp"

using namespace std::chrono_literals;
using streamll::RedisEndpoint;
using streamll::redis::Connector;
using streamll::redis::RedisReply;
using streamll::testing::Command;
using streamll::testing::FakeConnection;
using streamll::testing::FakeNetwork;
using streamll::testing::local;
using streamll::testing::string_array;

namespace {

auto deadline() { return std::chrono::steady_clock::now() + 5s; }

streamll::redis::TransportMaker maker(FakeNetwork& net) {
  return [&net](const streamll::redis::ConnectionTarget& t) {
    return net.transport(RedisEndpoint{t.host, t.port, false});
  };
}

// A sentinel that names `master` for "mymaster".
FakeNetwork::Handler sentinel_naming(RedisEndpoint master) {
  return [master](const Command& c, FakeConnection&) {
    if (c.size() == 3 && c[0] == "SENTINEL" && c[1] == "get-master-addr-by-name") {
      if (c[2] != "mymaster") return RedisReply::make_nil();
      return string_array({master.host, std::to_string(master.port)});
    }
    return RedisReply::make_error("ERR unknown command");
  };
}

FakeNetwork::Handler server_with_role(std::string role) {
  return [role](const Command& c, FakeConnection&) {
    if (c[0] == "ROLE") return string_array({role});
    return RedisReply::make_status("OK");
  };
}

streamll::RedisConnectionOptions sentinel_options() {
  streamll::RedisConnectionOptions o;
  o.url = "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381/mymaster";
  return o;
}

}  // namespace

TEST_CASE("Sentinel replies: master address, unknown name, errors, ROLE", "[sentinel]") {
  using streamll::redis::parse_master_address;
  using streamll::redis::role_is_master;
  const auto master = parse_master_address(string_array({"10.0.0.5", "6380"}), "s");
  REQUIRE(master);
  CHECK(*master == RedisEndpoint{"10.0.0.5", 6380, true});
  CHECK(master->require_master);
  CHECK_FALSE(parse_master_address(RedisReply::make_nil(), "s"));
  CHECK_THROWS_AS(
      parse_master_address(RedisReply::make_error("NOAUTH Authentication required."), "s"),
      streamll::AuthError);
  CHECK_THROWS_AS(parse_master_address(string_array({"10.0.0.5", "0"}), "s"), streamll::IoError);
  CHECK_THROWS_AS(parse_master_address(string_array({"10.0.0.5", "x"}), "s"), streamll::IoError);
  CHECK_THROWS_AS(parse_master_address(string_array({"10.0.0.5"}), "s"), streamll::IoError);

  CHECK(role_is_master(string_array({"master"})));
  CHECK_FALSE(role_is_master(string_array({"slave"})));
  CHECK_FALSE(role_is_master(string_array({"sentinel"})));
  CHECK(role_is_master(RedisReply::make_error("NOPERM no ROLE for you")));  // cannot check: trust
}

TEST_CASE("SentinelResolver asks in turn and asks the one that answered first next time",
          "[sentinel]") {
  FakeNetwork net;
  const RedisEndpoint master = local(6379);
  // 26379 is down; 26380 does not know the master; 26381 answers.
  net.serve(local(26380), [](const Command&, FakeConnection&) { return RedisReply::make_nil(); });
  net.serve(local(26381), sentinel_naming(master));
  streamll::redis::SentinelResolver resolver(
      streamll::redis::resolve_connection(sentinel_options()), maker(net));

  CHECK(resolver.master(deadline()) == master);
  CHECK(net.connects(local(26380)) == 1);
  CHECK(net.connects(local(26381)) == 1);
  CHECK(resolver.master(deadline()) == master);
  CHECK(net.connects(local(26380)) == 1);  // not asked again: 26381 goes first now
  CHECK(net.connects(local(26381)) == 2);

  SECTION("none answers: one error naming each and why") {
    net.set_down(local(26381), true);
    try {
      resolver.master(deadline());
      FAIL("expected an IoError");
    } catch (const streamll::IoError& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("no sentinel named a master for 'mymaster'"));
      CHECK_THAT(what, Catch::Contains("127.0.0.1:26379: cannot connect"));
      CHECK_THAT(what, Catch::Contains("127.0.0.1:26380: does not know a master named 'mymaster'"));
      CHECK_THAT(what, Catch::Contains("127.0.0.1:26381"));
    }
  }
  SECTION("a deadline already past asks nobody") {
    const int before = net.connects(local(26381));
    CHECK_THROWS_AS(resolver.master(std::chrono::steady_clock::now() - 1s), streamll::IoError);
    CHECK(net.connects(local(26381)) == before);
  }
}

TEST_CASE("SentinelResolver talks to sentinels with the sentinel credentials", "[sentinel]") {
  auto o = sentinel_options();
  o.url = "redis+sentinel://:master-secret@127.0.0.1:26379/mymaster/2";
  o.sentinel_password = "sentinel-secret";
  const auto target = streamll::redis::resolve_connection(o);
  CHECK(target.password == "master-secret");
  CHECK(target.db == 2);
  CHECK(target.sentinel_password == "sentinel-secret");
  std::vector<std::string> seen_passwords;
  std::vector<bool> seen_db;
  streamll::redis::SentinelResolver resolver(
      target,
      [&](const streamll::redis::ConnectionTarget& t)
          -> std::unique_ptr<streamll::redis::RedisTransport> {
        seen_passwords.push_back(t.password);
        seen_db.push_back(t.db.has_value());
        throw streamll::IoError("refused");
      });
  CHECK_THROWS_AS(resolver.master(deadline()), streamll::IoError);
  CHECK(seen_passwords == std::vector<std::string>{"sentinel-secret"});
  CHECK(seen_db == std::vector<bool>{false});
}

TEST_CASE("Connector with Sentinel: connects to the named master, refuses a replica",
          "[sentinel]") {
  FakeNetwork net;
  net.serve(local(26379), sentinel_naming(local(6379)));
  net.serve(local(6379), server_with_role("master"));
  Connector connector(sentinel_options(), maker(net));
  auto t = connector.connect(deadline());
  CHECK(t->is_connected());
  CHECK(t->describe() == "127.0.0.1:6379");
  CHECK(net.count(local(6379), "ROLE") == 1);
  CHECK(connector.current_host() == "127.0.0.1");

  SECTION("the sentinel still names a server that is a replica now: the attempt fails") {
    net.serve(local(6379), server_with_role("slave"));
    CHECK_THROWS_WITH(connector.connect(deadline()),
                      Catch::Contains("is not a master (ROLE: slave)"));
    // After the failover the sentinels name the new master, and the next attempt goes there.
    net.serve(local(26379), sentinel_naming(local(6380)));
    net.serve(local(6380), server_with_role("master"));
    CHECK(connector.connect(deadline())->describe() == "127.0.0.1:6380");
  }
}

TEST_CASE("Connector with an endpoint provider: asked on every connect, told why",
          "[endpoint_provider]") {
  FakeNetwork net;
  net.serve(local(7000), server_with_role("master"));
  net.serve(local(7001), server_with_role("slave"));
  std::vector<streamll::EndpointRequest> requests;
  RedisEndpoint answer = local(7000);
  streamll::RedisConnectionOptions o;
  o.endpoint_provider = [&](const streamll::EndpointRequest& r) {
    requests.push_back(r);
    return answer;
  };
  Connector connector(o, maker(net));
  CHECK(connector.connect(deadline())->describe() == "127.0.0.1:7000");
  connector.connection_lost("connection reset by peer");
  CHECK(connector.connect(deadline())->describe() == "127.0.0.1:7000");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].attempt == 1);
  CHECK(requests[0].previous_error.empty());
  CHECK(requests[1].attempt == 2);
  CHECK(requests[1].previous_error == "connection reset by peer");
  CHECK(net.count(local(7000), "ROLE") == 0);  // not asked for

  SECTION("require_master makes the connector check ROLE") {
    answer = RedisEndpoint{"127.0.0.1", 7001, true};
    CHECK_THROWS_WITH(connector.connect(deadline()), Catch::Contains("not a master"));
  }
  SECTION("a provider that throws fails the attempt with its reason") {
    o.endpoint_provider = [](const streamll::EndpointRequest&) -> RedisEndpoint {
      throw std::runtime_error("discovery service unavailable");
    };
    Connector failing(o, maker(net));
    CHECK_THROWS_WITH(failing.connect(deadline()), "discovery service unavailable");
  }
  SECTION("an empty answer is an error, not a connection to nowhere") {
    answer = RedisEndpoint{"", 7000, false};
    CHECK_THROWS_WITH(connector.connect(deadline()), Catch::Contains("no host"));
  }
}

TEST_CASE("Connector with Cluster: learns the slot map, follows MOVED, refreshes after a failure",
          "[cluster]") {
  FakeNetwork net;
  // Two masters: 7000 has slots 0..8191, 7001 has 8192..16383.
  int refreshes = 0;
  auto slots = [&](const Command& c, FakeConnection&) {
    if (c[0] == "CLUSTER" && c[1] == "SLOTS") {
      ++refreshes;
      const auto entry = [](long long first, long long last, long long port) {
        return RedisReply::make_array({RedisReply::make_integer(first),
                                       RedisReply::make_integer(last),
                                       RedisReply::make_array({RedisReply::make_string("127.0.0.1"),
                                                               RedisReply::make_integer(port)})});
      };
      return RedisReply::make_array({entry(0, 8191, 7000), entry(8192, 16383, 7001)});
    }
    return RedisReply::make_status("OK");
  };
  net.serve(local(7000), slots);
  net.serve(local(7001), slots);
  streamll::RedisConnectionOptions o;
  o.url = "redis+cluster://127.0.0.1:7001";
  Connector connector(o, maker(net));

  CHECK(connector.connect(deadline(), 100)->describe() == "127.0.0.1:7000");
  CHECK(refreshes == 1);
  CHECK(connector.connect(deadline(), 9000)->describe() == "127.0.0.1:7001");
  CHECK(refreshes == 1);  // the map is reused

  // MOVED: slot 100 is now 7001's; the next connect for it goes there without a refresh.
  connector.moved({streamll::redis::Redirect::Kind::moved, 100, local(7001)});
  CHECK(connector.connect(deadline(), 100)->describe() == "127.0.0.1:7001");
  CHECK(refreshes == 1);

  // A lost connection: the map is refreshed, the MOVED target asked first.
  connector.connection_lost("reset");
  CHECK(connector.connect(deadline(), 100)->describe() == "127.0.0.1:7000");
  CHECK(refreshes == 2);

  SECTION("the seed down: another known master answers") {
    connector.connection_lost("reset");
    net.set_down(local(7001), true);
    CHECK(connector.connect(deadline(), 100)->describe() == "127.0.0.1:7000");
  }
  SECTION("nobody answers: an error naming each node") {
    connector.connection_lost("reset");
    net.set_down(local(7000), true);
    net.set_down(local(7001), true);
    CHECK_THROWS_WITH(connector.connect(deadline(), 100),
                      Catch::Contains("could not learn the cluster's slot map") &&
                          Catch::Contains("127.0.0.1:7000") && Catch::Contains("127.0.0.1:7001"));
  }
}

TEST_CASE("Connector: interrupt() fails connects at once until cleared", "[sentinel]") {
  FakeNetwork net;
  net.serve(local(26379), sentinel_naming(local(6379)));
  net.serve(local(6379), server_with_role("master"));
  Connector connector(sentinel_options(), maker(net));
  connector.interrupt();
  CHECK_THROWS_AS(connector.connect(deadline()), streamll::ClosedError);
  CHECK(net.connects(local(26379)) == 0);
  connector.clear_interrupt();
  CHECK(connector.connect(deadline())->is_connected());
}
