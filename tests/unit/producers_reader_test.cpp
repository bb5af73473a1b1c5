// list_producers() on fake servers holding heartbeat keys: a member whose hash is gone is
// reported as stopped reporting and left in the index (readers write nothing), the index is
// read latest expiry first and a cut is reported, a heartbeat far older than its TTL counts as
// gone, and a shard that fails halfway contributes nothing. producer_problems() for a producer
// that stopped reporting, at the window's edge.

#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fake_stream_redis.hpp"
#include "manual_clock.hpp"
#include "redis/analytics/producers_internal.hpp"
#include "streamll/redis/heartbeats.hpp"
#include "streamll/redis/producers.hpp"

using namespace std::chrono_literals;
using streamll::testing::Command;
using streamll::testing::FakeStreamRedis;
using streamll::testing::FakeStreamTransport;
using streamll::testing::ManualClock;
using R = streamll::redis::RedisReply;

namespace {

constexpr std::int64_t kNow = 1'800'000'000'123;  // the servers' TIME, Unix ms

// The heartbeat keys of one server: the index (member -> score) and the hashes, answering
// TIME, ZREVRANGE ... WITHSCORES, ZRANGE, HGETALL and ZREM as Redis does.
struct HeartbeatKeys {
  std::string stream = "ml_events";
  std::map<std::string, double> index;
  std::map<std::string, std::map<std::string, std::string>> hashes;  // by id
  std::string hgetall_error_for;                                     // this id's HGETALL is refused

  void live(const std::string& id, std::int64_t updated_at, std::int64_t ttl_ms = 15000) {
    hashes[id] = {{"id", id},
                  {"service", "svc"},
                  {"host", "h"},
                  {"pid", "1"},
                  {"updated_at", std::to_string(updated_at)},
                  {"ttl_ms", std::to_string(ttl_ms)}};
    index[id] = static_cast<double>(updated_at + ttl_ms);
  }

  std::optional<R> answer(const Command& c) {
    if (c[0] == "TIME") {
      return R::make_array({R::make_string(std::to_string(kNow / 1000)),
                            R::make_string(std::to_string(kNow % 1000 * 1000))});
    }
    if (c[0] == "ZREVRANGE" || c[0] == "ZRANGE") {
      CHECK(c[1] == streamll::producers_index_key(stream));
      std::vector<std::pair<double, std::string>> members;
      for (const auto& [id, score] : index) members.emplace_back(score, id);
      std::sort(members.begin(), members.end());
      if (c[0] == "ZREVRANGE") std::reverse(members.begin(), members.end());
      const auto first = static_cast<std::size_t>(std::stoll(c[2]));
      const auto last = static_cast<std::size_t>(std::stoll(c[3]));
      const bool scores = c.size() > 4 && c[4] == "WITHSCORES";
      std::vector<R> out;
      for (std::size_t i = first; i <= last && i < members.size(); ++i) {
        out.push_back(R::make_string(members[i].second));
        if (scores) out.push_back(R::make_string(std::to_string(members[i].first)));
      }
      return R::make_array(std::move(out));
    }
    if (c[0] == "HGETALL") {
      const std::string prefix = streamll::producer_heartbeat_key(stream, "");
      REQUIRE(c[1].compare(0, prefix.size(), prefix) == 0);
      const std::string id = c[1].substr(prefix.size());
      if (id == hgetall_error_for) return R::make_error("NOPERM no permissions to access a key");
      std::vector<R> out;
      const auto it = hashes.find(id);
      if (it != hashes.end()) {
        for (const auto& [k, v] : it->second) {
          out.push_back(R::make_string(k));
          out.push_back(R::make_string(v));
        }
      }
      return R::make_array(std::move(out));
    }
    if (c[0] == "ZREM") {
      long long n = 0;
      for (std::size_t i = 2; i < c.size(); ++i) n += static_cast<long long>(index.erase(c[i]));
      return R::make_integer(n);
    }
    return std::nullopt;
  }
};

struct Servers {
  explicit Servers(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(std::make_shared<HeartbeatKeys>());
      if (n > 1) keys.back()->stream = "ml_events_shard_" + std::to_string(i);
      redis.push_back(std::make_shared<FakeStreamRedis>(clock, keys.back()->stream));
      redis.back()->set_override([k = keys.back()](const Command& c) { return k->answer(c); });
    }
    source.stream = "ml_events";
    source.shard_count = n > 1 ? n : 0;
  }
  streamll::ProducersReport list(std::size_t cap = streamll::redis::kMaxProducersPerShard) {
    return streamll::redis::list_producers(
        source,
        [this](std::size_t shard) {
          return streamll::redis::TransportMaker([this, shard](const auto&) {
            return std::make_unique<FakeStreamTransport>(redis.at(shard));
          });
        },
        cap);
  }
  std::set<std::string> command_names(std::size_t shard) const {
    std::set<std::string> out;
    for (const auto& c : redis.at(shard)->commands()) out.insert(c[0]);
    return out;
  }
  ManualClock clock;
  std::vector<std::shared_ptr<HeartbeatKeys>> keys;
  std::vector<std::shared_ptr<FakeStreamRedis>> redis;
  streamll::ShardedStream source;
};

