// Redis Cluster routing without a cluster: CRC16 and hash slots (hash tags included), CLUSTER
// SLOTS parsing, MOVED/ASK parsing, the slot map.

#include <catch2/catch.hpp>

#include "redis/routing/cluster_slots.hpp"
#include "streamll/redis/errors.hpp"

using streamll::RedisEndpoint;
using streamll::redis::ClusterSlotMap;
using streamll::redis::crc16;
using streamll::redis::key_slot;
using streamll::redis::parse_cluster_slots;
using streamll::redis::parse_redirect;
using streamll::redis::Redirect;
using streamll::redis::RedisReply;

namespace {

RedisReply node(const char* host, long long port, const char* id = "id") {
  std::vector<RedisReply> e;
  e.push_back(host ? RedisReply::make_string(host) : RedisReply::make_nil());
  e.push_back(RedisReply::make_integer(port));
  e.push_back(RedisReply::make_string(id));
  return RedisReply::make_array(std::move(e));
}

RedisReply range(long long first, long long last, RedisReply master) {
  return RedisReply::make_array({RedisReply::make_integer(first), RedisReply::make_integer(last),
                                 std::move(master), node("127.0.0.1", 9999, "replica")});
}

}  // namespace

TEST_CASE("crc16 is CRC16-CCITT (XMODEM), the cluster specification's checksum", "[cluster]") {
  CHECK(crc16("123456789") == 0x31C3);  // the specification's test vector
  CHECK(crc16("") == 0);
}

TEST_CASE("key_slot: CRC16 mod 16384, or of the hash tag", "[cluster]") {
  // Values redis-cli's CLUSTER KEYSLOT gives.
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("bar") == 5061);
  CHECK(key_slot("ml_events") == key_slot("ml_events"));
  SECTION("the first {...} with something inside decides") {
    CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
    CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
    CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
    CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
    CHECK(key_slot("{tenant}ml_events_shard_0") == key_slot("{tenant}ml_events_shard_7"));
  }
  SECTION("an empty or unclosed tag hashes the whole key") {
    CHECK(key_slot("foo{}{bar}") == crc16("foo{}{bar}") % 16384);
    CHECK(key_slot("foo{bar") == crc16("foo{bar") % 16384);
    CHECK(key_slot("}foo{") == crc16("}foo{") % 16384);
  }
}

TEST_CASE("parse_redirect reads MOVED and ASK", "[cluster]") {
  const auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381", "10.0.0.1");
  REQUIRE(moved);
  CHECK(moved->kind == Redirect::Kind::moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->to == RedisEndpoint{"127.0.0.1", 6381, false});

  const auto ask = parse_redirect("ASK 12182 node-3.cache:7000", "10.0.0.1");
  REQUIRE(ask);
  CHECK(ask->kind == Redirect::Kind::ask);
  CHECK(ask->slot == 12182);
  CHECK(ask->to == RedisEndpoint{"node-3.cache", 7000, false});

  SECTION("no host: the node that answered, with the port given (Redis 7, unknown endpoint)") {
    const auto r = parse_redirect("MOVED 1 :7002", "10.0.0.1");
    REQUIRE(r);
    CHECK(r->to == RedisEndpoint{"10.0.0.1", 7002, false});
  }
  SECTION("IPv6, with or without brackets") {
    CHECK(parse_redirect("MOVED 1 ::1:7002", "h")->to == RedisEndpoint{"::1", 7002, false});
    CHECK(parse_redirect("MOVED 1 [::1]:7002", "h")->to == RedisEndpoint{"::1", 7002, false});
  }
  SECTION("anything else is not a redirection") {
    CHECK_FALSE(parse_redirect("WRONGTYPE Operation against a key", "h"));
    CHECK_FALSE(parse_redirect("MOVED", "h"));
    CHECK_FALSE(parse_redirect("MOVED 16384 127.0.0.1:1", "h"));  // no such slot
    CHECK_FALSE(parse_redirect("MOVED x 127.0.0.1:1", "h"));
    CHECK_FALSE(parse_redirect("MOVED 1 127.0.0.1", "h"));
    CHECK_FALSE(parse_redirect("MOVED 1 127.0.0.1:0", "h"));
    CHECK_FALSE(parse_redirect("MOVED 1 127.0.0.1:70000", "h"));
    CHECK_FALSE(parse_redirect("ASKING", "h"));
  }
}

TEST_CASE("parse_cluster_slots reads each range's master", "[cluster]") {
  const RedisReply reply = RedisReply::make_array(
      {range(0, 5460, node("10.0.0.1", 7000)), range(5461, 10922, node(nullptr, 7001)),
       range(10923, 16383, node("?", 7002)), range(0, 0, node("", 7003))});
  const auto ranges = parse_cluster_slots(reply, "seed.example");
  REQUIRE(ranges.size() == 4);
  CHECK(ranges[0].first == 0);
  CHECK(ranges[0].last == 5460);
  CHECK(ranges[0].master == RedisEndpoint{"10.0.0.1", 7000, false});
  // NULL, "?" and "": the endpoint is unknown to the cluster: the host that was asked.
  CHECK(ranges[1].master == RedisEndpoint{"seed.example", 7001, false});
  CHECK(ranges[2].master == RedisEndpoint{"seed.example", 7002, false});
  CHECK(ranges[3].master == RedisEndpoint{"seed.example", 7003, false});

  SECTION("an error reply is a ReplyError, a strange shape an IoError") {
    CHECK_THROWS_AS(
        parse_cluster_slots(
            RedisReply::make_error("ERR This instance has cluster support disabled"), "h"),
        streamll::ReplyError);
    CHECK_THROWS_AS(parse_cluster_slots(RedisReply::make_integer(1), "h"), streamll::IoError);
    CHECK_THROWS_AS(parse_cluster_slots(RedisReply::make_array({RedisReply::make_integer(1)}), "h"),
                    streamll::IoError);
    CHECK_THROWS_AS(parse_cluster_slots(RedisReply::make_array({range(5, 4, node("h", 1))}), "h"),
                    streamll::IoError);
    CHECK_THROWS_AS(
        parse_cluster_slots(RedisReply::make_array({range(0, 16384, node("h", 1))}), "h"),
        streamll::IoError);
    CHECK_THROWS_AS(parse_cluster_slots(RedisReply::make_array({range(0, 1, node("h", 0))}), "h"),
                    streamll::IoError);
  }
}

TEST_CASE("ClusterSlotMap: owners by slot, corrected one slot at a time", "[cluster]") {
  ClusterSlotMap map;
  CHECK(map.empty());
  CHECK_FALSE(map.owner(0));
  const RedisEndpoint a{"a", 1, false}, b{"b", 2, false}, c{"c", 3, false};
  map.assign({{0, 8191, a}, {8192, 16000, b}});
  CHECK(map.owner(0) == a);
  CHECK(map.owner(8191) == a);
  CHECK(map.owner(8192) == b);
  CHECK_FALSE(map.owner(16001));  // not covered
  CHECK_FALSE(map.owner(16384));  // out of range
  CHECK(map.masters() == std::vector<RedisEndpoint>{a, b});

  map.assign(100, c);  // MOVED 100 c
  CHECK(map.owner(100) == c);
  CHECK(map.owner(101) == a);
  CHECK(map.masters().size() == 3);

  map.assign({{0, 16383, b}});  // a refresh replaces everything
  CHECK(map.owner(100) == b);
  CHECK(map.masters() == std::vector<RedisEndpoint>{b});
}
