// `streamll exporter` scraped by a real Prometheus server (Debian's prometheus) while a producer
// emits into a throwaway Redis: the values read back through Prometheus's query API match what
// was emitted, counted from the stream itself.

#include <catch2/catch.hpp>

#ifdef STREAMLL_PROMETHEUS  // tests/CMakeLists.txt leaves this out without prometheus

#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis_server.hpp"
#include "subprocess.hpp"

namespace {

using streamll::consumerit::DirectRedis;
using streamll::consumerit::run_cli;
using streamll::test::RedisServer;

// Kills (SIGTERM, then waits) a process started for the test, whatever happens.
struct Process {
  pid_t pid = -1;
  /// SIGTERM, then its exit status (-1 when it was not running).
  int stop() {
    if (pid <= 0) return -1;
    ::kill(pid, SIGTERM);
    const int status = streamll::test::wait_process(pid);
    pid = -1;
    return status;
  }
  ~Process() { stop(); }
};

// One instant query: the value of a one-element vector, nullopt until there is one.
std::optional<double> query(int port, const std::string& expr) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  const auto res = client.Get("/api/v1/query?query=" + httplib::detail::encode_query_param(expr));
  if (!res || res->status != 200) return std::nullopt;
  const auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (body.is_discarded() || body.value("status", "") != "success") return std::nullopt;
  const auto& result = body["data"]["result"];
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::stod(result[0]["value"][1].get<std::string>());
}

}  // namespace

TEST_CASE("The exporter names what stops it from starting, with its exit status", "[prometheus]") {
  RedisServer server;
  // An address taken (by the Redis server): 64, before anything is consumed.
  auto taken = run_cli(
      {"exporter", "--url", server.url(), "--listen", "127.0.0.1:" + std::to_string(server.port())},
      {}, 20);
  CHECK(taken.exit_code == 64);
  CHECK(taken.err.find("cannot listen on 127.0.0.1:" + std::to_string(server.port())) !=
        std::string::npos);
  auto bad = run_cli({"exporter", "--url", server.url(), "--listen", "127.0.0.1:70000"}, {}, 20);
  CHECK(bad.exit_code == 64);
  // Redis unreachable at start: 2.
  const int nobody = RedisServer::free_port();
  auto unreachable = run_cli({"exporter", "--url", "redis://127.0.0.1:" + std::to_string(nobody),
                              "--listen", "127.0.0.1:0"},
                             {}, 20);
  CHECK(unreachable.exit_code == 2);
}

// The port an exporter started with --listen 127.0.0.1:0 serves on, from its "serving" line in
// `log_path`; 0 when that line does not come.
int served_port(const std::string& log_path) {
  int port = 0;
  streamll::testing::eventually([&] {
    const std::string log = streamll::test::read_text_file(log_path);
    const auto at = log.find("http://127.0.0.1:");
    // The whole line, not just its start (stderr writes it in pieces).
    if (at == std::string::npos || log.find("/metrics", at) == std::string::npos) return false;
    port = std::stoi(log.substr(at + 17));
    return true;
  });
  return port;
}

// The exporter's own /metrics body (empty when it does not answer).
std::string scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  const auto res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : std::string();
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_CASE("The exporter shows a Redis outage in its gauges and counts again after a restart",
          "[prometheus]") {
  RedisServer server;
  char dir_pattern[] = "/tmp/sllexp-XXXXXX";
  const std::string dir = ::mkdtemp(dir_pattern);
  Process exporter;
  exporter.pid =
      streamll::test::spawn_process({STREAMLL_CLI_PATH, "exporter", "--url", server.url(),
                                     "--listen", "127.0.0.1:0", "--refresh", "200ms"},
                                    dir + "/exporter.log");
  const int port = served_port(dir + "/exporter.log");
  REQUIRE(port > 0);
  INFO("exporter log: " << streamll::test::read_text_file(dir + "/exporter.log"));
  REQUIRE(streamll::testing::eventually(
      [&] { return has_line(scrape(port), "streamll_exporter_refresh_success 1"); }));

  server.kill9();  // the scrapes go on, from what was read last, and say the refresh fails
  CHECK(streamll::testing::eventually(
      [&] { return has_line(scrape(port), "streamll_exporter_refresh_success 0"); }));

  server.restart();  // empty: the consumer recreates its group, the refresh reads again
  const auto emitted = run_cli({"emit", "--url", server.url(), "--count", "50"});
  REQUIRE(emitted.exit_code == 0);
  CHECK(streamll::testing::eventually(
      [&] {
        const std::string body = scrape(port);
        return has_line(body, "streamll_exporter_refresh_success 1") &&
               has_line(body, R"(streamll_stream_length{stream="ml_events"} 50)");
      },
      std::chrono::seconds(30)));
  CHECK(streamll::testing::eventually(
      [&] {
        const std::string body = scrape(port);
        return has_line(
            body, R"(streamll_consumer_group_lag{stream="ml_events",group="streamll-exporter"} 0)");
      },
      std::chrono::seconds(30)));
  CHECK(exporter.stop() == 0);
  REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}