std::vector<std::string> ids(const streamll::ProducersReport& r) {
  std::vector<std::string> out;
  for (const auto& p : r.producers) out.push_back(p.id);
  return out;
}
std::vector<std::string> gone_ids(const streamll::ProducersReport& r) {
  std::vector<std::string> out;
  for (const auto& p : r.gone) out.push_back(p.id);
  return out;
}

}  // namespace

TEST_CASE("a member whose heartbeat is gone is reported and left in the index",
          "[producers][heartbeat]") {
  Servers s(1);
  auto& k = *s.keys[0];
  k.live("h:1:1", kNow - 1000);
  k.index["h:2:1"] = static_cast<double>(kNow - 5000);  // its hash expired 5 s ago
  k.index["h:3:1"] = static_cast<double>(kNow - 90000);

  const auto report = s.list();
  CHECK(report.complete());
  CHECK(ids(report) == std::vector<std::string>{"h:1:1"});
  // The latest expiry first.
  REQUIRE(gone_ids(report) == std::vector<std::string>{"h:2:1", "h:3:1"});
  CHECK(report.gone[0].expired_at_ms == kNow - 5000);
  CHECK(report.gone[0].stream == "ml_events");
  CHECK(report.gone[0].shard == 0);
  CHECK(report.gone[1].expired_at_ms == kNow - 90000);
  CHECK_FALSE(report.truncated);
  CHECK(report.server_time_ms == kNow);
  // Read-only: nothing removed, nothing but reads sent.
  CHECK(k.index.size() == 3);
  CHECK(s.command_names(0) == std::set<std::string>{"TIME", "ZREVRANGE", "HGETALL"});
}

TEST_CASE("the index is read latest expiry first and a cut is reported", "[producers][heartbeat]") {
  constexpr std::size_t cap = 3;
  // Members expiring at kNow - 1000 * i: i = 0 is the latest. Even i have a hash (live).
  auto fill = [](HeartbeatKeys& k, std::size_t members) {
    for (std::size_t i = 0; i < members; ++i) {
      const std::string id = "p" + std::to_string(i);
      const auto expiry = kNow - 1000 * static_cast<std::int64_t>(i);
      if (i % 2 == 0) {
        k.live(id, expiry - 15000);
      } else {
        k.index[id] = static_cast<double>(expiry);
      }
    }
  };
  SECTION("one under the cap") {
    Servers s(1);
    fill(*s.keys[0], cap - 1);
    const auto r = s.list(cap);
    CHECK_FALSE(r.truncated);
    CHECK(ids(r) == std::vector<std::string>{"p0"});
    CHECK(gone_ids(r) == std::vector<std::string>{"p1"});
  }
  SECTION("at the cap") {
    Servers s(1);
    fill(*s.keys[0], cap);
    const auto r = s.list(cap);
    CHECK_FALSE(r.truncated);
    CHECK(ids(r) == std::vector<std::string>{"p0", "p2"});
    CHECK(gone_ids(r) == std::vector<std::string>{"p1"});
  }
  SECTION("one over the cap: the stalest is left out") {
    Servers s(1);
    fill(*s.keys[0], cap + 1);
    const auto r = s.list(cap);
    CHECK(r.truncated);
    CHECK(ids(r) == std::vector<std::string>{"p0", "p2"});
    CHECK(gone_ids(r) == std::vector<std::string>{"p1"});
    // Asked for one more than the cap, from the top.
    const auto cmds = s.redis[0]->commands();
    const auto range = std::find_if(cmds.begin(), cmds.end(),
                                    [](const Command& c) { return c[0] == "ZREVRANGE"; });
    REQUIRE(range != cmds.end());
    CHECK(*range == Command{"ZREVRANGE", "{ml_events}:producers", "0", "3", "WITHSCORES"});
  }
  SECTION("the live ones kept when stale ones crowd the index") {
    Servers s(1);
    auto& k = *s.keys[0];
    for (int i = 0; i < 5; ++i) k.index["old" + std::to_string(i)] = static_cast<double>(1000 + i);
    k.live("fresh", kNow - 100);
    const auto r = s.list(cap);
    CHECK(r.truncated);
    CHECK(ids(r) == std::vector<std::string>{"fresh"});
    CHECK(gone_ids(r) == std::vector<std::string>{"old4", "old3"});
  }
}

