// streamll health: the guide's streamll_health_check() with its alerts, and the producers'
// heartbeats (a producer dropping events, with its breaker open, or that stopped reporting).
// Exit 0 healthy, 1 on a stream alert, 7 when only producer alerts fired, and when the check
// itself could not be made the exit code every command uses for that failure (2 unreachable, 3
// login refused, 5 command refused, 64 usage): anything else than 0, 1 and 7 means "not checked".

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "streamll/errors.hpp"
#include "streamll/redis/producers.hpp"

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/producers_json.hpp"
#include "cli/report_command.hpp"
#include "cli/report_json.hpp"
#include "cli/stats_grouping.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> health_specs() {
  std::vector<OptionSpec> specs = {
      {"window", "DURATION", "what \"recent\" means (default 60s)"},
      {"min-events", "N",
       "alert below N events in the window (default 1: alert when there are none)"},
      {"max-lag", "N", "alert when the groups' total lag exceeds N (default 1000)"},
      {"max-error-rate", "RATE",
       "alert when error events / LLM calls in the window exceed RATE (default 0.05)"},
      {"no-producers", "", "skip the producer check (heartbeats)"},
      {"json", "", "print JSON instead of text"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  specs.push_back(token_stream_option_spec());
  return specs;
}

// "gpt-4o-mini: 12 calls, response 812.0ms, ttft 95.1ms, tpot 21.3ms, inter-token 40.2ms": the
// p95 of each figure the model's calls carried (inter-token: of each call's own p95).
std::string model_line(const std::string& name, const ModelUsage& m) {
  // A model name is whatever producers wrote: escaped like stats does, so that no control
  // character reaches the terminal.
  std::string line =
      fmt::format("{}: {} call{}", printable(name), m.calls, m.calls == 1 ? "" : "s");
  auto p95 = [&line](const char* label, const Percentiles& p) {
    if (p.count > 0) line += fmt::format(", {} {:.1f}ms", label, p.p95);
  };
  p95("response", m.response_time_ms);
  p95("ttft", m.ttft_ms);
  p95("tpot", m.time_per_output_token_ms);
  p95("inter-token", m.inter_token_ms_p95);
  // A second line, "inter-token p50 19.3ms, inter-token max 47.1ms, slowest 29.5 tokens/s",
  // keeps the first readable. Tokens/s is better high: its slowest call (min) is the tail.
  std::string more;
  auto add = [&more](const std::string& part) { more += (more.empty() ? "" : ", ") + part; };
  if (m.inter_token_ms_p50.count > 0)
    add(fmt::format("inter-token p50 {:.1f}ms", m.inter_token_ms_p50.p95));
  if (m.inter_token_ms_max.count > 0)
    add(fmt::format("inter-token max {:.1f}ms", m.inter_token_ms_max.p95));
  if (m.output_tokens_per_second.count > 0)
    add(fmt::format("slowest {:.1f} tokens/s", m.output_tokens_per_second.min));
  if (!more.empty()) line += "\n      " + more;
  return line;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll health [--json] [options]\n\n"
         "Checks the stream: length, events in the last minute, consumer groups, total lag,\n"
         "pending entries, error rate (error events / LLM calls), and per model the p95 of its\n"
         "calls' response time, TTFT, time per output token and inter-token p95, p50 and max\n"
         "in the window, and its slowest call's output tokens/s.\n"
         "Then the producers' heartbeats (see `streamll producers`): a producer whose circuit\n"
         "breaker is not closed, that dropped events within the window, or that stopped\n"
         "reporting (its heartbeat expired) within the window, is a producer alert. A producer\n"
         "that never wrote a heartbeat is not seen.\n"
         "Exit status: 0 healthy, 1 a stream alert fired (whatever the producers), 7 only\n"
         "producer alerts fired; the check could not be made: 2 Redis unreachable, 3 login\n"
         "refused, 5 a command refused (NOPERM), 64 bad options. Producers that cannot be read\n"
         "(a user without access to their keys, a shard down) are reported as not checked, for\n"
         "that shard, not an alert. With --shard-url or --shard-count every shard is checked and\n"
         "the numbers summed; a shard that cannot be checked is an alert (exit 1) while the\n"
         "others are; none at all is exit 2. With --token-stream the token events' own stream\n"
         "is checked too: its lag raises alerts (and \"healthy\" in --json covers both\n"
         "streams); no recent events there, or no stream yet, does not.\n\n"
      << format_options(specs);
}

void print_text(std::ostream& out, const HealthReport& h) {
  auto row = [&out](const std::string& label, const std::string& value) {
    out << fmt::format("  {:<20}{}\n", label, value);
  };
  out << "Health of stream '" << h.stream << "': " << (h.healthy() ? "OK" : "ALERT") << "\n";
  if (h.stream_exists) {
    row("stream length", std::to_string(h.stream_length));
    row("recent events",
        fmt::format("{} in the last {} s", h.events_in_window, h.thresholds.window.count() / 1000));
    row("error rate",
        h.error_rate ? fmt::format("{:.1f}% of LLM calls ({} errors, {} calls)",
                                   *h.error_rate * 100.0, h.errors_in_window, h.llm_calls_in_window)
                     : fmt::format("- (no LLM calls; {} errors)", h.errors_in_window));
    row("consumer groups", std::to_string(h.consumer_groups));
    row("total lag", fmt::format("{}{}", h.total_lag, h.lag_exact ? "" : " (at least)"));
    row("pending", std::to_string(h.pending));
    if (!h.models.empty()) out << "  per model (p95 in the window)\n";
    for (const auto& [model, m] : h.models) out << "    " << model_line(model, m) << "\n";
  }
  if (!h.shards.empty()) {
    out << "  shards\n";
    for (const ShardHealth& s : h.shards) {
      const std::string what =
          !s.ok ? std::string("UNAVAILABLE")
          : !s.stream_exists
              ? std::string("no stream")
              : fmt::format("length {}, {} recent, lag {}, pending {}", s.stream_length,
                            s.events_in_window, s.total_lag, s.pending);
      out << fmt::format("    {:<30}{} ({})\n", s.stream, what, s.server);
    }
  }
  for (const auto& alert : h.alerts) out << "ALERT: " << alert.message << "\n";
}

// The token events' own stream: its lag and pending entries, and alerts for them. No events
// in the window is normal there (summary and off token modes write none), and so is no
// stream yet.
HealthReport check_token_stream(const Target& target, HealthThresholds thresholds) {
  ShardedStream source = target.source();
  source.stream = target.token_stream;
  thresholds.min_recent_events = 0;
  HealthReport report = check_health(source, thresholds);
  auto& alerts = report.alerts;
  alerts.erase(std::remove_if(alerts.begin(), alerts.end(),
                              [](const HealthAlert& a) {
                                return a.kind == HealthAlert::Kind::stream_missing;
                              }),
               alerts.end());
  return report;
}

void print_token_stream(std::ostream& out, const HealthReport& h) {
  out << "Token stream '" << h.stream << "': " << (h.healthy() ? "OK" : "ALERT") << "\n";
  if (!h.stream_exists) {
    out << "  no stream yet\n";
  } else {
    out << fmt::format("  {:<20}{}\n", "stream length", h.stream_length)
        << fmt::format("  {:<20}{} in the last {} s\n", "recent events", h.events_in_window,
                       h.thresholds.window.count() / 1000)
        << fmt::format("  {:<20}{}\n", "consumer groups", h.consumer_groups)
        << fmt::format("  {:<20}{}{}\n", "total lag", h.total_lag, h.lag_exact ? "" : " (at least)")
        << fmt::format("  {:<20}{}\n", "pending", h.pending);
  }
  for (const auto& alert : h.alerts) out << "ALERT: token stream: " << alert.message << "\n";
}

// The producers' side: their heartbeats, and an alert per producer problem.
struct ProducerCheck {
  bool checked = false;
  std::string not_checked;  // why, when it could not be made
  ProducersReport report;
  std::vector<std::string> alerts;
  // Not an alert, like a check that could not be made at all; but not OK either.
  std::vector<ShardStatus> unchecked_shards;
};

ProducerCheck check_producers(const Target& target, std::chrono::milliseconds window) {
  ProducerCheck c;
  try {
    c.report = list_producers(target.source());
    c.checked = true;
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    // The stream was checked over the same connections: this is the producers' keys only
    // (an ACL user limited to the stream, say). Not checked is said, not an alert.
    c.not_checked = e.what();
    return c;
  }
  for (const ProducerInfo& p : c.report.producers) {
    for (auto& line : producer_problems(p, c.report.server_time_ms, window)) {
      c.alerts.push_back(std::move(line));
    }
  }
  for (const GoneProducer& p : c.report.gone) {
    for (auto& line : producer_problems(p, c.report.server_time_ms, window)) {
      c.alerts.push_back(std::move(line));
    }
  }
  for (const ShardStatus& s : c.report.shards) {
    if (!s.ok) c.unchecked_shards.push_back(s);
  }
  return c;
}

void print_producers(std::ostream& out, const ProducerCheck& c) {
  if (!c.checked) {
    out << "Producers: not checked (" << c.not_checked << ")\n";
    return;
  }
  const std::string status = !c.alerts.empty() ? std::string("ALERT")
                             : !c.unchecked_shards.empty()
                                 ? fmt::format("not checked on {} of {} shards",
                                               c.unchecked_shards.size(), c.report.shards.size())
                                 : std::string("OK");
  out << "Producers: " << status << " (" << c.report.producers.size() << " live";
  if (!c.report.gone.empty()) out << ", " << c.report.gone.size() << " stopped reporting";
  if (c.report.truncated) out << ", truncated";
  out << ")\n";
  for (const ShardStatus& s : c.unchecked_shards) {
    out << fmt::format("  not checked: shard {} ('{}' on {}): {}\n", s.shard, s.stream, s.server,
                       s.error);
  }
  // A producer's alert quotes its heartbeat's fields, which any producer may have written.
  for (const auto& alert : c.alerts) out << "ALERT: " << printable(alert) << "\n";
}

nlohmann::json producers_json(const ProducerCheck& c) {
  if (!c.checked)
    return {{"checked", false}, {"healthy", c.alerts.empty()}, {"error", c.not_checked}};
  // What `streamll producers --json` prints, and the check's verdict.
  nlohmann::json j = to_json(c.report);
  nlohmann::json unchecked = nlohmann::json::array();
  for (const auto& s : c.unchecked_shards) {
    unchecked.push_back(
        {{"shard", s.shard}, {"stream", s.stream}, {"server", s.server}, {"error", s.error}});
  }
  j["checked"] = true;
  j["healthy"] = c.alerts.empty();
  j["live"] = c.report.producers.size();
  j["alerts"] = c.alerts;
  j["unchecked_shards"] = std::move(unchecked);
  return j;
}

}  // namespace

