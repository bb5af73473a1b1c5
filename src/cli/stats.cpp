// streamll stats: the guide's analyze_llm_usage() as a table, or JSON for scripts.

#include <fmt/format.h>

#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/report_command.hpp"
#include "cli/report_json.hpp"
#include "cli/stats_grouping.hpp"
#include "redis/analytics/usage_accumulator.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> stats_specs() {
  std::vector<OptionSpec> specs = {
      {"since", "DURATION",
       "how far back from the server's current time (default 24h; e.g. 90s, 15m, 7d)"},
      {"from", "MS", "start at this Unix time in milliseconds instead (a stream id's first part)"},
      {"to", "MS", "end at this Unix time in milliseconds (default: the newest entry)"},
      {"page-size", "N", "entries per XRANGE round trip (default 1000)"},
      {"by", "model|tag:KEY",
       "also the calls per model or per value of tag KEY (e.g. tag:user_id): calls, tokens, "
       "cost, latency"},
      {"top", "N", "with --by: the N values with the most calls (or cost), default 10"},
      {"sort", "calls|cost", "with --by: rank by calls (default) or by cost"},
      {"max-values", "N",
       "with --by: distinct values counted apart, default 1000, at most 10000; the rest as "
       "(other). With --by model also caps the event types listed"},
      {"json", "", "print JSON instead of a table"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  specs.push_back(token_stream_option_spec());
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll stats [--since 24h] [--json] [options]\n\n"
         "LLM usage over a time range: calls, tokens, cost, response time and time to first token\n"
         "(average and nearest-rank p50/p95/p99), errors and error rate, and per model its calls,\n"
         "tokens, cost and the percentiles of response time, time to first token, time per output\n"
         "token, the calls' inter-token p95, p50 and max, and their output tokens/s (TTFT left\n"
         "out). Reads the stream in pages, so memory stays bounded however long the range.\n"
         "With --shard-url or --shard-count every shard is read and the totals merged\n"
         "(percentiles over all samples); a shard that cannot be read is named on stderr and\n"
         "the exit status is 2. With --token-stream the token events' own stream is read too:\n"
         "its entries count in the totals and events by type (the token figures come from the\n"
         "llm_call events, which stay in --stream).\n\n"
         "--by tag:KEY adds the same figures per value of the events' tag KEY (user_id,\n"
         "session_id, tenant, ...), the --top N values by calls or --sort cost; calls without\n"
         "the tag are reported as (none), and past --max-values distinct values the further\n"
         "ones are added up as (other) (each value costs up to 114 KiB: memory stays bounded;\n"
         "values are cut to 256 bytes). With shards, which values are past the cap depends on\n"
         "the order the shards are merged in. --by model ranks the per-model figures the same\n"
         "way; its --max-values is the cap on models, which also caps the event types listed\n"
         "(and models_used). Without --by the output is as above.\n\n"
      << format_options(specs);
}

std::string utc_time(std::uint64_t ms) {
  const auto secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// `bound`: how close the percentiles are once past the exact limit (see Percentiles).
std::string distribution(const Percentiles& p, const char* unit, const char* bound = "0.05%") {
  if (p.count == 0) return "-";
  return fmt::format("avg {:.1f}{u}  p50 {:.1f}{u}  p95 {:.1f}{u}  p99 {:.1f}{u}  max {:.1f}{u}{}",
                     p.mean, p.p50, p.p95, p.p99, p.max,
                     p.exact ? "" : fmt::format("  (percentiles within {})", bound),
                     fmt::arg("u", unit));
}

// "1200 (input 1000, 600 of them cached; output 200, 50 of them reasoning)"; the parts only
// when some call reported them.
std::string tokens_text(std::int64_t total, std::int64_t input, std::int64_t cached,
                        std::int64_t output, std::int64_t reasoning) {
  return fmt::format("{} (input {}{}, output {}{})", total, input,
                     cached ? fmt::format(", {} of them cached", cached) : "", output,
                     reasoning ? fmt::format(", {} of them reasoning", reasoning) : "");
}

void print_model(std::ostream& out, const std::string& name, const ModelUsage& m) {
  const std::string failed = m.failed_calls ? fmt::format(" ({} failed)", m.failed_calls) : "";
  out << fmt::format("    {}: {} call{}{}, {} tokens, ${:.4f}\n", printable(name), m.calls,
                     m.calls == 1 ? "" : "s", failed, m.total_tokens, m.total_cost_usd);
  auto row = [&out](const char* label, const Percentiles& p) {
    if (p.count > 0) out << fmt::format("      {:<22}{}\n", label, distribution(p, "ms", "1.6%"));
  };
  row("response time", m.response_time_ms);
  row("time to first token", m.ttft_ms);
  row("time per token", m.time_per_output_token_ms);
  row("inter-token p95", m.inter_token_ms_p95);
  row("inter-token p50", m.inter_token_ms_p50);
  row("inter-token max", m.inter_token_ms_max);
  // Higher is better: the slow calls are at the low end, so min leads.
  if (const Percentiles& p = m.output_tokens_per_second; p.count > 0) {
    out << fmt::format("      {:<22}min {:.1f}/s  {}\n", "output tokens/s", p.min,
                       distribution(p, "/s", "1.6%"));
  }
  if (m.cached_input_tokens || m.reasoning_tokens) {
    out << fmt::format("      {:<22}{}\n", "tokens",
                       tokens_text(m.total_tokens, m.input_tokens, m.cached_input_tokens,
                                   m.output_tokens, m.reasoning_tokens));
  }
}

void print_table(std::ostream& out, const UsageStats& s) {
  auto row = [&out](const std::string& label, const std::string& value) {
    out << fmt::format("  {:<22}{}\n", label, value);
  };
  out << "Usage of stream '" << s.stream << "' from " << utc_time(s.from_ms)
      << (s.to_ms ? " to " + utc_time(*s.to_ms) : std::string(" to now")) << "\n";
  std::string entries = std::to_string(s.entries);
  if (s.undecodable.total() > 0) entries += " (" + describe_undecodable(s.undecodable) + ")";
  row("entries", entries);
  row("LLM calls", fmt::format("{}{}", s.total_calls,
                               s.failed_calls ? fmt::format(" ({} failed)", s.failed_calls) : ""));
  row("tokens", tokens_text(s.total_tokens, s.input_tokens, s.cached_input_tokens, s.output_tokens,
                            s.reasoning_tokens));
  row("cost", fmt::format("${:.4f}{}", s.total_cost_usd,
                          s.invalid_cost ? fmt::format(" ({} calls with an invalid cost left out)",
                                                       s.invalid_cost)
                                         : ""));
  row("response time", distribution(s.response_time_ms, "ms"));
  row("time to first token", distribution(s.ttft_ms, "ms"));
  row("errors", fmt::format("{}{}", s.errors,
                            s.error_rate ? fmt::format(" (error rate {:.2f}% of LLM calls)",
                                                       *s.error_rate * 100.0)
                                         : ""));
  if (!s.models.empty()) {
    out << "  per model\n";
    for (const auto& [model, usage] : s.models) print_model(out, model, usage);
  }
  if (!s.events_by_type.empty()) {
    out << "  events by type\n";
    for (const auto& [type, n] : s.events_by_type)
      out << fmt::format("    {:<32}{}\n", printable(type), n);
  }
  if (!s.shards.empty()) {
    out << "  shards\n";
    for (const ShardUsage& shard : s.shards) {
      const std::string what = !shard.ok              ? "UNAVAILABLE: " + shard.error
                               : !shard.stream_exists ? std::string("no stream")
                                                      : fmt::format("{} entries", shard.entries);
      out << fmt::format("    {:<32}{} ({})\n", shard.stream, what, shard.server);
    }
  }
  out << fmt::format("  ({} {} read in {:.2f} s)\n", s.pages, s.pages == 1 ? "page" : "pages",
                     static_cast<double>(s.elapsed.count()) / 1000.0);
}

void print_grouping(std::ostream& out, const Grouping& grouping, const UsageStats& s) {
  const RankedGroups ranked = rank_groups(grouping, s);
  const std::string what = grouping.tag_key.empty() ? "model" : "tag " + grouping.tag_key;
  out << fmt::format(
      "  by {} (top {} of {} value{}, by {}{})\n", printable(what), ranked.top.size(),
      ranked.values, ranked.values == 1 ? "" : "s", grouping.by_cost ? "cost" : "calls",
      grouping.tag_key.empty() ? "" : fmt::format("; values cut to {} bytes", kMaxTagValueBytes));
  for (const auto& [name, usage] : ranked.top) print_model(out, name, *usage);
  if (ranked.none) print_model(out, "(none)", *ranked.none);
  if (ranked.other) {
    // Which values are past the cap depends on the order they were counted in: reading order,
    // and with shards the order the shards' totals are merged in.
    print_model(out,
                fmt::format("(other: values beyond the {} counted apart)", grouping.max_values),
                *ranked.other);
  }
}

// The token events' own stream, read over the same range: its entries and events by type are
// added to `s`. No such stream yet (summary and off token modes write none) reads as empty.
UsageStats add_token_stream(UsageStats& s, const Target& target, const UsageQuery& query) {
  ShardedStream source = target.source();
  source.stream = target.token_stream;
  UsageStats tokens;
  tokens.stream = target.token_stream;
  try {
    tokens = analyze_usage(source, query);
  } catch (const StreamNotFoundError&) {
  }
  s.entries += tokens.entries;
  s.events += tokens.events;
  redis::add_decode_failures(s.undecodable, tokens.undecodable);
  for (const auto& [type, n] : tokens.events_by_type) s.events_by_type[type] += n;
  s.pages += tokens.pages;
  s.elapsed += tokens.elapsed;
  return tokens;
}

}  // namespace

int run_stats(int argc, char** argv, int first) {
  return run_report_command(
      {"stats", stats_specs, usage}, argc, argv, first,
      [](const Args& args, const Target& common, bool json) {
        Target target = common;
        resolve_token_stream(args, target);
        UsageQuery query;
        if (auto v = args.duration_ms("since")) query.since = std::chrono::milliseconds(*v);
        query.from_ms = args.unsigned_value("from");
        query.to_ms = args.unsigned_value("to");
        if (auto v = args.unsigned_value("page-size")) query.page_size = *v;
        if (query.page_size == 0 || query.page_size > 100000)
          throw UsageError("--page-size must be 1 to 100000");
        const std::optional<Grouping> grouping = parse_grouping(args);
        if (grouping && !grouping->tag_key.empty()) {
          query.group_by_tag = grouping->tag_key;
          query.max_tag_values = grouping->max_values;
        } else if (grouping) {
          query.max_models = grouping->max_values;
        }
        UsageStats s = analyze_usage(target.source(), query);
        std::optional<UsageStats> tokens;
        if (!target.token_stream.empty()) tokens = add_token_stream(s, target, query);
        if (json) {
          nlohmann::json j = to_json(s);
          if (tokens) {
            j["token_stream"] = {{"stream", tokens->stream},
                                 {"entries", tokens->entries},
                                 {"events", tokens->events}};
          }
          if (grouping) j["by"] = grouping_json(*grouping, s);
          std::cout << j.dump(2) << "\n";
        } else {
          print_table(std::cout, s);
          if (grouping) print_grouping(std::cout, *grouping, s);
          if (tokens) {
            std::cout << fmt::format("  (token stream '{}': {} entries, counted above)\n",
                                     tokens->stream, tokens->entries);
          }
        }
        const bool complete = s.complete() && (!tokens || tokens->complete());
        if (!complete) {
          // The totals above are partial: say which shards are missing, and
          // fail like an outage.
          std::cerr << "streamll stats: incomplete: " << describe_unavailable_shards(s.shards)
                    << (tokens ? describe_unavailable_shards(tokens->shards) : std::string());
          return int(kUnreachable);
        }
        return int(kOk);
      });
}

}  // namespace streamll::cli
