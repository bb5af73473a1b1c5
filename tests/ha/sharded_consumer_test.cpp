// The consumer side of a sharded deployment, against real redis-server processes: a
// ShardedRedisSink writes a dataset with known totals over three servers (and over several
// streams of one server); a sharded GroupConsumer and StreamReader read every shard, each
// execution in order, acknowledging on the right shard; analyze_usage and check_health merge
// to exactly the known totals; a shard whose server is killed costs only its own events while
// the others keep being read, and health and the CLI report it.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include <streamll/redis/analytics.hpp>
#include <streamll/redis/consumer.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "nearest_rank.hpp"
#include "redis_server.hpp"
#include "tls_certs.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::ConsumerOptions;
using streamll::HealthAlert;
using streamll::ShardedStream;
using streamll::consumerit::pending_count;
using streamll::consumerit::run_cli;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

namespace {

// LLM calls of many executions with known totals: response times 1..n ms (each once), costs
// multiples of 1/8 (sums are exact in any order), tokens and models by index.
struct Dataset {
  std::vector<double> response_ms;
  std::int64_t tokens = 0;
  double cost = 0;
  std::map<std::string, std::uint64_t> per_model;
  std::uint64_t errors = 0;
  std::uint64_t events = 0;

  std::uint64_t calls() const { return response_ms.size(); }
};

streamll::Event call_event(const std::string& execution, int index, Dataset& d) {
  auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{execution, "span_" + execution, "", "sharded", "", {}});
  const int n = static_cast<int>(d.response_ms.size()) + 1;
  const std::string model = n % 3 == 0 ? "model-c" : n % 2 == 0 ? "model-b" : "model-a";
  const long long tokens = 10 + n % 7;
  const double cost = 0.125 * (n % 5);
  streamll::Fields data;
  data.append_new("producer", 0);
  data.append_new("index", index);
  data.append_new("model", model);
  data.append_new("tokens_used", tokens);
  data.append_new("cost_usd", cost);
  data.append_new("response_time_ms", static_cast<double>(n));
  data.append_new("success", true);
  d.response_ms.push_back(n);
  d.tokens += tokens;
  d.cost += cost;
  ++d.per_model[model];
  ++d.events;
  return streamll::Event::capture(streamll::EventType::llm_call, context, std::move(data));
}

streamll::Event error_in(const std::string& execution, int index, Dataset& d) {
  auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{execution, "span_" + execution, "", "sharded", "", {}});
  streamll::Fields data;
  data.append_new("producer", 0);
  data.append_new("index", index);
  data.append_new("error_type", "TimeoutError");
  ++d.errors;
  ++d.events;
  return streamll::Event::capture(streamll::EventType::error, context, std::move(data));
}

using streamll::testing::nearest_rank;

// Emits `executions` x `per_execution` events (every 10th an error) through `sink`.
void emit_dataset(streamll::ShardedRedisSink& sink, int executions, int per_execution, Dataset& d,
                  const std::string& prefix = "exec_") {
  for (int i = 0; i < per_execution; ++i) {
    for (int e = 0; e < executions; ++e) {
      const std::string execution = prefix + std::to_string(e);
      sink.handle(i % 10 == 9 ? error_in(execution, i, d) : call_event(execution, i, d));
    }
  }
  REQUIRE(sink.flush(20s));
  REQUIRE(sink.stats().delivered == d.events);
}

void check_totals(const streamll::UsageStats& u, const Dataset& d) {
  CHECK(u.complete());
  CHECK(u.events == d.events);
  CHECK(u.entries == d.events);
  CHECK(u.total_calls == d.calls());
  CHECK(u.total_tokens == d.tokens);
  CHECK(u.total_cost_usd == d.cost);
  CHECK(u.errors == d.errors);
  CHECK(u.calls_per_model == d.per_model);
  REQUIRE(u.response_time_ms.count == d.calls());
  CHECK(u.response_time_ms.exact);
  CHECK(u.response_time_ms.p50 == nearest_rank(d.response_ms, 50));
  CHECK(u.response_time_ms.p95 == nearest_rank(d.response_ms, 95));
  CHECK(u.response_time_ms.p99 == nearest_rank(d.response_ms, 99));
  CHECK(u.response_time_ms.max == static_cast<double>(d.calls()));
}

