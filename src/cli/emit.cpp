// streamll emit: a load generator that drives a real RedisSink and accounts for every event.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/event_mix.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "streamll/sinks/sharded_redis_sink.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> emit_specs() {
  std::vector<OptionSpec> specs = {
      {"count", "N", "events to emit (required)"},
      {"rate", "R", "events per second in total (default: as fast as possible)"},
      {"threads", "T", "producer threads (default 1)"},
      {"token-mode", "MODE", "each (an event per token, default), chunked, summary or off"},
      {"tokens-per-call", "N", "tokens each model call streams (default: 3 to 12, varying)"},
      {"chunk-tokens", "N", "chunked: at most N tokens a chunk (1 to 1024, default 32)"},
      {"chunk-interval", "DURATION",
       "chunked: a chunk ends at a token this long after its first (default 250ms, 0: never)"},
      {"token-interval", "DURATION",
       "time between a call's tokens (default: 10 to 60 ms, varying per call)"},
      {"buffer-size", "N", "the sink's buffer_size (default 100000)"},
      {"batch-size", "N", "the sink's max_batch_size (default 500)"},
      {"flush-timeout", "DURATION", "how long to wait for delivery at the end (default 30s)"},
      {"no-progress", "", "no progress line (it is shown only when stderr is a terminal anyway)"},
      {"progress", "", "show the progress line even when stderr is not a terminal"},
      {"json", "", "print the summary as JSON"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  specs.push_back(token_stream_option_spec());
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll emit --count N [--rate R] [--threads T] [options]\n\n"
         "Emits N events of a realistic pipeline mix (spans, LLM calls with tokens, occasional\n"
         "errors) through a RedisSink and reports emitted, delivered, dropped, failed, elapsed\n"
         "and events per second. The other sink settings come from the environment\n"
         "(STREAMLL_BUFFER_OVERFLOW_STRATEGY, ...). With --shard-url or --shard-count the events "
         "go\n"
         "through a ShardedRedisSink (by execution id; buffer and batch sizes per shard) and the\n"
         "summary shows each shard's share. Exit status: 0 every event delivered, 6 some dropped\n"
         "or refused (all accounted for), 1 some unaccounted for.\n\n"
      << format_options(specs);
}

struct TypeCounts {
  std::mutex mutex;
  std::map<std::string, std::uint64_t> by_type;
  void add(const std::map<std::string, std::uint64_t>& local) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [k, v] : local) by_type[k] += v;
  }
};

}  // namespace

