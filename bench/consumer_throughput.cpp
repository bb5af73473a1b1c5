// Consumer-side throughput, beside what Redis itself serves in the same run:
//  1. a GroupConsumer with a no-op handler (batched XREADGROUP + one XACK per batch) reading
//     a prefilled stream, in events per second;
//  2. redis-benchmark's `XRANGE <stream> - + COUNT 100` on the same server and data, in
//     entries per second (requests/s x 100), with one connection like the consumer;
//  3. `streamll stats` (the real binary) over the whole stream, its wall time and peak RSS,
//     and over a tenth of it: the memory must not grow with the range.
//
//   consumer_throughput [--events N] [--batch B] [--cli PATH] [--json FILE]
//
// Redis: REDIS_URL (redis://host:port) or a throwaway redis-server on a free loopback port.

#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "bench_redis.hpp"
#include "group_consumer_rate.hpp"
#include "redis/transport/command_buffer.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/redis/consumer.hpp"
#include "typical_events.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::size_t events = 1000000;
  std::size_t batch = 1000;
#ifdef STREAMLL_CLI_PATH
  std::string cli = STREAMLL_CLI_PATH;
#else
  std::string cli;
#endif
  std::string json;
  bool serial_decode = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--events" && next)
      a.events = std::stoul(argv[++i]);
    else if (arg == "--batch" && next)
      a.batch = std::stoul(argv[++i]);
    else if (arg == "--cli" && next)
      a.cli = argv[++i];
    else if (arg == "--json" && next)
      a.json = argv[++i];
    else if (arg == "--serial-decode")
      a.serial_decode = true;
    else {
      std::cerr << "usage: consumer_throughput [--events N] [--batch B] [--cli PATH] [--json FILE] "
                   "[--serial-decode]\n";
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  return a;
}

// Pipelined XADDs of a typical llm_call event's JSON (fresh ids each), 1000 per round trip.
// Returns the millisecond part of the id of entry number `mark`.
std::string fill(const std::string& url, const std::string& key, std::size_t n, std::size_t mark) {
  std::string mark_ms = "0";
  streamll::RedisConnectionOptions o;
  o.url = url;
  o.socket_timeout = std::chrono::seconds(30);
  auto t = streamll::redis::make_socket_transport(o);
  t->connect();
  t->command({"DEL", key});
  streamll::redis::CommandBuffer commands;
  std::vector<streamll::redis::RedisReply> replies;
  for (std::size_t done = 0; done < n;) {
    commands.clear();
    const std::size_t batch = std::min<std::size_t>(1000, n - done);
    for (std::size_t i = 0; i < batch; ++i) {
      const std::string json = streamll::to_json(streamll::bench::typical_llm_call_event());
      commands.append({"XADD", key, "*", "event", json});
    }
    t->execute(commands, replies);
    if (mark >= done && mark < done + batch) {
      const std::string& id = replies[mark - done].text;
      mark_ms = id.substr(0, id.find('-'));
    }
    done += batch;
  }
  return mark_ms;
}

double xrange_entries_per_second(const streamll::bench::BenchRedis& redis, const std::string& key) {
  std::vector<std::string> command = {"redis-benchmark"};
  for (const auto& a : redis.host_port_args()) command.push_back(a);
  for (const std::string& a :
       {std::string("-c"), std::string("1"), std::string("-n"), std::string("20000"),
        std::string("-q"), std::string("XRANGE"), key, std::string("-"), std::string("+"),
        std::string("COUNT"), std::string("100")}) {
    command.push_back(a);
  }
  const std::string out_file = "/tmp/consumer_throughput_rb.out";
  streamll::test::run_bounded(command, 300, out_file);
  const std::string out = streamll::test::read_text_file(out_file);
  std::smatch m;
  // "XRANGE ml_events - + COUNT 100: 12345.67 requests per second, p50=..." (last \r-update)
  const std::regex rps(R"(([0-9.]+) requests per second)");
  double last = 0;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), rps); it != std::sregex_iterator();
       ++it) {
    last = std::stod((*it)[1]);
  }
  return last * 100.0;
}

struct CliRun {
  double seconds = 0;
  long max_rss_kb = 0;
  int exit_code = -1;
  std::string out;
};

// Peak resident memory of a running process (its own, after exec), polled from /proc.
long peak_rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Runs `streamll stats --from <ms>`: wall time and the child's peak RSS (VmHWM sampled every
// 5 ms until it exits; getrusage would also count the parent's pages at spawn time).
CliRun run_stats(const std::string& cli, const std::string& url, const std::string& key,
                 const std::string& from_ms) {
  const std::string out_file = "/tmp/consumer_throughput_stats.out";
  std::remove(out_file.c_str());
  const std::vector<std::string> command = {cli, "stats",  "--url",  url,    "--stream",
                                            key, "--json", "--from", from_ms};
  const auto start = Clock::now();
  const pid_t pid = streamll::test::spawn_process(command, out_file);
  CliRun r;
  int status = 0;
  for (;;) {
    const long hwm = peak_rss_kb(pid);
    if (hwm > r.max_rss_kb) r.max_rss_kb = hwm;
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = streamll::test::read_text_file(out_file);
  std::remove(out_file.c_str());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  streamll::bench::silence_streamll_logs();
  streamll::bench::BenchRedis redis;
  const std::string key = "bench_consumer";
  std::cerr << "filling " << args.events << " entries...\n";
  const std::string tenth_start =
      fill(redis.url(), key, args.events, args.events - args.events / 10);

  nlohmann::json result = {
      {"events", args.events}, {"batch", args.batch}, {"parallel_decode", !args.serial_decode}};
  const double consumer = streamll::bench::group_consumer_rate(redis.url(), key, args.events,
                                                               args.batch, !args.serial_decode);
  const double xrange = xrange_entries_per_second(redis, key);
  result["consumer_events_per_second"] = consumer;
  result["redis_benchmark_xrange_entries_per_second"] = xrange;
  std::cout << "group consumer, no-op handler, batch " << args.batch
            << (args.serial_decode ? ", serial decode" : ", parallel decode") << ": "
            << static_cast<long>(consumer) << " events/s\n"
            << "redis-benchmark XRANGE " << key
            << " - + COUNT 100 (-c 1): " << static_cast<long>(xrange) << " entries/s\n";

  if (!args.cli.empty()) {
    // Everything, then the newest tenth: same code, a tenth of the range.
    const CliRun all = run_stats(args.cli, redis.url(), key, "0");
    const CliRun tenth = run_stats(args.cli, redis.url(), key, tenth_start);
    std::uint64_t entries = 0;
    try {
      entries = nlohmann::json::parse(all.out)["entries"].get<std::uint64_t>();
    } catch (...) {
    }
    result["stats_entries"] = entries;
    result["stats_seconds"] = all.seconds;
    result["stats_max_rss_kb"] = all.max_rss_kb;
    result["stats_tenth_seconds"] = tenth.seconds;
    result["stats_tenth_max_rss_kb"] = tenth.max_rss_kb;
    std::cout << "streamll stats over " << entries << " entries: " << all.seconds << " s, peak RSS "
              << all.max_rss_kb / 1024 << " MiB (exit " << all.exit_code << ")\n"
              << "streamll stats over the newest tenth: " << tenth.seconds << " s, peak RSS "
              << tenth.max_rss_kb / 1024 << " MiB\n";
  }
  if (!args.json.empty()) std::ofstream(args.json) << result.dump(2) << "\n";
  return 0;
}