ConsumerOptions consumer_options(const std::string& group, const std::string& name) {
  ConsumerOptions o;
  o.group = group;
  o.consumer_name = name;
  o.batch_size = 50;
  o.block = 200ms;
  o.connection.connect_timeout = 500ms;
  o.connection.socket_timeout = 2s;
  o.reconnect_initial_delay = 50ms;
  o.reconnect_max_delay = 200ms;
  return o;
}

// What handlers saw, from the consuming thread, read by the test thread.
class Seen {
 public:
  void add(const ConsumedEvent& m) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string execution(m.event.execution_id());
    by_execution_[execution].push_back(static_cast<int>(m.event.data["index"].as_int(-1)));
    shard_of_[execution].insert(m.shard);
    ++total_;
  }
  std::size_t total() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return total_;
  }
  std::map<std::string, std::vector<int>> by_execution() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return by_execution_;
  }
  std::map<std::string, std::set<std::size_t>> shard_of() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return shard_of_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<int>> by_execution_;
  std::map<std::string, std::set<std::size_t>> shard_of_;
  std::size_t total_ = 0;
};

// Runs a consumer on its own thread for the scope's lifetime.
template <typename Consumer>
class Running {
 public:
  explicit Running(Consumer& c) : consumer_(c), thread_([this] { consumer_.run(); }) {}
  ~Running() {
    consumer_.stop();
    thread_.join();
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

 private:
  Consumer& consumer_;
  std::thread thread_;
};

struct ThreeServers {
  ThreeServers() {
    for (auto& s : servers) s = std::make_unique<RedisServer>();
    sink.sink = sinkit::fast_options("redis://unused:1");
    for (auto& s : servers) sink.shard_urls.push_back(s->url());
  }
  ShardedStream source() const {
    ShardedStream s;
    s.connection.connect_timeout = 500ms;
    s.stream = "ml_events";
    s.shard_urls = sink.shard_urls;
    return s;
  }
  std::vector<std::string> cli_shards() const {
    std::vector<std::string> out;
    for (const auto& url : sink.shard_urls) out.insert(out.end(), {"--shard-url", url});
    return out;
  }
  std::array<std::unique_ptr<RedisServer>, 3> servers;
  streamll::ShardedRedisSinkOptions sink;
};

// A ShardedRedisSink over three shards, and four executions that the sink's own routing sends
// to each shard: emit_to(s, n) writes n events to shard s, numbered in emission order.
struct ShardFeeder {
  explicit ShardFeeder(const streamll::ShardedRedisSinkOptions& options) : sink(options) {
    for (int e = 0;
         executions[0].size() < 4 || executions[1].size() < 4 || executions[2].size() < 4; ++e) {
      const std::string id = "exec_" + std::to_string(e);
      auto& list = executions[streamll::shard_for_execution(id, 3)];
      if (list.size() < 4) list.push_back(id);
    }
  }
  void emit_to(std::size_t shard, int n) {
    for (int i = 0; i < n; ++i) {
      sink.handle(
          sinkit::execution_event(executions[shard][static_cast<std::size_t>(i) % 4], next++));
    }
  }
  streamll::ShardedRedisSink sink;
  std::array<std::vector<std::string>, 3> executions;
  int next = 0;
};

}  // namespace

