// `streamll exporter` beside the group consumer it is built on, in the same run:
//  1. a GroupConsumer with a no-op handler reading a prefilled stream of llm_call events, in
//     events per second (as consumer_throughput);
//  2. the real `streamll exporter` started on the same stream in a group of its own: events
//     per second from its start until its group has read and acknowledged every entry;
//  3. its /metrics scrape time, median and maximum over repeated GETs, with the series served
//     (the events spread over --models models: 45 series each).
//
//   exporter_throughput --cli PATH [--events N] [--models M] [--scrapes S] [--json FILE]
//
// Redis: REDIS_URL (redis://host:port) or a throwaway redis-server on a free loopback port.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_redis.hpp"
#include "group_consumer_rate.hpp"
#include "redis/transport/command_buffer.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/redis/consumer.hpp"
#include "typical_events.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::size_t events = 500000;
  std::size_t models = 25;
  std::size_t scrapes = 50;
#ifdef STREAMLL_CLI_PATH
  std::string cli = STREAMLL_CLI_PATH;
#else
  std::string cli;
#endif
  std::string json;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--events" && next)
      a.events = std::stoul(argv[++i]);
    else if (arg == "--models" && next)
      a.models = std::max<std::size_t>(1, std::stoul(argv[++i]));
    else if (arg == "--scrapes" && next)
      a.scrapes = std::max<std::size_t>(1, std::stoul(argv[++i]));
    else if (arg == "--cli" && next)
      a.cli = argv[++i];
    else if (arg == "--json" && next)
      a.json = argv[++i];
    else {
      std::cerr << "usage: exporter_throughput --cli PATH [--events N] [--models M] "
                   "[--scrapes S] [--json FILE]\n";
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  if (a.cli.empty()) {
    std::cerr << "exporter_throughput: --cli PATH is needed (the streamll binary)\n";
    std::exit(2);
  }
  return a;
}

std::unique_ptr<streamll::redis::RedisTransport> connect(const std::string& url) {
  streamll::RedisConnectionOptions o;
  o.url = url;
  o.socket_timeout = std::chrono::seconds(30);
  auto t = streamll::redis::make_socket_transport(o);
  t->connect();
  return t;
}

// A typical llm_call event's JSON, its model one of `models`, pipelined 1000 per round trip.
void fill(const std::string& url, const std::string& key, std::size_t n, std::size_t models) {
  auto t = connect(url);
  t->command({"DEL", key});
  const std::string json = streamll::to_json(streamll::bench::typical_llm_call_event());
  const std::string model = "\"gpt-4o-mini\"";
  const auto at = json.find(model);
  streamll::redis::CommandBuffer commands;
  std::vector<streamll::redis::RedisReply> replies;
  for (std::size_t done = 0; done < n;) {
    commands.clear();
    const std::size_t batch = std::min<std::size_t>(1000, n - done);
    for (std::size_t i = 0; i < batch; ++i) {
      std::string event = json;
      if (at != std::string::npos) {
        event.replace(at, model.size(), "\"model-" + std::to_string((done + i) % models) + "\"");
      }
      commands.append({"XADD", key, "*", "event", event});
    }
    t->execute(commands, replies);
    done += batch;
  }
}

// The group's entries-read and pending from XINFO GROUPS (RESP2: flat name/value pairs).
std::optional<std::pair<std::int64_t, std::int64_t>> group_progress(
    streamll::redis::RedisTransport& t, const std::string& key, const std::string& group) {
  const auto reply = t.command({"XINFO", "GROUPS", key});
  for (const auto& g : reply.elements) {
    std::string name;
    std::int64_t read = -1, pending = -1;
    for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      const std::string& field = g.elements[i].text;
      const auto& value = g.elements[i + 1];
      if (field == "name") name = value.text;
      if (field == "entries-read" && value.is_integer()) read = value.integer;
      if (field == "pending" && value.is_integer()) pending = value.integer;
    }
    if (name == group) return std::make_pair(read, pending);
  }
  return std::nullopt;
}

// One GET /metrics over a fresh connection: the body, empty on failure.
std::string get_metrics(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[65536];
      for (ssize_t got; (got = ::read(fd, buf, sizeof(buf))) > 0;) {
        response.append(buf, static_cast<std::size_t>(got));
      }
    }
  }
  ::close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  streamll::bench::silence_streamll_logs();
  streamll::bench::BenchRedis redis;
  const std::string key = "bench_exporter";
  std::cerr << "filling " << args.events << " llm_call entries over " << args.models
            << " models...\n";
  fill(redis.url(), key, args.events, args.models);
  nlohmann::json result = {{"events", args.events}, {"models", args.models}};

  const double consumer =
      streamll::bench::group_consumer_rate(redis.url(), key, args.events, 100, true);
  result["consumer_events_per_second"] = consumer;
  std::cout << "group consumer, no-op handler: " << static_cast<long>(consumer) << " events/s\n";

  const std::string log = "/tmp/exporter_throughput.log";
  std::remove(log.c_str());  // spawn_process appends: an earlier run's port must not be read
  const auto start = Clock::now();
  const pid_t pid = streamll::test::spawn_process(
      {args.cli, "exporter", "--url", redis.url(), "--stream", key, "--listen", "127.0.0.1:0",
       "--group", "bench_exporter", "--refresh", "1s"},
      log);
  auto t = connect(redis.url());
  double exporter = 0;
  for (const auto deadline = start + std::chrono::minutes(10); Clock::now() < deadline;) {
    const auto progress = group_progress(*t, key, "bench_exporter");
    if (progress && progress->first >= static_cast<std::int64_t>(args.events) &&
        progress->second == 0) {
      exporter = static_cast<double>(args.events) /
                 std::chrono::duration<double>(Clock::now() - start).count();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  result["exporter_events_per_second"] = exporter;
  std::cout << "streamll exporter, from its start to every entry acknowledged: "
            << static_cast<long>(exporter) << " events/s ("
            << static_cast<int>(100.0 * exporter / consumer) << "% of the consumer's)\n";

  int port = 0;
  const std::string text = streamll::test::read_text_file(log);
  const auto at = text.find("http://127.0.0.1:");
  if (at != std::string::npos) port = std::stoi(text.substr(at + 17));
  std::vector<double> ms;
  std::size_t series = 0;
  for (std::size_t i = 0; port != 0 && i < args.scrapes; ++i) {
    const auto begin = Clock::now();
    const std::string body = get_metrics(port);
    if (body.empty()) break;  // not an answer: no time to report
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
    series = 0;
    for (std::size_t line = 0; line < body.size();) {
      const auto end = body.find('\n', line);
      if (body[line] != '#') ++series;
      line = end == std::string::npos ? body.size() : end + 1;
    }
  }
  ::kill(pid, SIGTERM);
  const int status = streamll::test::wait_process(pid);
  if (ms.empty()) {
    std::cerr << "exporter_throughput: no scrape (exporter log: " << text << ")\n";
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  result["scrape_series"] = series;
  result["scrape_ms_median"] = ms[ms.size() / 2];
  result["scrape_ms_max"] = ms.back();
  result["exporter_exit_status"] = status;
  std::cout << "GET /metrics, " << series << " series: median " << ms[ms.size() / 2] << " ms, max "
            << ms.back() << " ms over " << ms.size() << " scrapes\n";
  if (!args.json.empty()) std::ofstream(args.json) << result.dump(2) << "\n";
  return status == 0 ? 0 : 1;
}
