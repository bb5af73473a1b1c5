// The streamll binary against real redis-server processes: exit codes, garbage entries,
// emit and stats agreeing, tail waiting for a stream, consume's failures, one error rate,
// JSON errors; and the guide's Python consumer reading what the library wrote.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <streamll/redis/analytics.hpp>

#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using streamll::consumerit::add_event;
using streamll::consumerit::llm_call;
using streamll::consumerit::run_cli;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
using streamll::testing::eventually;

TEST_CASE("streamll --help works for every subcommand", "[cli_it]") {
  for (const char* command : {"tail", "stats", "health", "groups", "consume", "emit"}) {
    const auto r = run_cli({command, "--help"});
    INFO(command);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(std::string("usage: streamll ") + command) != std::string::npos);
    CHECK(r.out.find("--url URL") != std::string::npos);
  }
  CHECK(run_cli({"--help"}).exit_code == 0);
  const auto bad = run_cli({"stats", "--since", "soon"});
  CHECK(bad.exit_code == 64);
  CHECK(bad.err.find("--since") != std::string::npos);
  CHECK(run_cli({"frobnicate"}).exit_code == 64);
}

TEST_CASE("streamll health exits 0 healthy, 1 on an alert, 2 when Redis is unreachable",
          "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  add_event(redis, llm_call("m", 1, 0, 1, 1));
  auto r = run_cli({"health", "--url", server.url(), "--json", "--window", "10m"});
  CHECK(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["healthy"] == true);
  CHECK(j["stream_length"] == 1);
  CHECK(j["events_in_window"] == 1);

  r = run_cli({"health", "--url", server.url(), "--min-events", "5", "--window", "10m"});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("ALERT: Only 1 events") != std::string::npos);
  r = run_cli({"health", "--url", server.url(), "--stream", "nothing_here"});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("does not exist") != std::string::npos);

  const std::string dead = server.url();
  server.kill9();
  r = run_cli({"health", "--url", dead, "--connect-timeout", "1s"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("streamll health: cannot reach Redis") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
}

TEST_CASE("streamll reports a refused login and a missing stream with their own exit codes",
          "[cli_it]") {
  RedisServerOptions secure;
  secure.requirepass = "s3cret-pw";
  RedisServer server(secure);
  auto r = run_cli({"stats", "--url", server.url()}, {{"REDIS_PASSWORD", "wrong-pw"}});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("authentication") != std::string::npos);
  CHECK(r.err.find("wrong-pw") == std::string::npos);  // never echo a secret
  r = run_cli({"stats", "--url", server.url()});
  CHECK(r.exit_code == 3);
  r = run_cli({"stats", "--url", server.url(), "--stream", "missing"},
              {{"REDIS_PASSWORD", "s3cret-pw"}});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("stream 'missing' does not exist") != std::string::npos);
  r = run_cli({"groups"}, {{"REDIS_URL", server.url()},
                           {"REDIS_PASSWORD", "s3cret-pw"},
                           {"STREAMLL_STREAM_KEY", "missing"}});
  CHECK(r.exit_code == 4);
  r = run_cli({"tail", "--url", "redis://127.0.0.1:1", "--no-follow"});
  CHECK(r.exit_code == 2);
}