TEST_CASE(
    "Sharded over three servers: merged analytics equal the known totals, a group consumer reads "
    "every shard",
    "[ha][sharded][consumer_ha]") {
  ThreeServers t;
  Dataset d;
  {
    streamll::ShardedRedisSink sink(t.sink);
    emit_dataset(sink, 60, 20, d);
  }
  check_totals(streamll::analyze_usage(t.source()), d);

  auto o = consumer_options("analytics", "worker-1");
  o.shard_urls = t.sink.shard_urls;
  streamll::GroupConsumer consumer(o);
  Seen seen;
  consumer.on_any([&](const ConsumedEvent& m) { seen.add(m); });
  {
    Running<streamll::GroupConsumer> running(consumer);
    REQUIRE(eventually([&] { return seen.total() >= d.events; }, 60s));
  }
  CHECK(seen.total() == d.events);  // each exactly once: one consumer, no failure
  const auto by_execution = seen.by_execution();
  REQUIRE(by_execution.size() == 60);
  for (const auto& [execution, indices] : by_execution) {
    INFO(execution);
    CHECK(indices == sinkit::iota_vector(0, 20));  // each execution in order
    const auto shards = seen.shard_of().at(execution);
    CHECK(shards.size() == 1);
    CHECK(*shards.begin() == streamll::shard_for_execution(execution, 3));
  }
  // Acknowledged on the shard each came from: nothing pending anywhere, every shard's group
  // read to its end.
  std::uint64_t per_shard_total = 0;
  const auto per_shard = consumer.shard_stats();
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("shard " << i);
    DirectRedis redis = DirectRedis::tcp(t.servers[i]->port());
    const std::string key = streamll::shard_stream_key("ml_events", i);
    CHECK(pending_count(redis, "analytics", key) == 0);
    const long long length = redis.integer({"XLEN", key});
    CHECK(length > 0);
    CHECK(per_shard[i].acked == static_cast<std::uint64_t>(length));
    per_shard_total += static_cast<std::uint64_t>(length);
  }
  CHECK(per_shard_total == d.events);
  CHECK(consumer.stats().acked == d.events);

  // Health: lengths summed, a second group that read nothing lags by everything, summed over
  // the shards although no single shard passes the threshold.
  for (std::size_t i = 0; i < 3; ++i) {
    DirectRedis redis = DirectRedis::tcp(t.servers[i]->port());
    redis.text({"XGROUP", "CREATE", streamll::shard_stream_key("ml_events", i), "warehouse", "0"});
  }
  streamll::HealthThresholds thresholds;
  thresholds.window = 10min;
  thresholds.max_total_lag = d.events - 1;
  const auto h = streamll::check_health(t.source(), thresholds);
  CHECK(h.stream_length == d.events);
  CHECK(h.events_in_window == d.events);
  CHECK(h.errors_in_window == d.errors);
  CHECK(h.total_lag == d.events);
  CHECK(h.consumer_groups == 2);
  // The summed lag, and the error rate (every 10th event an error: 1 per 9 LLM calls).
  REQUIRE(h.alerts.size() == 2);
  CHECK(h.alerts[0].kind == HealthAlert::Kind::high_lag);
  CHECK(h.alerts[1].kind == HealthAlert::Kind::high_error_rate);
  REQUIRE(h.error_rate);
  CHECK(*h.error_rate == Approx(static_cast<double>(d.errors) / static_cast<double>(d.calls())));
  const auto groups = streamll::list_groups(t.source());
  REQUIRE(groups.groups.size() == 2);
  CHECK(groups.groups[0].name == "analytics");
  CHECK(groups.groups[0].lag == 0);
  CHECK(groups.groups[0].consumers == 1);
  CHECK(groups.groups[0].shards.size() == 3);
  CHECK(groups.groups[1].lag == d.events);
}

