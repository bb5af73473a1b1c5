// streamll tail: the stream as the terminal sink renders it, live or from the start, filtered,
// optionally as a group consumer that acknowledges what it showed.

#include <unistd.h>

#include <iostream>
#include <set>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "streamll/redis/consumer.hpp"
#include "streamll/sinks/terminal_sink.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> tail_specs() {
  std::vector<OptionSpec> specs = {
      {"from-beginning", "", "start at the first entry of the stream (default: only new entries)"},
      {"from", "ID", "start after this entry id"},
      {"type", "TYPE",
       "show only this event type (llm_call, error, token, start, end, or a custom name); "
       "repeatable",
       true},
      {"operation", "NAME", "show only events of this operation; repeatable", true},
      {"group", "GROUP", "read as a member of this consumer group and acknowledge what was read"},
      {"consumer", "NAME", "consumer name with --group (default: tail-<host>-<pid>)"},
      {"count", "N", "exit after showing N events"},
      {"no-follow", "", "exit once everything present has been shown"},
      {"fail-missing", "",
       "exit (status 4) when the stream does not exist instead of waiting for it"},
      {"color", "WHEN", "auto (default), always or never"},
      {"utc", "", "timestamps in UTC instead of local time"},
      {"no-data", "", "hide the data fields"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  specs.push_back(token_stream_option_spec());
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll tail [options]\n\n"
         "Shows the events of a stream as they arrive, rendered like the terminal sink.\n"
         "Entries that are not streamll events are reported on stderr and counted. A stream\n"
         "that does not exist yet is waited for, like tail -F (--fail-missing: exit 4 instead;\n"
         "--no-follow always exits 4 then). With\n"
         "--shard-url or --shard-count every shard is followed (each shard's events in order).\n"
         "With --token-stream the token events' own stream is followed too: each stream's\n"
         "events in order, a call's tokens not in order with its other events.\n\n"
      << format_options(specs);
}

}  // namespace

int run_tail(int argc, char** argv, int first) {
  return guarded("tail", [&] {
    const auto specs = tail_specs();
    const Args args(specs, argc, argv, first);
    if (args.help()) {
      usage(std::cout, specs);
      return int(kOk);
    }
    Target target = resolve_target(args);
    resolve_token_stream(args, target);
    const std::set<std::string> types = [&] {
      auto v = args.values("type");
      return std::set<std::string>(v.begin(), v.end());
    }();
    const std::set<std::string> operations = [&] {
      auto v = args.values("operation");
      return std::set<std::string>(v.begin(), v.end());
    }();
    const auto limit = args.unsigned_value("count");
    const bool follow = !args.flag("no-follow");
    ColorMode color = ColorMode::automatic;
    if (auto c = args.value("color")) {
      if (*c == "always")
        color = ColorMode::always;
      else if (*c == "never")
        color = ColorMode::never;
      else if (*c != "auto")
        throw UsageError("--color: '" + *c + "' is not auto, always or never");
    }
    TerminalFormat format;
    format.color = should_use_color(color, ::isatty(1) == 1);
    format.utc = args.flag("utc");
    format.show_data = !args.flag("no-data");

    ConsumerOptions options = target.consumer_options();
    options.start_id = args.flag("from-beginning") ? "0" : args.value_or("from", "$");
    const bool grouped = args.value("group").has_value();
    if (grouped) {
      options.group = *args.value("group");
      options.consumer_name = args.value_or("consumer", default_consumer_name("tail"));
      options.group_start_id = args.flag("from-beginning") ? "0" : "$";
    }
    configure_logging();
    // Following, a stream that does not exist yet is waited for (tail -F): a reader started
    // before the first producer is a normal deployment order, not a mistake.
    const bool must_exist = !follow || args.flag("fail-missing");
    if (!preflight(target, must_exist)) {
      std::cerr << "streamll tail: stream '" << target.stream
                << "' does not exist yet; waiting for it (--fail-missing to exit instead)\n";
      // Whatever it will hold is new to us: read it from its start, so that entries written
      // before the reader first connects are not skipped as "old".
      if (options.start_id == "$") options.start_id = "0";
      options.group_start_id = "0";
    }

    TerminalRenderer renderer(format);
    std::string text;
    std::uint64_t shown = 0;
    std::function<void()> stop;
    auto show = [&](const ConsumedEvent& m) {
      if (!types.empty() && types.count(std::string(m.event.type_name())) == 0) return;
      if (!operations.empty() && operations.count(m.event.operation()) == 0) return;
      text.clear();
      renderer.render(m.event, text);
      std::cout << text << std::flush;
      if (!std::cout) stop();  // the reader went away (a closed pipe): nothing left to do
      if (limit && ++shown >= *limit) stop();
    };
    SkippedEntryReporter skipped("tail");
    ConsumerStats stats;
    std::vector<ConsumerStats> shard_stats;
    auto drive = [&](auto& consumer) {
      consumer.on_any(show).on_decode_failure(std::ref(skipped));
      stop = [&consumer] { consumer.stop(); };
      StopOnSignal signals([&consumer] { consumer.stop(); });
      if (follow) {
        consumer.run();
      } else {
        drain(consumer);
      }
      stats = consumer.stats();
      shard_stats = consumer.shard_stats();
    };
    if (grouped) {
      GroupConsumer consumer(options);
      drive(consumer);
    } else {
      StreamReader reader(options);
      drive(reader);
    }
    text.clear();
    renderer.end_line(text);
    std::cout << text << std::flush;
    if (const std::string note = describe_undecodable(stats.undecodable); !note.empty()) {
      std::cerr << "streamll tail: " << note << "\n";
    }
    // Without --follow the view claims to be complete: a shard that could not be read breaks that.
    if (!report_disconnected_shards("tail", target, shard_stats) && !follow)
      return int(kUnreachable);
    return int(kOk);
  });
}

}  // namespace streamll::cli