TEST_CASE("Garbage entries never crash tail, stats or consume, and are counted", "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  add_event(redis, llm_call("gpt-4o-mini", 10, 0.5, 100, 10));
  // Written with redis-cli, as an operator poking at the stream would.
  server.cli({"XADD", "ml_events", "*", "foo", "bar"});
  server.cli({"XADD", "ml_events", "*", "event", "{\"event_type\": \"llm_call\", \"data\": "});
  server.cli({"XADD", "ml_events", "*", "event", "{\"event_type\": 7, \"timestamp\": false}"});
  server.cli({"XADD", "ml_events", "*", "event", "\xff\xfe not utf8"});
  add_event(redis, llm_call("gpt-4o-mini", 20, 0.25, 300, 30));

  auto r = run_cli(
      {"tail", "--url", server.url(), "--from-beginning", "--no-follow", "--color", "never"});
  CHECK(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  CHECK(r.out.find("gpt-4o-mini") != std::string::npos);
  CHECK(r.err.find("4 entries were not streamll events: 1 without an event field, 2 malformed "
                   "JSON, 1 not an event") != std::string::npos);

  r = run_cli({"stats", "--url", server.url(), "--json"});
  CHECK(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["entries"] == 6);
  CHECK(j["total_calls"] == 2);
  CHECK(j["total_tokens"] == 30);
  CHECK(j["undecodable"]["total"] == 4);
  CHECK(j["undecodable"]["malformed_json"] == 2);

  r = run_cli({"consume", "--url", server.url(), "--group", "g", "--consumer", "c", "--no-follow"});
  CHECK(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  CHECK(r.err.find("handled 2, acknowledged 6") != std::string::npos);
  CHECK(r.err.find("skipped entry") != std::string::npos);
  CHECK(streamll::consumerit::pending_count(redis, "g") == 0);
}

TEST_CASE("emit followed by stats agree on counts", "[cli_it]") {
  RedisServer server;
  auto r = run_cli({"emit", "--url", server.url(), "--count", "3000", "--threads", "3", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto emitted = nlohmann::json::parse(r.out);
  CHECK(emitted["emitted"] == 3000);
  CHECK(emitted["delivered"] == 3000);
  CHECK(emitted["dropped"] == 0);
  CHECK(emitted["unaccounted"] == 0);
  r = run_cli({"stats", "--url", server.url(), "--since", "1h", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto stats = nlohmann::json::parse(r.out);
  CHECK(stats["entries"] == 3000);
  CHECK(stats["events"] == 3000);
  CHECK(stats["events_by_type"] == emitted["emitted_by_type"]);
  CHECK(stats["total_calls"] == emitted["emitted_by_type"]["llm_call"]);
  CHECK(stats["errors"] == emitted["emitted_by_type"]["error"]);
  // A text summary with the numbers a person reads.
  r = run_cli({"emit", "--url", server.url(), "--count", "10", "--rate", "1000"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("emitted     10 events") != std::string::npos);
  CHECK(r.out.find("delivered   10") != std::string::npos);
  r = run_cli({"emit", "--url", "redis://127.0.0.1:1", "--count", "10"});
  CHECK(r.exit_code == 2);
}

TEST_CASE("emit streams its model calls in the token mode asked for", "[cli_it][tokens]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto [mode, chunks_per_call] = GENERATE(
      table<std::string, int>({{"each", 100}, {"chunked", 7}, {"summary", 0}, {"off", 0}}));
  CAPTURE(mode);
  redis.command({"DEL", "ml_events"});
  // Whole runs: 3 spans' start and end, 100 tokens, one llm_call.
  const int per_run = 7 + chunks_per_call;
  std::vector<std::string> args = {
      "emit",         "--url", server.url(),        "--count", std::to_string(5 * per_run),
      "--token-mode", mode,    "--tokens-per-call", "100",     "--json"};
  if (mode == "chunked") {
    // Cut by count only: 16 tokens a chunk, whatever the time between them.
    args.insert(args.end(), {"--chunk-tokens", "16", "--chunk-interval", "0"});
  }
  auto r = run_cli(args);
  REQUIRE(r.exit_code == 0);
  const auto emitted = nlohmann::json::parse(r.out);
  CHECK(emitted["emitted_by_type"]["llm_call"] == 5);
  CHECK(emitted["emitted_by_type"].value("token", 0) == 5 * chunks_per_call);
  std::int64_t streamed = 0;
  for (const auto& entry : redis.xrange("ml_events")) {
    const auto event = nlohmann::json::parse(*entry.field("event"));
    if (event["event_type"] != "token") continue;
    streamed += event["data"].value("count", 1);
    if (mode == "chunked") CHECK(event["data"]["offsets_us"].size() == event["data"]["count"]);
  }
  CHECK(streamed == (mode == "summary" || mode == "off" ? 0 : 500));
}

TEST_CASE("emit cuts chunks at the chunk interval as an LlmCall does", "[cli_it][tokens]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  // 50 tokens a second and the default limits (32 tokens or 250 ms): a chunk ends at its 14th
  // token, 260 ms after its first; 100 tokens make 7 chunks of 14 and one of 2.
  auto r = run_cli({"emit", "--url", server.url(), "--count", "15", "--token-mode", "chunked",
                    "--tokens-per-call", "100", "--token-interval", "20ms", "--json"});
  REQUIRE(r.exit_code == 0);
  std::vector<std::int64_t> counts;
  for (const auto& entry : redis.xrange("ml_events")) {
    const auto event = nlohmann::json::parse(*entry.field("event"));
    if (event["event_type"] != "token") continue;
    counts.push_back(event["data"]["count"].get<std::int64_t>());
    CHECK(event["data"]["offsets_us"].back() == 20000 * (counts.back() - 1));
  }
  CHECK(counts == std::vector<std::int64_t>{14, 14, 14, 14, 14, 14, 14, 2});
}

TEST_CASE("emit, consume and health with the token events in a stream of their own",
          "[cli_it][tokens]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  // 5 whole runs: 3 spans' start and end, 100 tokens and one llm_call each.
  constexpr int kRuns = 5;
  auto r = run_cli({"emit", "--url", server.url(), "--count", std::to_string(kRuns * 107),
                    "--token-stream", "ml_tokens", "--tokens-per-call", "100", "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["token_stream"] == "ml_tokens");
  CHECK(redis.integer({"XLEN", "ml_tokens"}) == kRuns * 100);
  CHECK(redis.integer({"XLEN", "ml_events"}) == kRuns * 7);

  r = run_cli({"consume", "--url", server.url(), "--group", "g", "--consumer", "c", "--no-follow",
               "--token-stream", "ml_tokens"});
  REQUIRE(r.exit_code == 0);
  std::map<std::string, int> types;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    ++types[nlohmann::json::parse(line)["event_type"].get<std::string>()];
  }
  CHECK(types["token"] == kRuns * 100);
  CHECK(types["llm_call"] == kRuns);
  CHECK(types["start"] == kRuns * 3);
  for (const char* key : {"ml_events", "ml_tokens"}) {
    CAPTURE(key);
    CHECK(redis.integer({"XLEN", key}) > 0);
    const auto pending = redis.command({"XPENDING", key, "g"});
    REQUIRE(pending->type == REDIS_REPLY_ARRAY);
    CHECK(pending->element[0]->integer == 0);
  }

  r = run_cli({"health", "--url", server.url(), "--window", "10m", "--token-stream", "ml_tokens",
               "--json"});
  CHECK(r.exit_code == 0);
  const auto health = nlohmann::json::parse(r.out);
  CHECK(health["stream_length"] == kRuns * 7);
  CHECK(health["token_stream"]["stream_length"] == kRuns * 100);
  CHECK(health["token_stream"]["total_lag"] == 0);
  // stats counts the token stream's entries by type beside the others'.
  r = run_cli({"stats", "--url", server.url(), "--token-stream", "ml_tokens", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto stats = nlohmann::json::parse(r.out);
  CHECK(stats["events_by_type"]["token"] == kRuns * 100);
  CHECK(stats["events_by_type"]["llm_call"] == kRuns);
  CHECK(stats["token_stream"]["entries"] == kRuns * 100);
  CHECK(stats["total_calls"] == kRuns);
  // A group behind on the token stream alone is an alert, in the exit status and the JSON.
  redis.command({"XGROUP", "CREATE", "ml_tokens", "late", "0"});
  r = run_cli({"health", "--url", server.url(), "--window", "10m", "--token-stream", "ml_tokens",
               "--max-lag", "10"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.out, Catch::Contains("Token stream 'ml_tokens': ALERT"));
  r = run_cli({"health", "--url", server.url(), "--window", "10m", "--token-stream", "ml_tokens",
               "--max-lag", "10", "--json"});
  CHECK(r.exit_code == 1);
  CHECK(nlohmann::json::parse(r.out)["healthy"] == false);
  // The environment's token stream concerns only the commands that take --token-stream.
  r = run_cli({"groups", "--url", server.url(), "--stream", "ml_tokens", "--json"},
              {{"STREAMLL_TOKEN_STREAM_KEY", "ml_tokens"}});
  CHECK(r.exit_code == 0);
  // A token stream that cannot be read is an error, not an empty stream.
  CHECK(server.cli({"ACL", "SETUSER", "viewer", "on", ">pw", "~ml_events", "+@all"}) == "OK");
  r = run_cli({"tail", "--url", server.url(), "--user", "viewer", "--token-stream", "ml_tokens",
               "--from-beginning", "--no-follow"},
              {{"REDIS_PASSWORD", "pw"}});
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Catch::Contains("NOPERM"));
  // No token stream yet is no alert.
  r = run_cli({"health", "--url", server.url(), "--window", "10m", "--token-stream", "none_yet"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("no stream yet"));

  r = run_cli({"tail", "--url", server.url(), "--token-stream", "ml_events", "--no-follow"});
  CHECK(r.exit_code == 64);
}

TEST_CASE("stats adds up cached input and reasoning tokens, one stream or sharded",
          "[cli_it][usage]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  // Two models on two shard streams; one call of each reports no cache nor reasoning.
  const auto call = [](const std::string& model, std::int64_t cached, std::int64_t reasoning) {
    streamll::Event e = llm_call(model, 1300, 0.01, 900, 100);
    e.data.set("input_tokens", 1000);
    e.data.set("output_tokens", 300);
    if (cached >= 0) e.data.set("cached_input_tokens", cached);
    if (reasoning >= 0) e.data.set("reasoning_tokens", reasoning);
    return e;
  };
  add_event(redis, call("o3-mini", 768, 192), "*", "ml_events_shard_0");
  add_event(redis, call("o3-mini", -1, -1), "*", "ml_events_shard_0");
  add_event(redis, call("gpt-4o", 7, 1), "*", "ml_events_shard_1");
  add_event(redis, call("o3-mini", 768, 192), "*", "ml_events");

  auto r = run_cli({"stats", "--url", server.url(), "--shard-count", "2", "--json"});
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["input_tokens"] == 3000);
  CHECK(j["cached_input_tokens"] == 775);
  CHECK(j["reasoning_tokens"] == 193);
  CHECK(j["models"]["o3-mini"]["cached_input_tokens"] == 768);
  CHECK(j["models"]["gpt-4o"]["reasoning_tokens"] == 1);

  r = run_cli({"stats", "--url", server.url()});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("1300 (input 1000, 768 of them cached, output 300, 192 of them "
                                    "reasoning)"));
}

namespace {

// An llm_call of `model` whose events carry tag user_id=`user` (none when empty).
streamll::Event user_call(const std::string& user, std::int64_t tokens, double cost,
                          double response_ms, const std::string& model = "m") {
  streamll::Event e = llm_call(model, tokens, cost, response_ms, response_ms / 10);
  e.data.set("input_tokens", tokens - 10);
  e.data.set("output_tokens", 10);
  e.data.set("cached_input_tokens", 2);
  e.data.set("reasoning_tokens", 1);
  auto context = std::make_shared<streamll::EventContext>();
  context->tags = {{"environment", "prod"}};
  if (!user.empty()) context->tags.emplace_back("user_id", user);
  e.context = std::move(context);
  return e;
}

}  // namespace

TEST_CASE("stats --by tag:KEY reports each value, the top N and the calls without the tag",
          "[cli_it][usage]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  // alice: 3 calls, $0.30; bob: 2 calls, $5; carol: 1 call, $0.01; two calls without user_id.
  for (int i = 1; i <= 3; ++i) add_event(redis, user_call("alice", 100, 0.1, 100.0 * i));
  for (int i = 1; i <= 2; ++i) add_event(redis, user_call("bob", 50, 2.5, 10.0 * i));
  add_event(redis, user_call("carol", 20, 0.01, 7.0));
  add_event(redis, user_call("", 30, 1.0, 5.0));
  add_event(redis, user_call("", 30, 1.0, 5.0, "other-model"));
  add_event(redis, streamll::consumerit::error_event());  // not an llm_call: in no group

  auto r = run_cli({"stats", "--url", server.url(), "--by", "tag:user_id", "--json"});
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["total_calls"] == 8);
  auto by = j["by"];
  CHECK(by["by"] == "tag:user_id");
  CHECK(by["sort"] == "calls");
  CHECK(by["top"] == 10);
  CHECK(by["distinct_values"] == 3);
  REQUIRE(by["values"].size() == 3);
  CHECK(by["values"][0]["value"] == "alice");
  CHECK(by["values"][1]["value"] == "bob");
  CHECK(by["values"][2]["value"] == "carol");
  const auto& alice = by["values"][0];
  CHECK(alice["calls"] == 3);
  CHECK(alice["total_tokens"] == 300);
  CHECK(alice["input_tokens"] == 270);
  CHECK(alice["output_tokens"] == 30);
  CHECK(alice["cached_input_tokens"] == 6);
  CHECK(alice["reasoning_tokens"] == 3);
  CHECK(alice["total_cost"] == Approx(0.3));
  CHECK(alice["response_time_ms"]["count"] == 3);
  CHECK(alice["response_time_ms"]["p50"] == Approx(200.0));
  CHECK(alice["response_time_ms"]["max"] == Approx(300.0));
  CHECK(alice["ttft_ms"]["p95"] == Approx(30.0));
  CHECK(by["none"]["calls"] == 2);
  CHECK(by["none"]["total_cost"] == Approx(2.0));
  CHECK(by["other"].is_null());
  // The rest of the report is as without --by.
  auto plain = nlohmann::json::parse(run_cli({"stats", "--url", server.url(), "--json"}).out);
  CHECK_FALSE(plain.contains("by"));
  CHECK(plain["models"] == j["models"]);
  CHECK(plain["total_cost"] == j["total_cost"]);

  // Top 1 by cost: bob; the none bucket is reported whatever the cut.
  r = run_cli({"stats", "--url", server.url(), "--by", "tag:user_id", "--top", "1", "--sort",
               "cost", "--json"});
  REQUIRE(r.exit_code == 0);
  by = nlohmann::json::parse(r.out)["by"];
  CHECK(by["sort"] == "cost");
  CHECK(by["distinct_values"] == 3);
  REQUIRE(by["values"].size() == 1);
  CHECK(by["values"][0]["value"] == "bob");
  CHECK(by["values"][0]["total_cost"] == Approx(5.0));
  CHECK(by["none"]["calls"] == 2);

  // Past --max-values the further values are added up as (other).
  r = run_cli(
      {"stats", "--url", server.url(), "--by", "tag:user_id", "--max-values", "2", "--json"});
  REQUIRE(r.exit_code == 0);
  by = nlohmann::json::parse(r.out)["by"];
  CHECK(by["max_values"] == 2);
  CHECK(by["distinct_values"] == 2);
  CHECK(by["values"][0]["value"] == "alice");
  CHECK(by["values"][1]["value"] == "bob");
  CHECK(by["other"]["calls"] == 1);
  CHECK(by["none"]["calls"] == 2);

  // A tag no event has: every call in (none).
  r = run_cli({"stats", "--url", server.url(), "--by", "tag:tenant", "--json"});
  REQUIRE(r.exit_code == 0);
  by = nlohmann::json::parse(r.out)["by"];
  CHECK(by["values"].empty());
  CHECK(by["none"]["calls"] == 8);

  // By model, ranked the same way.
  r = run_cli({"stats", "--url", server.url(), "--by", "model", "--json"});
  REQUIRE(r.exit_code == 0);
  by = nlohmann::json::parse(r.out)["by"];
  REQUIRE(by["values"].size() == 2);
  CHECK(by["values"][0]["value"] == "m");
  CHECK(by["values"][0]["calls"] == 7);
  CHECK(by["none"].is_null());

  // The table.
  r = run_cli({"stats", "--url", server.url(), "--by", "tag:user_id", "--top", "2"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("  by tag user_id (top 2 of 3 values, by calls; values cut "
                                    "to 256 bytes)\n"
                                    "    alice: 3 calls, 300 tokens, $0.3000\n"));
  CHECK_THAT(r.out, Catch::Contains("    bob: 2 calls, 100 tokens, $5.0000\n"));
  CHECK_THAT(r.out, Catch::Contains("    (none): 2 calls, 60 tokens, $2.0000\n"));
  CHECK(r.out.find("carol") == std::string::npos);

  // By model with a cap: the models past it in (other), and the event types capped alike
  // (the llm_calls come first in the stream, the error last).
  r = run_cli({"stats", "--url", server.url(), "--by", "model", "--max-values", "1", "--json"});
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  by = j["by"];
  CHECK(by["max_values"] == 1);
  CHECK(by["distinct_values"] == 1);
  REQUIRE(by["values"].size() == 1);
  CHECK(by["values"][0]["value"] == "m");
  CHECK(by["values"][0]["calls"] == 7);
  CHECK(by["other"]["calls"] == 1);
  CHECK(by["none"].is_null());
  CHECK(j["models_used"] == nlohmann::json({{"m", 7}, {"(other)", 1}}));
  CHECK(j["events_by_type"] == nlohmann::json({{"llm_call", 8}, {"(other)", 1}}));
  r = run_cli({"stats", "--url", server.url(), "--by", "model", "--max-values", "1"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("  by model (top 1 of 1 value, by calls)\n"));
  CHECK_THAT(r.out, Catch::Contains("    (other: values beyond the 1 counted apart): 1 call,"));
  // The largest cap is accepted.
  r = run_cli({"stats", "--url", server.url(), "--by", "model", "--max-values", "10000"});
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "stats --by escapes control characters in the table but not in --json and cuts long values",
    "[cli_it][usage]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  const std::string evil_user = "eve\x1b[31m\nfake: 99 calls\\";
  const std::string evil_model = std::string("mo\x07") + "del\xc2\x9b" + "2J";
  add_event(redis, user_call(evil_user, 100, 0.1, 10.0, evil_model));
  const std::string long_user = std::string(300, 'L');
  add_event(redis, user_call(long_user, 100, 0.1, 10.0));

  auto r = run_cli({"stats", "--url", server.url(), "--by", "tag:user_id"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find('\x1b') == std::string::npos);
  CHECK(r.out.find('\x07') == std::string::npos);
  CHECK(r.out.find("\xc2\x9b") == std::string::npos);
  CHECK_THAT(r.out, Catch::Contains("    eve\\x1b[31m\\x0afake: 99 calls\\\\: 1 call,"));
  CHECK_THAT(r.out, Catch::Contains("    mo\\x07del\\u009b2J: 1 call,"));
  CHECK_THAT(r.out, Catch::Contains("    " + std::string(256, 'L') + ": 1 call,"));
  CHECK(r.out.find(std::string(257, 'L')) == std::string::npos);

  r = run_cli({"stats", "--url", server.url(), "--by", "tag:user_id", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  const auto& by = j["by"];
  CHECK(by["value_max_bytes"] == 256);
  std::set<std::string> values;
  for (const auto& v : by["values"]) values.insert(v["value"].get<std::string>());
  CHECK(values == std::set<std::string>{evil_user, std::string(256, 'L')});
  CHECK(j["models"].contains(evil_model));
}

TEST_CASE("stats rejects a bad --by and its options without --by", "[cli_it][usage]") {
  RedisServer server;
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--by", "tag:"},
                                              {"--by", "user_id"},
                                              {"--by", "tag"},
                                              {"--by", "models"},
                                              {"--by", "tag:user_id", "--top", "0"},
                                              {"--by", "tag:user_id", "--sort", "latency"},
                                              {"--by", "tag:user_id", "--max-values", "0"},
                                              {"--by", "model", "--max-values", "10001"},
                                              {"--top", "5"},
                                              {"--sort", "cost"}}) {
    std::vector<std::string> args = {"stats", "--url", server.url()};
    args.insert(args.end(), bad.begin(), bad.end());
    CAPTURE(bad);
    const auto r = run_cli(args);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("streamll stats: ") != std::string::npos);
    CHECK(r.out.empty());
  }
  const auto r = run_cli({"stats", "--url", server.url(), "--by", "user_id"});
  CHECK_THAT(r.err, Catch::Contains("--by must be 'model' or 'tag:KEY'"));
  const auto help = run_cli({"stats", "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("--by model|tag:KEY"));
  CHECK_THAT(help.out, Catch::Contains("(none)"));
  CHECK_THAT(help.out, Catch::Contains("at most 10000"));
  CHECK_THAT(help.out, Catch::Contains("also caps the event types"));
}

TEST_CASE("stats and health report each model's latency percentiles", "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  // Model "a": 20 calls with TPOT 1..20 ms (so 1000/i tokens/s, and each call's own gap
  // p50/p95/max 0.5i/2i/3i ms); model "b": 2 calls that did not stream.
  for (int i = 1; i <= 20; ++i) {
    auto e = llm_call("a", 10, 0.5, 100.0 * i, 10.0 * i);
    e.data.set("time_per_output_token_ms", static_cast<double>(i));
    e.data.set("output_tokens_per_second", 1000.0 / i);
    e.data.set("inter_token_ms_p50", 0.5 * i);
    e.data.set("inter_token_ms_p95", 2.0 * i);
    e.data.set("inter_token_ms_max", 3.0 * i);
    add_event(redis, e);
  }
  for (int i = 0; i < 2; ++i) {
    auto e = llm_call("b", 5, 0.25, 50.0, 0);
    e.data.erase("ttft_ms");
    add_event(redis, e);
  }
  auto r = run_cli({"stats", "--url", server.url(), "--since", "1h", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto stats = nlohmann::json::parse(r.out);
  const auto& a = stats["models"]["a"];
  CHECK(a["calls"] == 20);
  CHECK(a["total_tokens"] == 200);
  CHECK(a["total_cost"] == Approx(10.0));
  CHECK(a["response_time_ms"]["p95"] == Approx(1900.0));  // nearest rank 19 of 20
  CHECK(a["ttft_ms"]["p50"] == Approx(100.0));
  CHECK(a["time_per_output_token_ms"]["p95"] == Approx(19.0));
  CHECK(a["time_per_output_token_ms"]["max"] == Approx(20.0));
  CHECK(a["inter_token_ms_p95"]["p50"] == Approx(20.0));
  // Sorted, the rates are 1000/20 .. 1000/1: rank 10 is 1000/11, rank 19 is 1000/2.
  const auto& rate = a["output_tokens_per_second"];
  CHECK(rate["count"] == 20);
  CHECK(rate["min"] == Approx(50.0));
  CHECK(rate["p50"] == Approx(1000.0 / 11));
  CHECK(rate["p95"] == Approx(500.0));
  CHECK(rate["max"] == Approx(1000.0));
  CHECK(rate["exact"] == true);
  CHECK(a["inter_token_ms_p50"]["count"] == 20);
  CHECK(a["inter_token_ms_p50"]["p50"] == Approx(5.0));
  CHECK(a["inter_token_ms_p50"]["p95"] == Approx(9.5));
  CHECK(a["inter_token_ms_max"]["count"] == 20);
  CHECK(a["inter_token_ms_max"]["p95"] == Approx(57.0));
  CHECK(a["inter_token_ms_max"]["max"] == Approx(60.0));
  const auto& b = stats["models"]["b"];
  CHECK(b["calls"] == 2);
  CHECK(b["ttft_ms"]["count"] == 0);
  CHECK(b["time_per_output_token_ms"]["count"] == 0);
  for (const char* key : {"output_tokens_per_second", "inter_token_ms_p50", "inter_token_ms_max"})
    CHECK(b[key]["count"] == 0);

  r = run_cli({"stats", "--url", server.url(), "--since", "1h"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("    a: 20 calls, 200 tokens, $10.0000\n") != std::string::npos);
  CHECK(r.out.find("      time per token        avg 10.5ms  p50 10.0ms  p95 19.0ms  p99 20.0ms  "
                   "max 20.0ms\n") != std::string::npos);
  CHECK(r.out.find("      inter-token max       avg 31.5ms  p50 30.0ms  p95 57.0ms  p99 60.0ms  "
                   "max 60.0ms\n") != std::string::npos);
  {
    // Each call's own p50 gap is 0.5i ms (its average, 5.25, would round either way).
    const auto at = r.out.find("      inter-token p50       avg ");
    REQUIRE(at != std::string::npos);
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    CHECK_THAT(line, Catch::EndsWith("p50 5.0ms  p95 9.5ms  p99 10.0ms  max 10.0ms"));
  }
  // The mean of 1000/i over i = 1..20 is 179.887 tokens/s.
  CHECK(r.out.find("      output tokens/s       min 50.0/s  avg 179.9/s  p50 90.9/s  p95 500.0/s  "
                   "p99 1000.0/s  max 1000.0/s\n") != std::string::npos);
  CHECK(r.out.find("    b: 2 calls, 10 tokens, $0.5000\n") != std::string::npos);

  r = run_cli({"health", "--url", server.url(), "--window", "1h"});
  CHECK(r.exit_code == 0);
  CHECK(
      r.out.find("    a: 20 calls, response 1900.0ms, ttft 190.0ms, tpot 19.0ms, "
                 "inter-token 38.0ms\n"
                 "      inter-token p50 9.5ms, inter-token max 57.0ms, slowest 50.0 tokens/s\n") !=
      std::string::npos);
  CHECK(r.out.find("    b: 2 calls, response 50.0ms\n") != std::string::npos);
  r = run_cli({"health", "--url", server.url(), "--window", "1h", "--json"});
  const auto health = nlohmann::json::parse(r.out);
  CHECK(health["models"]["a"]["time_per_output_token_ms"]["p95"] == Approx(19.0));
  CHECK(health["models"]["a"]["output_tokens_per_second"]["min"] == Approx(50.0));
  CHECK(health["models"]["a"]["inter_token_ms_p50"]["p95"] == Approx(9.5));
  CHECK(health["models"]["a"]["inter_token_ms_max"]["p95"] == Approx(57.0));
  CHECK(health["models"]["b"]["output_tokens_per_second"]["count"] == 0);
}

TEST_CASE("tail as a group consumer acknowledges what it showed and groups shows it", "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  for (int i = 0; i < 7; ++i) add_event(redis, llm_call("m", i, 0, 1, 1));
  add_event(redis, streamll::consumerit::error_event());
  auto r = run_cli({"tail", "--url", server.url(), "--group", "viewers", "--consumer", "me",
                    "--from-beginning", "--no-follow", "--type", "error"});
  CHECK(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK(r.out.find("TimeoutError") != std::string::npos);
  CHECK(streamll::consumerit::pending_count(redis, "viewers") == 0);
  r = run_cli({"groups", "--url", server.url(), "--json"});
  CHECK(r.exit_code == 0);
  const auto groups = nlohmann::json::parse(r.out);
  REQUIRE(groups.size() == 1);
  CHECK(groups[0]["name"] == "viewers");
  CHECK(groups[0]["lag"] == 0);
  CHECK(groups[0]["consumer_list"][0]["name"] == "me");
  r = run_cli(
      {"tail", "--url", server.url(), "--from-beginning", "--count", "3", "--color", "never"});
  CHECK(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);
}

TEST_CASE("The guide's Python consumer reads what the C++ library wrote", "[cli_it][interop]") {
  RedisServer server;
  {
    auto options = streamll::sinkit::fast_options(server.url());
    auto sink = std::make_shared<streamll::RedisSink>(options);
    streamll::Instrumentor inst({{sink}, {{"environment", "interop"}}, "interop"});
    for (int i = 0; i < 5; ++i) {
      streamll::Span span(inst, "answer_generation");
      streamll::LlmCall call(inst, "gemini/gemini-2.0-flash");
      call.token("Hello");
      call.token(" world");
      if (i == 4) {
        call.fail("RateLimitError", "429");
      } else {
        streamll::LlmUsage usage;
        usage.input_tokens = 10;
        usage.output_tokens = 2;
        usage.cost_usd = 0.001;
        call.finish(usage);
      }
    }
    REQUIRE(sink->flush(10s));
  }
  // 5 x (start, 2 tokens, llm_call, end) + 1 error = 26 events.
  const std::string out_file = server.dir() + "/python.out";
  const int rc =
      streamll::test::run_bounded({STREAMLL_PYTHON, STREAMLL_GUIDE_CONSUMER, server.url(),
                                   "ml_events", "analytics_team", "analytics_worker_1", "26"},
                                  90, out_file);
  const std::string out = streamll::test::read_text_file(out_file);
  INFO(out);
  REQUIRE(rc == 0);
  const auto j = nlohmann::json::parse(out.substr(out.find('{')));
  CHECK(j["processed"] == 26);
  CHECK(j["counts"]["llm_call"] == 5);
  CHECK(j["counts"]["token"] == 10);
  CHECK(j["counts"]["error"] == 1);
  CHECK(j["models"]["gemini/gemini-2.0-flash"] == 5);
  CHECK(j["errors"] == nlohmann::json::array({"RateLimitError"}));
  CHECK(j["tokens"] == "Hello worldHello worldHello worldHello worldHello world");
  auto redis = DirectRedis::tcp(server.port());
  CHECK(streamll::consumerit::pending_count(redis, "analytics_team") == 0);
}

namespace {

// Waits for `file` (an external process's output) to contain `text`; false at the deadline.
bool wait_for_text(const std::string& file, const std::string& text,
                   std::chrono::seconds limit = 20s) {
  return eventually(
      [&] { return streamll::test::read_text_file(file).find(text) != std::string::npos; }, limit);
}

}  // namespace

TEST_CASE("streamll tail waits for a stream that does not exist yet unless told not to",
          "[cli_it]") {
  RedisServer server;
  auto r = run_cli({"tail", "--url", server.url(), "--stream", "later", "--fail-missing"});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("stream 'later' does not exist") != std::string::npos);
  r = run_cli({"tail", "--url", server.url(), "--stream", "later", "--no-follow"});
  CHECK(r.exit_code == 4);

  const std::string out_file = server.dir() + "/tail.out";
  const pid_t tail = streamll::test::spawn_process(
      {"timeout", "-s", "KILL", "30", STREAMLL_CLI_PATH, "tail", "--url", server.url(), "--stream",
       "later", "--count", "1", "--color", "never"},
      out_file);
  const bool waiting = wait_for_text(out_file, "does not exist yet; waiting for it");
  // The stream appears only now: the first event written to it is shown, not skipped as old.
  auto redis = DirectRedis::tcp(server.port());
  add_event(redis, llm_call("late-model", 5, 0, 1, 1), "*", "later");
  const int rc = streamll::test::wait_process(tail);
  const std::string out = streamll::test::read_text_file(out_file);
  INFO(out);
  CHECK(waiting);
  CHECK(rc == 0);
  CHECK(out.find("late-model") != std::string::npos);
}

TEST_CASE("streamll consume counts failed events toward --count and backs off and exits 1",
          "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  for (int i = 0; i < 8; ++i) add_event(redis, llm_call("m", i, 0, 1, 1));
  const auto started = std::chrono::steady_clock::now();
  auto r =
      run_cli({"consume", "--url", server.url(), "--group", "g", "--consumer", "c", "--count", "4",
               "--exec", "exit 1", "--retry-delay", "100ms", "--retry-max-delay", "250ms"},
              {}, 30);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  INFO(r.err);
  CHECK(r.exit_code == 1);
  const auto failure_lines = [](const std::string& err) {
    std::size_t n = 0;
    for (auto at = err.find("left pending:"); at != std::string::npos;
         at = err.find("left pending:", at + 1))
      ++n;
    return n;
  };
  CHECK(failure_lines(r.err) == 4);
  CHECK(r.err.find("handled 0, acknowledged 0, failed 4") != std::string::npos);
  // Pauses after the first three failures (none after the last): 100 + 200 + 250 (the cap).
  CHECK(elapsed >= 550ms);
  // What it failed is still pending, for a retry (with the batch the consumer read ahead).
  CHECK(streamll::consumerit::pending_count(redis, "g") >= 4);

  // Its own re-deliveries (claimed at once here) also count, and a success is acknowledged.
  r = run_cli({"consume", "--url", server.url(), "--group", "g", "--consumer", "c2", "--count", "3",
               "--claim-idle", "1ms", "--exec", "exit 1", "--retry-delay", "0"},
              {}, 30);
  CHECK(r.exit_code == 1);
  CHECK(failure_lines(r.err) == 3);
  CHECK(r.err.find("claimed 3") != std::string::npos);
  r = run_cli({"consume", "--url", server.url(), "--group", "g", "--consumer", "c3", "--no-follow",
               "--claim-idle", "1ms", "--exec", "cat >/dev/null"},
              {}, 30);
  CHECK(r.exit_code == 0);
  CHECK(streamll::consumerit::pending_count(redis, "g") == 0);
}

TEST_CASE("stats and health and analyze_usage agree on the error rate", "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  // 40 LLM calls, 3 errors, and token events that must not dilute the rate.
  for (int i = 0; i < 40; ++i) add_event(redis, llm_call("m", 10, 0.001, 100, 10));
  for (int i = 0; i < 3; ++i) add_event(redis, streamll::consumerit::error_event());
  for (int i = 0; i < 200; ++i) {
    streamll::Fields data;
    data.append_new("token", "x");
    add_event(redis,
              streamll::Event::capture(streamll::EventType::token, nullptr, std::move(data)));
  }
  const double expected = 3.0 / 40.0;
  streamll::RedisConnectionOptions options;
  options.url = server.url();
  const auto usage = streamll::analyze_usage(options, "ml_events");
  REQUIRE(usage.error_rate);
  CHECK(*usage.error_rate == Approx(expected));
  streamll::HealthThresholds thresholds;
  thresholds.window = std::chrono::minutes(10);
  const auto health = streamll::check_health(options, "ml_events", thresholds);
  REQUIRE(health.error_rate);
  CHECK(*health.error_rate == Approx(expected));
  CHECK(health.llm_calls_in_window == 40);
  CHECK(streamll::error_rate(3, 40) == Approx(expected));

  auto r = run_cli({"stats", "--url", server.url(), "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["error_rate"].get<double>() == Approx(expected));
  r = run_cli({"stats", "--url", server.url()});
  CHECK(r.out.find("3 (error rate 7.50% of LLM calls)") != std::string::npos);
  // 7.5% is above the default 5% threshold.
  r = run_cli({"health", "--url", server.url(), "--json", "--window", "10m"});
  CHECK(r.exit_code == 1);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["error_rate"].get<double>() == Approx(expected));
  CHECK(j["alerts"][0]["kind"] == "high_error_rate");
  r = run_cli({"health", "--url", server.url(), "--window", "10m", "--max-error-rate", "0.08"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("7.5% of LLM calls (3 errors, 40 calls)") != std::string::npos);

  // Errors and no call to divide by: no rate, so no error-rate alert; the errors still show.
  add_event(redis, streamll::consumerit::error_event(), "*", "no_calls");
  r = run_cli(
      {"health", "--url", server.url(), "--stream", "no_calls", "--json", "--window", "10m"});
  CHECK(r.exit_code == 0);
  const auto none = nlohmann::json::parse(r.out);
  CHECK(none["error_rate"].is_null());
  CHECK(none["errors_in_window"] == 1);
  CHECK(none["alerts"].empty());
  r = run_cli({"stats", "--url", server.url(), "--stream", "no_calls", "--json"});
  CHECK(nlohmann::json::parse(r.out)["error_rate"].is_null());
}

TEST_CASE("stats --json on a missing stream prints a JSON error and emit clears its progress line",
          "[cli_it]") {
  RedisServer server;
  auto r = run_cli({"stats", "--url", server.url(), "--stream", "missing", "--json"});
  CHECK(r.exit_code == 4);
  const auto j = nlohmann::json::parse(r.out);  // stdout is JSON either way
  CHECK(j["error"]["kind"] == "stream_missing");
  CHECK(j["error"]["exit_code"] == 4);
  CHECK(j["error"]["message"].get<std::string>().find("stream 'missing' does not exist") !=
        std::string::npos);
  CHECK(r.err.find("streamll stats: stream 'missing' does not exist") != std::string::npos);
  r = run_cli({"groups", "--url", "redis://127.0.0.1:1", "--json"});
  CHECK(r.exit_code == 2);
  CHECK(nlohmann::json::parse(r.out)["error"]["kind"] == "unreachable");

  auto redis = DirectRedis::tcp(server.port());
  add_event(redis, llm_call("m", 1, 0, 1, 1));
  r = run_cli({"stats", "--url", server.url()});
  CHECK(r.out.find("(1 page read in") != std::string::npos);

  r = run_cli({"emit", "--url", server.url(), "--count", "300", "--rate", "1000", "--progress"});
  CHECK(r.exit_code == 0);
  REQUIRE(r.err.find("emitted ") != std::string::npos);  // the progress line was shown...
  const std::string last = r.err.substr(r.err.rfind('\r') + 1);
  CHECK(last.empty());  // ...and blanked: nothing of it is left before the summary
  CHECK(r.err.find('\n') == std::string::npos);
  CHECK(r.out.find("emitted     300 events") == 0);
}

TEST_CASE("CLI argument errors come before connecting and in JSON with --json", "[cli_it]") {
  const std::string dead = "redis://127.0.0.1:1";
  // emit: a contradiction is a usage error even when Redis is unreachable.
  auto r = run_cli({"emit", "--url", dead, "--count", "1", "--progress", "--no-progress"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("--progress and --no-progress contradict") != std::string::npos);
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--token-mode", "every"},
                                             {"--tokens-per-call", "0"},
                                             {"--chunk-tokens", "1025"},
                                             {"--chunk-tokens", "0"},
                                             {"--chunk-interval", "25h"},
                                             {"--token-interval", "0ms"}}) {
    std::vector<std::string> args = {"emit", "--url", dead, "--count", "1"};
    if (bad[0] != "--token-mode") args.insert(args.end(), {"--token-mode", "chunked"});
    args.insert(args.end(), bad.begin(), bad.end());
    r = run_cli(args);
    CAPTURE(bad[0], bad[1]);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(bad[0] + " must be") != std::string::npos);
  }
  r = run_cli({"emit", "--url", dead, "--count", "1", "--chunk-tokens", "8"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("need --token-mode chunked") != std::string::npos);

  // A parse error with --json among the arguments: the JSON error object too.
  r = run_cli({"stats", "--url", dead, "--since", "soon", "--json"});
  CHECK(r.exit_code == 64);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["error"]["kind"] == "usage");
  CHECK(j["error"]["exit_code"] == 64);
  r = run_cli({"health", "--json", "--no-such-option"});
  CHECK(r.exit_code == 64);
  CHECK(nlohmann::json::parse(r.out)["error"]["kind"] == "usage");

  // consume: a retry pause not below --claim-idle would let another worker claim the batch.
  r = run_cli(
      {"consume", "--url", dead, "--group", "g", "--claim-idle", "5s", "--retry-max-delay", "5s"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("must be shorter than --claim-idle") != std::string::npos);
  r = run_cli({"consume", "--url", dead, "--group", "g", "--retry-delay", "90s"});
  CHECK(r.exit_code == 64);

  // The top-level help gives health's exit codes as the command does.
  r = run_cli({"--help"});
  CHECK(r.out.find("1 alert, 7 producer alert; not") != std::string::npos);
  CHECK(r.out.find("checked: 2 unreachable, 3 login refused, 5 command refused, 64 usage") !=
        std::string::npos);
}