TEST_CASE("Sharded streams on one server: a StreamReader and the analytics read all of them",
          "[ha][sharded][consumer_ha]") {
  RedisServer server;
  streamll::ShardedRedisSinkOptions so;
  so.sink = sinkit::fast_options(server.url());
  so.shard_count = 4;
  Dataset d;
  {
    streamll::ShardedRedisSink sink(so);
    emit_dataset(sink, 40, 10, d);
  }
  ShardedStream source;
  source.connection.url = server.url();
  source.shard_count = 4;
  const auto u = streamll::analyze_usage(source);
  check_totals(u, d);
  REQUIRE(u.shards.size() == 4);
  std::uint64_t sum = 0;
  for (const auto& s : u.shards) {
    CHECK(s.entries > 0);
    sum += s.entries;
  }
  CHECK(sum == d.events);

  auto o = consumer_options("", "");
  o.connection.url = server.url();
  o.shard_count = 4;
  o.start_id = "0";
  streamll::StreamReader reader(o);
  Seen seen;
  reader.on_any([&](const ConsumedEvent& m) { seen.add(m); });
  for (int i = 0; i < 100 && seen.total() < d.events; ++i) reader.poll(100ms);
  CHECK(seen.total() == d.events);
  for (const auto& [execution, indices] : seen.by_execution()) {
    INFO(execution);
    CHECK(indices == sinkit::iota_vector(0, 10));
  }
  const auto positions = reader.last_ids();
  REQUIRE(positions.size() == 4);
  for (const auto& p : positions) CHECK(p != "0-0");
  // Nothing new: a blocking poll waits on all four streams and returns empty after `block`.
  const auto started = std::chrono::steady_clock::now();
  const auto r = reader.poll(300ms);
  CHECK(r.entries == 0);
  CHECK(std::chrono::steady_clock::now() - started >= 250ms);
  // One new event on one shard ends a blocking wait early.
  bool reader_waited = false;
  std::thread late([&] {
    DirectRedis redis = DirectRedis::tcp(server.port());
    // Written once the reader waits on all four streams (one blocked XREAD per shard).
    reader_waited = eventually([&] { return redis.blocked_in("xread") == 4; }, 20s);
    streamll::consumerit::add_event(redis, sinkit::execution_event("late", 0), "*",
                                    streamll::shard_stream_key("ml_events", 2));
  });
  std::size_t entries = 0;
  const auto wait_started = std::chrono::steady_clock::now();
  while (entries == 0 && std::chrono::steady_clock::now() - wait_started < 20s)
    entries += reader.poll(5000ms).entries;
  late.join();
  CHECK(reader_waited);
  CHECK(entries == 1);
  CHECK(std::chrono::steady_clock::now() - wait_started < 4500ms);
}

TEST_CASE("A shard whose server dies: the others keep being read, health and the CLI report it",
          "[ha][sharded][consumer_ha]") {
  ThreeServers t;
  ShardFeeder feed(t.sink);
  for (std::size_t s = 0; s < 3; ++s) feed.emit_to(s, 20);
  REQUIRE(feed.sink.flush(10s));

  auto o = consumer_options("workers", "worker-1");
  o.shard_urls = t.sink.shard_urls;
  streamll::GroupConsumer consumer(o);
  Seen seen;
  consumer.on_any([&](const ConsumedEvent& m) { seen.add(m); });
  Running<streamll::GroupConsumer> running(consumer);
  REQUIRE(eventually([&] { return seen.total() >= 60; }, 30s));

  t.servers[1]->kill9();
  // Shards 0 and 2 keep flowing while 1 is down.
  feed.emit_to(0, 30);
  feed.emit_to(2, 30);
  REQUIRE(eventually([&] { return seen.total() >= 120; }, 30s));
  REQUIRE(eventually([&] { return !consumer.shard_stats()[1].connected; }, 10s));
  CHECK(consumer.shard_stats()[0].connected);
  CHECK(consumer.shard_stats()[2].connected);
  CHECK(consumer.shard_stats()[1].transport_errors >= 1);

  streamll::HealthThresholds thresholds;
  thresholds.window = 10min;
  const auto h = streamll::check_health(t.source(), thresholds);
  REQUIRE(h.shards.size() == 3);
  CHECK_FALSE(h.shards[1].ok);
  CHECK(h.shards[0].ok);
  CHECK(h.stream_length ==
        static_cast<std::uint64_t>(h.shards[0].stream_length + h.shards[2].stream_length));
  REQUIRE(!h.alerts.empty());
  CHECK(h.alerts.front().kind == HealthAlert::Kind::shard_unavailable);
  CHECK_THAT(h.alerts.front().message, Catch::Contains("ml_events_shard_1"));

  auto shards = t.cli_shards();
  std::vector<std::string> args = {"health", "--window", "10m", "--connect-timeout", "500ms"};
  args.insert(args.end(), shards.begin(), shards.end());
  auto r = run_cli(args);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("ALERT: Shard 1 ('ml_events_shard_1'") != std::string::npos);
  CHECK(r.out.find("UNAVAILABLE") != std::string::npos);
  args = {"stats", "--json", "--connect-timeout", "500ms"};
  args.insert(args.end(), shards.begin(), shards.end());
  r = run_cli(args);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("incomplete: shard 1") != std::string::npos);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["complete"] == false);
  CHECK(j["entries"] == 100);  // shards 0 and 2: 20 + 30 each
  CHECK(j["shards"][1]["ok"] == false);

  // The server comes back (empty: no persistence); its shard is read again.
  t.servers[1]->restart();
  feed.emit_to(1, 10);
  REQUIRE(feed.sink.flush(20s));
  REQUIRE(eventually([&] { return seen.total() >= 130; }, 30s));
  CHECK(eventually([&] { return consumer.stats().connected; }, 10s));
  const auto by_execution = seen.by_execution();
  for (const auto& id : feed.executions[1]) {
    INFO(id);
    CHECK(by_execution.at(id).size() >= 5 + 2);  // 20 before, 10 after: 5 and 2 or 3 each
  }
}

