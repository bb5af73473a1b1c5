// streamll: the command-line tool. `streamll <command> --help` describes each command.

#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "streamll/version.hpp"

namespace streamll::cli {

void SkippedEntryReporter::operator()(const DecodeFailure& failure) {
  if (printed_ < limit_) {
    std::cerr << "streamll " << command_ << ": skipped entry " << failure.entry_id << ": "
              << to_string(failure.kind) << ": " << failure.reason << "\n";
  } else if (printed_ == limit_) {
    std::cerr << "streamll " << command_ << ": further skipped entries are only counted\n";
  }
  ++printed_;
}

std::string describe_undecodable(const DecodeFailureCounts& c) {
  if (c.total() == 0) return {};
  std::string parts;
  auto part = [&parts](std::uint64_t n, const char* what) {
    if (n == 0) return;
    if (!parts.empty()) parts += ", ";
    parts += std::to_string(n) + " " + what;
  };
  part(c.missing_event_field, "without an event field");
  part(c.malformed_json, "malformed JSON");
  part(c.invalid_event, "not an event");
  return std::to_string(c.total()) +
         (c.total() == 1 ? " entry was not a streamll event: "
                         : " entries were not streamll events: ") +
         parts;
}

namespace {

void usage(std::ostream& out) {
  out << "usage: streamll <command> [options]\n\n"
         "Commands:\n"
         "  tail      show events as they arrive (or from the start), filtered, like the terminal "
         "sink\n"
         "  stats     LLM usage over a time range: calls, tokens, cost, latency percentiles, "
         "errors\n"
         "  health    health check with alerts; exit 0 healthy, 1 alert, 7 producer alert; not\n"
         "            checked: 2 unreachable, 3 login refused, 5 command refused, 64 usage\n"
         "  groups    consumer groups, their consumers, lag and pending entries\n"
         "  producers live producers (RedisSinks' heartbeats): counters, drops, breaker state\n"
         "  consume   a consumer-group worker: one JSON line (or a command run) per event, then "
         "ack\n"
         "  emit      load generator: N realistic events through a RedisSink, with a delivery "
         "summary\n"
         "  exporter  Prometheus metrics at /metrics, from a consumer group and the heartbeats\n\n"
         "Every command takes --url (default $REDIS_URL, else redis://localhost:6379; also\n"
         "redis+sentinel:// and redis+cluster://), --stream (default $STREAMLL_STREAM_KEY, else\n"
         "ml_events), TLS options, and --shard-url URL (repeatable) or --shard-count N to read or\n"
         "write every shard of a sharded deployment; the password comes from $REDIS_PASSWORD or\n"
         "the URL. `streamll <command> --help` for the rest.\n\n"
         "Exit status (the same for every command): 0 ok, 1 alert (health), unaccounted events\n"
         "(emit), a failed event (consume) or the HTTP server failing (exporter), 2 Redis\n"
         "unreachable, 3 login refused, 4 stream missing, 5 command refused, 6 events lost\n"
         "(emit), 7 a producer dropping, with its breaker open or stopped reporting (health,\n"
         "when no other alert fired), 64 usage.\n";
}

}  // namespace
}  // namespace streamll::cli

int main(int argc, char** argv) {
  using namespace streamll::cli;
  if (argc < 2) {
    usage(std::cerr);
    return kUsage;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    usage(std::cout);
    return kOk;
  }
  if (command == "--version" || command == "version") {
    std::cout << "streamll " << streamll::version << "\n";
    return kOk;
  }
  if (command == "tail") return run_tail(argc, argv, 2);
  if (command == "stats") return run_stats(argc, argv, 2);
  if (command == "health") return run_health(argc, argv, 2);
  if (command == "groups") return run_groups(argc, argv, 2);
  if (command == "producers") return run_producers(argc, argv, 2);
  if (command == "consume") return run_consume(argc, argv, 2);
  if (command == "exporter") {
#ifdef STREAMLL_HAVE_EXPORTER
    return run_exporter(argc, argv, 2);
#else
    std::cerr << "streamll: this build has no exporter: cpp-httplib was not found when it was "
                 "built (Debian: libcpp-httplib-dev)\n";
    return kUsage;
#endif
  }
  if (command == "emit") return run_emit(argc, argv, 2);
  std::cerr << "streamll: unknown command '" << command << "' (see streamll --help)\n";
  return kUsage;
}