int run_emit(int argc, char** argv, int first) {
  bool json = json_requested(argc, argv, first);  // usage errors in JSON too
  return guarded(
      "emit",
      [&] {
        const auto specs = emit_specs();
        const Args args(specs, argc, argv, first);
        json = args.flag("json");
        if (args.help()) {
          usage(std::cout, specs);
          return int(kOk);
        }
        // Every argument check before connecting: a bad command line is 64 even with Redis down.
        if (args.flag("progress") && args.flag("no-progress")) {
          throw UsageError("--progress and --no-progress contradict");
        }
        Target target = resolve_target(args);
        resolve_token_stream(args, target);
        const auto count = args.unsigned_value("count");
        if (!count) throw UsageError("--count is required");
        const double rate = args.number_value("rate").value_or(0.0);
        const std::uint64_t threads = args.unsigned_value("threads").value_or(1);
        if (threads == 0 || threads > 256) throw UsageError("--threads must be 1 to 256");
        TokenShape shape;
        if (const auto mode = args.value("token-mode")) {
          const auto parsed = parse_token_mode(*mode);
          if (!parsed) throw UsageError("--token-mode must be each, chunked, summary or off");
          shape.mode = *parsed;
        }
        if (const auto n = args.unsigned_value("tokens-per-call")) {
          if (*n == 0 || *n > 1000000) throw UsageError("--tokens-per-call must be 1 to 1000000");
          shape.tokens_per_call = static_cast<int>(*n);
        }
        if (const auto n = args.unsigned_value("chunk-tokens")) {
          if (*n == 0 || *n > static_cast<std::uint64_t>(kMaxChunkTokens)) {
            throw UsageError("--chunk-tokens must be 1 to 1024");
          }
          shape.chunking.max_tokens = static_cast<std::int32_t>(*n);
        }
        if (const auto ms = args.duration_ms("chunk-interval")) {
          if (*ms < 0 || *ms > kMaxChunkInterval) {
            throw UsageError("--chunk-interval must be 0 to 24h");
          }
          shape.chunking.max_interval = std::chrono::milliseconds(*ms);
        }
        if ((args.value("chunk-tokens") || args.value("chunk-interval")) &&
            shape.mode != TokenMode::chunked) {
          throw UsageError("--chunk-tokens and --chunk-interval need --token-mode chunked");
        }
        if (const auto ms = args.duration_ms("token-interval")) {
          if (*ms <= 0 || *ms > 3600000) throw UsageError("--token-interval must be 1ms to 1h");
          shape.token_interval_ms = static_cast<double>(*ms);
        }
        const auto flush_timeout =
            std::chrono::milliseconds(args.duration_ms("flush-timeout").value_or(30000));

        ShardedRedisSinkOptions options;
        options.sink = RedisSinkOptions::from_env();
        options.sink.connection = target.connection;
        options.sink.stream_key = target.stream;
        options.sink.token_stream_key = target.token_stream;
        options.sink.buffer_size = args.unsigned_value("buffer-size").value_or(100000);
        options.sink.max_batch_size = args.unsigned_value("batch-size").value_or(500);
        options.sink.shutdown_timeout = flush_timeout;
        options.shard_urls = target.shard_urls;
        options.shard_count = target.shard_count;
        configure_logging();
        preflight(target, /*stream_must_exist=*/false);  // fail fast: unreachable, login refused

        const bool progress =
            args.flag("progress") || (!args.flag("no-progress") && stderr_is_terminal());
        std::atomic<std::uint64_t> emitted{0};
        TypeCounts types;
        // One sink interface for both: a RedisSink, or a ShardedRedisSink over its shards.
        std::shared_ptr<RedisSink> single;
        std::shared_ptr<ShardedRedisSink> sharded;
        if (target.sharded()) {
          sharded = std::make_shared<ShardedRedisSink>(options);
        } else {
          single = std::make_shared<RedisSink>(options.sink);
        }
        Sink* sink = sharded ? static_cast<Sink*>(sharded.get()) : single.get();
        const auto sink_stats = [&] { return sharded ? sharded->stats() : single->stats(); };
        const auto started = std::chrono::steady_clock::now();
        std::vector<std::thread> producers;
        for (std::uint64_t t = 0; t < threads; ++t) {
          const std::uint64_t mine = *count / threads + (t < *count % threads ? 1 : 0);
          producers.emplace_back([&, t, mine] {
            EventMix mix(t + 1, shape);
            std::map<std::string, std::uint64_t> local;
            const auto interval =
                rate > 0 ? std::chrono::duration<double>(static_cast<double>(threads) / rate)
                         : std::chrono::duration<double>(0);
            auto next = std::chrono::steady_clock::now();
            for (std::uint64_t i = 0; i < mine; ++i) {
              if (rate > 0) {
                std::this_thread::sleep_until(next);
                next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
              }
              Event event = mix.next();
              ++local[std::string(event.type_name())];
              try {
                sink->handle_owned(std::move(event));
              } catch (const BufferOverflowError&) {
                // raise_error: counted by the sink as dropped_raise_error.
              }
              emitted.fetch_add(1, std::memory_order_relaxed);
            }
            types.add(local);
          });
        }
        std::thread reporter;
        std::atomic<bool> producing{true};
        std::size_t progress_width = 0;  // the longest progress line, written by the reporter only
        if (progress) {
          reporter = std::thread([&] {
            while (producing.load()) {
              const auto s = sink_stats();
              const double secs =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
              std::string line =
                  fmt::format("emitted {}/{}  delivered {}  dropped {}  {:.0f} events/s",
                              emitted.load(), *count, s.delivered, s.dropped(),
                              secs > 0 ? static_cast<double>(s.delivered) / secs : 0.0);
              progress_width = std::max(progress_width, line.size());
              line.resize(progress_width, ' ');  // covers a longer line before it
              std::cerr << '\r' << line << std::flush;
              std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
          });
        }
        for (auto& p : producers) p.join();
        sink->flush(flush_timeout);
        sink->shutdown(flush_timeout);
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        producing.store(false);
        if (reporter.joinable()) {
          reporter.join();
          // Blank the progress line, so the summary does not follow a stale, half-overwritten one.
          std::cerr << '\r' << std::string(progress_width, ' ') << '\r' << std::flush;
        }

        const RedisSinkStats s = sink_stats();
        const std::vector<RedisSinkStats> per_shard =
            sharded ? sharded->shard_stats() : std::vector<RedisSinkStats>{};
        const std::uint64_t total = emitted.load();
        const std::uint64_t dropped = s.dropped();
        const std::uint64_t accounted = s.delivered + s.failed + dropped;
        const std::uint64_t unaccounted = total > accounted ? total - accounted : 0;
        const double per_second = elapsed > 0 ? static_cast<double>(s.delivered) / elapsed : 0.0;
        if (json) {
          nlohmann::json j = {{"stream", target.stream},
                              {"emitted", total},
                              {"emitted_by_type", types.by_type},
                              {"delivered", s.delivered},
                              {"dropped", dropped},
                              {"failed", s.failed},
                              {"unaccounted", unaccounted},
                              {"elapsed_s", elapsed},
                              {"events_per_second", per_second},
                              {"round_trips", s.round_trips},
                              {"transport_errors", s.transport_errors}};
          if (!target.token_stream.empty()) j["token_stream"] = target.token_stream;
          if (sharded) {
            nlohmann::json shards = nlohmann::json::array();
            for (std::size_t i = 0; i < per_shard.size(); ++i) {
              shards.push_back({{"shard", i},
                                {"stream", shard_stream_key(target.stream, i)},
                                {"delivered", per_shard[i].delivered},
                                {"dropped", per_shard[i].dropped()},
                                {"failed", per_shard[i].failed}});
            }
            j["shards"] = std::move(shards);
          }
          std::cout << j.dump(2) << "\n";
        } else {
          std::string by_type;
          for (const auto& [type, n] : types.by_type)
            by_type += (by_type.empty() ? "" : ", ") + type + " " + std::to_string(n);
          std::cout << fmt::format("emitted     {} events to '{}' ({})\n", total, target.stream,
                                   by_type);
          if (!target.token_stream.empty()) {
            std::cout << fmt::format("            token events to '{}'\n", target.token_stream);
          }
          std::cout << fmt::format("delivered   {}\n", s.delivered);
          for (std::size_t i = 0; i < per_shard.size(); ++i) {
            std::cout << fmt::format("  shard {:<4}{} to '{}'{}\n", i, per_shard[i].delivered,
                                     shard_stream_key(target.stream, i),
                                     per_shard[i].dropped() + per_shard[i].failed > 0
                                         ? fmt::format(" ({} dropped, {} failed)",
                                                       per_shard[i].dropped(), per_shard[i].failed)
                                         : std::string());
          }
          std::cout << fmt::format("dropped     {}\n", dropped)
                    << fmt::format("failed      {}\n", s.failed)
                    << fmt::format("elapsed     {:.3f} s\n", elapsed)
                    << fmt::format("rate        {:.0f} events/s delivered\n", per_second);
          if (unaccounted > 0) std::cout << fmt::format("UNACCOUNTED {} events\n", unaccounted);
          if (!s.last_error.empty() && (dropped > 0 || s.failed > 0))
            std::cout << "last error  " << s.last_error << "\n";
        }
        if (unaccounted > 0) return int(kAlert);
        if (dropped > 0 || s.failed > 0) return int(kLost);
        return int(kOk);
      },
      &json);
}

}  // namespace streamll::cli