TEST_CASE(
    "A shard whose server stops answering (SIGSTOP) does not hold the other shards' reading up",
    "[ha][sharded][consumer_ha]") {
  ThreeServers t;
  ShardFeeder feed(t.sink);

  auto o = consumer_options("workers", "worker-1");
  o.shard_urls = t.sink.shard_urls;
  o.connection.socket_timeout = 500ms;
  o.connection.connect_timeout =
      4s;  // what each reconnection attempt would cost the other shards if waited for
  streamll::GroupConsumer consumer(o);
  Seen seen;
  std::mutex latency_mutex;
  double worst_shard0_ms = 0;
  consumer.on_any([&](const ConsumedEvent& m) {
    if (m.shard == 0) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::system_clock::now() -
                                                                  m.event.timestamp)
                            .count();
      std::lock_guard<std::mutex> lock(latency_mutex);
      worst_shard0_ms = std::max(worst_shard0_ms, ms);
    }
    seen.add(m);
  });
  Running<streamll::GroupConsumer> running(consumer);
  for (std::size_t s = 0; s < 3; ++s) feed.emit_to(s, 10);
  REQUIRE(feed.sink.flush(10s));
  REQUIRE(eventually([&] { return seen.total() >= 30; }, 30s));

  t.servers[1]->sigstop();
  {
    std::lock_guard<std::mutex> lock(latency_mutex);
    worst_shard0_ms = 0;
  }
  // Time passes on purpose, longer than a read timeout, a connect timeout and a reconnect delay:
  // shard 1's blocking read times out, and its reconnection attempts hang.
  for (int i = 0; i < 50; ++i) {
    feed.emit_to(0, 1);
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(eventually([&] { return seen.total() >= 80; }, 30s));
  CHECK(consumer.shard_stats()[1].transport_errors >= 1);
  CHECK_FALSE(consumer.shard_stats()[1].connected);
  {
    std::lock_guard<std::mutex> lock(latency_mutex);
    CHECK(worst_shard0_ms < 2000);  // a connect waited out on the consuming thread: up to 4 s
  }

  t.servers[1]->sigcont();
  feed.emit_to(1, 5);
  REQUIRE(feed.sink.flush(20s));
  CHECK(eventually([&] { return seen.total() >= 85; }, 30s));
  CHECK(eventually([&] { return consumer.stats().connected; }, 10s));
}