int run_health(int argc, char** argv, int first) {
  bool checked = false;  // an alert is exit 1 only when the check was made
  return run_report_command(
      {"health", health_specs, usage}, argc, argv, first,
      [&](const Args& args, const Target& common, bool json) {
        Target target = common;
        resolve_token_stream(args, target);
        HealthThresholds thresholds;
        if (auto v = args.duration_ms("window")) {
          if (*v <= 0) throw UsageError("--window must be positive");
          thresholds.window = std::chrono::milliseconds(*v);
        }
        if (auto v = args.unsigned_value("min-events")) thresholds.min_recent_events = *v;
        if (auto v = args.unsigned_value("max-lag")) thresholds.max_total_lag = *v;
        if (auto v = args.number_value("max-error-rate")) thresholds.max_error_rate = *v;
        const HealthReport report = check_health(target.source(), thresholds);
        std::optional<HealthReport> tokens;
        if (!target.token_stream.empty()) tokens = check_token_stream(target, thresholds);
        const bool healthy = report.healthy() && (!tokens || tokens->healthy());
        std::optional<ProducerCheck> producers;
        if (!args.flag("no-producers")) producers = check_producers(target, thresholds.window);
        const bool producers_ok = !producers || producers->alerts.empty();
        if (json) {
          nlohmann::json j = to_json(report);
          if (tokens) j["token_stream"] = to_json(*tokens);
          if (producers) j["producers"] = producers_json(*producers);
          j["healthy"] = healthy && producers_ok;  // everything: what the exit status says
          std::cout << j.dump(2) << "\n";
        } else {
          print_text(std::cout, report);
          if (tokens) print_token_stream(std::cout, *tokens);
          if (producers) print_producers(std::cout, *producers);
        }
        checked = true;
        if (!healthy) return int(kAlert);
        return producers_ok ? int(kOk) : int(kProducerAlert);
      },
      [&checked](int c) {
        // An unexpected failure (report_error's generic 1) must not pass for an alert; mapped
        // before guarded() prints it, so the JSON's exit_code is the real status.
        return (c == int(kAlert) || c == int(kProducerAlert)) && !checked ? int(kUnreachable) : c;
      });
}

}  // namespace streamll::cli