TEST_CASE("a heartbeat more than two TTLs old counts as gone", "[producers][heartbeat]") {
  Servers s(1);
  auto& k = *s.keys[0];
  k.live("edge", kNow - 30000);      // exactly 2 x ttl: live
  k.live("stale", kNow - 30001);     // a hash that lost its TTL
  k.live("no_ttl", kNow - 3600000);  // no ttl_ms to judge by: trusted
  k.hashes["no_ttl"].erase("ttl_ms");
  const auto r = s.list();
  CHECK(ids(r) == std::vector<std::string>{"edge", "no_ttl"});
  REQUIRE(gone_ids(r) == std::vector<std::string>{"stale"});
  CHECK(r.gone[0].expired_at_ms == kNow - 30001 + 15000);  // its index score
}

TEST_CASE("out-of-range scores and fields are bounded", "[producers][heartbeat]") {
  Servers s(1);
  auto& k = *s.keys[0];
  k.index["inf"] = std::numeric_limits<double>::infinity();
  k.index["minus_inf"] = -std::numeric_limits<double>::infinity();
  k.live("odd", kNow);
  k.hashes["odd"]["ttl_ms"] = "9223372036854775807";
  k.hashes["odd"]["updated_at"] = "-9223372036854775807";
  const auto r = s.list();
  CHECK(ids(r) == std::vector<std::string>{"odd"});  // not judged: its fields are out of range
  REQUIRE(gone_ids(r) == std::vector<std::string>{"inf", "minus_inf"});
  CHECK(r.gone[0].expired_at_ms == std::int64_t(1) << 53);
  CHECK(r.gone[1].expired_at_ms == 0);
  CHECK(streamll::producer_problems(r.gone[0], kNow, 60s).size() == 1);
  CHECK(streamll::producer_problems(r.gone[1], kNow, 60s).empty());
}

TEST_CASE("a shard that fails halfway contributes nothing", "[producers][heartbeat]") {
  Servers s(2);
  s.keys[0]->live("a:1:1", kNow - 1000);
  s.keys[1]->live("b:1:1", kNow - 1000);
  s.keys[1]->live("b:2:1", kNow - 2000);
  s.keys[1]->index["b:3:1"] = static_cast<double>(kNow - 500);
  s.keys[1]->hgetall_error_for = "b:2:1";  // read after b:1:1 (latest expiry first)
  const auto r = s.list();
  CHECK_FALSE(r.complete());
  REQUIRE(r.shards.size() == 2);
  CHECK(r.shards[0].ok);
  CHECK_FALSE(r.shards[1].ok);
  CHECK_THAT(r.shards[1].error, Catch::Contains("NOPERM"));
  CHECK(ids(r) == std::vector<std::string>{"a:1:1"});
  CHECK(r.gone.empty());
}

TEST_CASE("a producer that stopped reporting is a problem within the window",
          "[producers][heartbeat]") {
  streamll::GoneProducer p;
  p.id = "h:7:1";
  p.stream = "ml_events";
  p.expired_at_ms = kNow - 60000;
  const auto at_edge = streamll::producer_problems(p, kNow, 60s);
  REQUIRE(at_edge.size() == 1);
  CHECK(at_edge[0] ==
        "producer h:7:1 (stream 'ml_events'): stopped reporting, its last heartbeat "
        "expired 60 s ago");
  CHECK(streamll::producer_problems(p, kNow + 1, 60s).empty());
  // A clock ahead of the server's: an expiry in the future is recent.
  p.expired_at_ms = kNow + 5000;
  const auto ahead = streamll::producer_problems(p, kNow, 60s);
  REQUIRE(ahead.size() == 1);
  CHECK_THAT(ahead[0], Catch::Contains("expired 0 s ago"));
}