TEST_CASE(
    "streamll emit over shards, then stats, consume, tail and groups over the same shards agree",
    "[ha][sharded][consumer_ha][cli_ha]") {
  ThreeServers t;
  const auto shards = t.cli_shards();
  const auto with_shards = [&](std::vector<std::string> args) {
    args.insert(args.end(), shards.begin(), shards.end());
    return run_cli(args);
  };
  auto emitted = with_shards({"emit", "--count", "3000", "--json"});
  REQUIRE(emitted.exit_code == 0);
  const auto e = nlohmann::json::parse(emitted.out);
  CHECK(e["delivered"] == 3000);
  REQUIRE(e["shards"].size() == 3);
  std::uint64_t delivered = 0;
  for (const auto& s : e["shards"]) {
    CHECK(s["delivered"].get<std::uint64_t>() > 0);
    delivered += s["delivered"].get<std::uint64_t>();
  }
  CHECK(delivered == 3000);

  auto stats = with_shards({"stats", "--json"});
  REQUIRE(stats.exit_code == 0);
  const auto s = nlohmann::json::parse(stats.out);
  CHECK(s["entries"] == 3000);
  CHECK(s["events_by_type"] == e["emitted_by_type"]);
  CHECK(s["complete"] == true);
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(s["shards"][i]["entries"] == e["shards"][i]["delivered"]);

  auto consumed = with_shards({"consume", "--group", "cli", "--consumer", "c1", "--no-follow"});
  CHECK(consumed.exit_code == 0);
  CHECK(std::count(consumed.out.begin(), consumed.out.end(), '\n') == 3000);
  CHECK(consumed.err.find("handled 3000, acknowledged 3000") != std::string::npos);

  auto groups = with_shards({"groups", "--json"});
  CHECK(groups.exit_code == 0);
  const auto g = nlohmann::json::parse(groups.out);
  REQUIRE(g.size() == 1);
  CHECK(g[0]["name"] == "cli");
  CHECK(g[0]["pending"] == 0);
  CHECK(g[0]["lag"] == 0);
  CHECK(g[0]["entries_read"] == 3000);
  CHECK(g[0]["shards"].size() == 3);

  auto tail = with_shards(
      {"tail", "--from-beginning", "--no-follow", "--type", "llm_call", "--color", "never"});
  CHECK(tail.exit_code == 0);
  CHECK(static_cast<std::uint64_t>(std::count(tail.out.begin(), tail.out.end(), '\n')) ==
        e["emitted_by_type"]["llm_call"].get<std::uint64_t>());

  auto health = with_shards({"health", "--json", "--window", "10m"});
  CHECK(health.exit_code == 0);
  const auto h = nlohmann::json::parse(health.out);
  CHECK(h["stream_length"] == 3000);
  CHECK(h["shards"].size() == 3);

  // --count reached on the first shard read: the shards never tried did not fail.
  auto counted = with_shards(
      {"consume", "--group", "counted", "--consumer", "c1", "--no-follow", "--count", "5"});
  CHECK(counted.exit_code == 0);
  CHECK(std::count(counted.out.begin(), counted.out.end(), '\n') == 5);
  CHECK(counted.err.find("not connected") == std::string::npos);

  // The command line names the deployment: --url replaces the environment's shard servers
  // (the single stream 'ml_events' does not exist there), and --shard-count 0 turns sharding off.
  std::string env_urls;
  for (const auto& url : t.sink.shard_urls) env_urls += (env_urls.empty() ? "" : ",") + url;
  const std::map<std::string, std::string> env = {{"STREAMLL_SHARD_URLS", env_urls}};
  auto from_env = run_cli({"stats", "--json"}, env);
  CHECK(from_env.exit_code == 0);
  CHECK(nlohmann::json::parse(from_env.out)["entries"] == 3000);
  auto one_server = run_cli({"stats", "--url", t.servers[0]->url()}, env);
  CHECK(one_server.exit_code == 4);
  CHECK(one_server.err.find("'ml_events' does not exist") != std::string::npos);
  auto unsharded = run_cli({"stats", "--url", t.servers[0]->url(), "--stream", "ml_events_shard_0",
                            "--json", "--shard-count", "0"},
                           env);
  CHECK(unsharded.exit_code == 0);
  CHECK(nlohmann::json::parse(unsharded.out)["entries"] == e["shards"][0]["delivered"]);
}

