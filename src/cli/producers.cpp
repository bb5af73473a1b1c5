// streamll producers: the live producers of a stream, from their heartbeats
// (RedisSinkOptions::heartbeat_interval).

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/producers_json.hpp"
#include "cli/report_command.hpp"
#include "cli/stats_grouping.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> producers_specs() {
  std::vector<OptionSpec> specs = {
      {"json", "", "print JSON instead of a table"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll producers [--json] [options]\n\n"
         "Lists the live producers of the stream: every RedisSink (each shard of a sharded one)\n"
         "whose heartbeat has not expired (RedisSinkOptions::heartbeat_interval, default 5 s; a\n"
         "heartbeat lives 3 intervals), with its counters, breaker state and last error. Then\n"
         "those that stopped reporting: still in the index, their heartbeat gone (a sink that\n"
         "stops cleanly removes both, so these died or lost Redis). A producer that never wrote\n"
         "a heartbeat is not seen. AGE is the server's TIME minus the producer's updated_at (its\n"
         "clock: skew applies; a negative age shows as 0). Read-only. With --shard-url or\n"
         "--shard-count every shard is read; a shard that cannot be read is named on stderr and\n"
         "the exit status is 2. No producers is not an error (exit 0).\n\n"
      << format_options(specs);
}

std::string age(std::int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  return fmt::format("{}m{}s", ms / 60000, (ms % 60000) / 1000);
}

void print_live(std::ostream& out, const std::string& stream, const ProducersReport& report) {
  if (report.producers.empty()) {
    out << "Stream '" << stream << "' has no live producers.\n";
    return;
  }
  out << fmt::format("{:<20} {:<16} {:>7} {:>10} {:>7} {:>8} {:>8} {:<9} {:>6}  {}\n", "SERVICE",
                     "HOST", "PID", "DELIVERED", "FAILED", "DROPPED", "BUFFERED", "BREAKER", "AGE",
                     "STREAM");
  for (const auto& p : report.producers) {
    // Anyone who can write heartbeats chooses these bytes: no terminal control reaches stdout.
    out << fmt::format("{:<20} {:<16} {:>7} {:>10} {:>7} {:>8} {:>8} {:<9} {:>6}  {}\n",
                       printable(p.service), printable(p.host), p.pid, p.delivered, p.failed,
                       p.dropped, p.buffered, printable(p.breaker),
                       age(report.server_time_ms - p.updated_at_ms), printable(p.stream));
    if (!p.last_error.empty()) out << "  last error: " << printable(p.last_error) << "\n";
  }
}

void print_gone(std::ostream& out, const ProducersReport& report) {
  if (report.gone.empty()) return;
  out << "\nStopped reporting (in the index, no heartbeat since it expired):\n"
      << fmt::format("{:<40} {:>9}  {}\n", "ID", "GONE FOR", "STREAM");
  for (const auto& p : report.gone) {
    out << fmt::format("{:<40} {:>9}  {}\n", printable(p.id),
                       age(report.server_time_ms - p.expired_at_ms), printable(p.stream));
  }
}

}  // namespace

int run_producers(int argc, char** argv, int first) {
  return run_report_command(
      {"producers", producers_specs, usage}, argc, argv, first,
      [](const Args&, const Target& target, bool json) {
        const ProducersReport report = list_producers(target.source());
        const int code = report.complete() ? int(kOk) : int(kUnreachable);
        if (!report.complete()) {
          std::cerr << "streamll producers: incomplete: "
                    << describe_unavailable_shards(report.shards);
        }
        if (json) {
          std::cout << to_json(report).dump(2) << "\n";
          return code;
        }
        print_live(std::cout, target.stream, report);
        print_gone(std::cout, report);
        if (report.truncated) {
          std::cout << "(truncated: an index lists more producers than one read takes, 10000 a "
                       "shard; those whose heartbeat expires the latest are shown)\n";
        }
        return code;
      });
}

}  // namespace streamll::cli
