// The streamll binary against real redis-server processes: exit codes, garbage entries,
// emit and stats agreeing, tail and consume; and the guide's Python consumer reading what the
// library wrote.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using streamll::consumerit::add_event;
using streamll::consumerit::llm_call;
using streamll::consumerit::run_cli;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;

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

TEST_CASE("streamll health exits 0 healthy, 1 on an alert, 2 when Redis is unreachable", "[cli_it]") {
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

TEST_CASE("streamll reports a refused login and a missing stream with their own exit codes", "[cli_it]") {
  RedisServerOptions secure;
  secure.requirepass = "s3cret-pw";
  RedisServer server(secure);
  auto r = run_cli({"stats", "--url", server.url()}, {{"REDIS_PASSWORD", "wrong-pw"}});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("authentication") != std::string::npos);
  CHECK(r.err.find("wrong-pw") == std::string::npos);  // never echo a secret
  r = run_cli({"stats", "--url", server.url()});
  CHECK(r.exit_code == 3);
  r = run_cli({"stats", "--url", server.url(), "--stream", "missing"}, {{"REDIS_PASSWORD", "s3cret-pw"}});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("stream 'missing' does not exist") != std::string::npos);
  r = run_cli({"groups"}, {{"REDIS_URL", server.url()}, {"REDIS_PASSWORD", "s3cret-pw"}, {"STREAMLL_STREAM_KEY", "missing"}});
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

  auto r = run_cli({"tail", "--url", server.url(), "--from-beginning", "--no-follow", "--color", "never"});
  CHECK(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  CHECK(r.out.find("gpt-4o-mini") != std::string::npos);
  CHECK(r.err.find("4 entries were not streamll events: 1 without an event field, 2 malformed JSON, 1 not an event") !=
        std::string::npos);

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

TEST_CASE("tail as a group consumer acknowledges what it showed and groups shows it", "[cli_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  for (int i = 0; i < 7; ++i) add_event(redis, llm_call("m", i, 0, 1, 1));
  add_event(redis, streamll::consumerit::error_event());
  auto r = run_cli({"tail", "--url", server.url(), "--group", "viewers", "--consumer", "me", "--from-beginning",
                    "--no-follow", "--type", "error"});
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
  r = run_cli({"tail", "--url", server.url(), "--from-beginning", "--count", "3", "--color", "never"});
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
  const int rc = streamll::test::run_bounded({STREAMLL_PYTHON, STREAMLL_GUIDE_CONSUMER, server.url(), "ml_events",
                                              "analytics_team", "analytics_worker_1", "26"},
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