TEST_CASE("Prometheus scrapes the exporter and reads back what was emitted", "[prometheus]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  char dir_pattern[] = "/tmp/sllprom-XXXXXX";
  const std::string dir = ::mkdtemp(dir_pattern);

  Process exporter;
  exporter.pid =
      streamll::test::spawn_process({STREAMLL_CLI_PATH, "exporter", "--url", server.url(),
                                     "--listen", "127.0.0.1:0", "--refresh", "1s"},
                                    dir + "/exporter.log");
  const int exporter_port = served_port(dir + "/exporter.log");
  REQUIRE(exporter_port > 0);

  // A second exporter on the same address fails to start (no SO_REUSEPORT sharing).
  CHECK(run_cli({"exporter", "--url", server.url(), "--listen",
                 "127.0.0.1:" + std::to_string(exporter_port)},
                {}, 20)
            .exit_code == 64);

  const int prometheus_port = RedisServer::free_port();
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
      << "scrape_configs:\n  - job_name: streamll\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << exporter_port << "']\n";
  Process prometheus;
  prometheus.pid = streamll::test::spawn_process(
      {STREAMLL_PROMETHEUS, "--config.file=" + dir + "/prometheus.yml",
       "--storage.tsdb.path=" + dir + "/data",
       "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
      dir + "/prometheus.log");

  const auto emitted = run_cli({"emit", "--url", server.url(), "--count", "400", "--json"});
  REQUIRE(emitted.exit_code == 0);
  // The oracle: the stream itself.
  std::int64_t llm_calls = 0, input_tokens = 0;
  for (const auto& entry : redis.xrange("ml_events")) {
    const auto event = nlohmann::json::parse(*entry.field("event"));
    if (event["event_type"] != "llm_call") continue;
    if (event["data"].value("sampled_out", false)) continue;
    ++llm_calls;
    input_tokens += event["data"].value("input_tokens", std::int64_t{0});
  }
  REQUIRE(llm_calls > 0);

  INFO("prometheus log: " << streamll::test::read_text_file(dir + "/prometheus.log"));
  INFO("exporter log: " << streamll::test::read_text_file(dir + "/exporter.log"));
  const auto is = [&](const std::string& expr, double want) {
    return streamll::testing::eventually([&] { return query(prometheus_port, expr) == want; },
                                         std::chrono::seconds(60));
  };
  CHECK(is("sum(streamll_exporter_events_total)", 400));
  CHECK(is("sum(streamll_llm_calls_total)", static_cast<double>(llm_calls)));
  CHECK(is("sum(streamll_llm_input_tokens_total)", static_cast<double>(input_tokens)));
  CHECK(is("sum(streamll_llm_call_duration_seconds_count)", static_cast<double>(llm_calls)));
  CHECK(is("up{job=\"streamll\"}", 1));
  // Read every --refresh: the stream's length, and the exporter's own group caught up.
  CHECK(is("streamll_stream_length{stream=\"ml_events\"}", 400));
  CHECK(is("streamll_consumer_group_lag{stream=\"ml_events\",group=\"streamll-exporter\"}", 0));
  CHECK(is("streamll_exporter_refresh_success", 1));

  // SIGTERM stops the consumer, the HTTP server and the refresh thread: exit 0, promptly.
  const auto stopping = std::chrono::steady_clock::now();
  CHECK(exporter.stop() == 0);
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(5));
  REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}

#endif  // STREAMLL_PROMETHEUS