TEST_CASE("A shard that cannot serve (MASTERDOWN) does not keep the CLI from reading the others",
          "[ha][sharded][cli_ha]") {
  RedisServer good;
  int dead_port = 0;
  {
    RedisServer gone;  // a port of ours with nothing listening on it any more
    dead_port = gone.port();
    gone.kill9();
  }
  streamll::test::RedisServerOptions stale_options;
  stale_options.extra_config = {"replicaof 127.0.0.1 " + std::to_string(dead_port),
                                "replica-serve-stale-data no"};
  RedisServer stale(stale_options);  // a replica whose master is gone: MASTERDOWN to every read

  auto emitted =
      run_cli({"emit", "--count", "20", "--url", good.url(), "--stream", "ml_events_shard_0"});
  REQUIRE(emitted.exit_code == 0);
  const std::vector<std::string> shards = {"--shard-url", good.url(),          "--shard-url",
                                           stale.url(),   "--connect-timeout", "500ms"};
  std::vector<std::string> args = {"tail", "--from-beginning", "--no-follow", "--color", "never"};
  args.insert(args.end(), shards.begin(), shards.end());
  const auto tail = run_cli(args);
  CHECK(tail.exit_code == 2);  // shard 1 was not read: said, not silently skipped
  // Shard 0 in full: what tailing that stream alone prints.
  const auto alone = run_cli({"tail", "--from-beginning", "--no-follow", "--color", "never",
                              "--url", good.url(), "--stream", "ml_events_shard_0"});
  REQUIRE(alone.exit_code == 0);
  CHECK(tail.out == alone.out);
  CHECK(tail.err.find("shard 1") != std::string::npos);
  CHECK(tail.err.find("MASTERDOWN") != std::string::npos);
}

TEST_CASE(
    "A sharded group consumer over TLS wakes for the first shard that answers and acks on each",
    "[ha][sharded][consumer_ha][tls]") {
  streamll::test::RedisServerOptions tls;
  tls.tls = true;
  RedisServer server(tls);
  auto o = consumer_options("tls-readers", "worker-1");
  o.connection.url = server.tls_url();
  o.connection.ssl_ca_file = streamll::test::TlsCerts::shared().ca_cert;
  o.shard_count = 3;
  streamll::GroupConsumer consumer(o);
  Seen seen;
  consumer.on_any([&](const ConsumedEvent& m) { seen.add(m); });
  consumer.poll(0ms);  // connected, groups created, nothing to read
  REQUIRE(consumer.stats().connected);
  // Entries arrive on one shard at a time (written on the plain port) while the consumer waits
  // on all three TLS connections at once.
  for (std::size_t shard : {std::size_t{2}, std::size_t{0}, std::size_t{1}}) {
    bool consumer_waited = false;
    std::thread writer([&] {
      DirectRedis redis = DirectRedis::tcp(server.port());
      // Written once the consumer waits on all three connections (one XREADGROUP each).
      consumer_waited = eventually([&] { return redis.blocked_in("xreadgroup") == 3; }, 20s);
      streamll::consumerit::add_event(redis,
                                      sinkit::execution_event("tls_" + std::to_string(shard), 0),
                                      "*", streamll::shard_stream_key("ml_events", shard));
    });
    const auto started = std::chrono::steady_clock::now();
    const std::size_t before = seen.total();
    while (seen.total() == before && std::chrono::steady_clock::now() - started < 20s)
      consumer.poll(5000ms);
    writer.join();
    INFO("shard " << shard);
    CHECK(consumer_waited);
    CHECK(seen.total() == before + 1);
    CHECK(std::chrono::steady_clock::now() - started <
          4500ms);  // woken by the answer, not the 5 s timeout
    CHECK(seen.shard_of().at("tls_" + std::to_string(shard)) == std::set<std::size_t>{shard});
  }
  DirectRedis redis = DirectRedis::tcp(server.port());
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(pending_count(redis, "tls-readers", streamll::shard_stream_key("ml_events", i)) == 0);
  CHECK(consumer.stats().acked == 3);
}
