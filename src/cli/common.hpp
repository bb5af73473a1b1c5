#pragma once
// What every streamll subcommand shares: the connection options (--url, --stream, TLS) over
// the environment's defaults, exit codes, one-line error messages, and stopping on SIGINT /
// SIGTERM.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.hpp"
#include "streamll/redis/analytics.hpp"
#include "streamll/redis/consumer.hpp"
#include "streamll/redis/options.hpp"

namespace streamll::cli {

/// Exit codes, the same for every subcommand (health: see its help).
enum ExitCode : int {
  kOk = 0,
  kAlert = 1,          ///< health alert; events unaccounted for (emit)
  kUnreachable = 2,    ///< connect, I/O, TLS or timeout failure
  kAuthFailed = 3,     ///< AUTH refused or required
  kNoStream = 4,       ///< the stream does not exist
  kRefused = 5,        ///< the server refused a command (WRONGTYPE, NOPERM, ...)
  kLost = 6,           ///< emit: events dropped or refused (all accounted for)
  kProducerAlert = 7,  ///< health: a producer is dropping or has its breaker open (no other alert)
  kUsage = 64,         ///< bad command line (sysexits' EX_USAGE)
};

/// --url, --stream, --db, --user, TLS, timeout and sharding options.
std::vector<OptionSpec> connection_option_specs();
/// --token-stream: for the commands that read or write token events (tail, consume, health,
/// emit).
OptionSpec token_stream_option_spec();

/// What the common options resolve to.
struct Target {
  RedisConnectionOptions connection;
  std::string stream;
  /// Token events' own stream (resolve_token_stream()); empty: none.
  std::string token_stream;
  /// A sharded deployment (--shard-url, --shard-count; STREAMLL_SHARD_URLS/_COUNT): the
  /// ShardedRedisSink's layout. Empty and 0: the one stream.
  std::vector<std::string> shard_urls;
  std::size_t shard_count = 0;

  bool sharded() const noexcept { return !shard_urls.empty() || shard_count > 0; }
  /// For the analytics: every shard, or the one stream.
  ShardedStream source() const;
  /// For the consumers: the connection, stream and shards; the rest at their defaults.
  ConsumerOptions consumer_options() const;
};

/// RedisConnectionOptions::from_env() (REDIS_URL, REDIS_PASSWORD, ...), STREAMLL_STREAM_KEY,
/// STREAMLL_SHARD_URLS and STREAMLL_SHARD_COUNT, then the command line on top. Throws
/// UsageError / ConfigError.
Target resolve_target(const Args& args);
/// Target::token_stream for the commands that take --token-stream: the option, else
/// STREAMLL_TOKEN_STREAM_KEY. Throws UsageError when it names --stream.
void resolve_token_stream(const Args& args, Target& target);

/// Connects once (PING) and optionally checks that the stream exists, so a command fails with
/// a clear message and exit code before it starts working; through the same connector as the
/// library (Sentinel, Cluster). Sharded: fails only when no shard can be reached or serve
/// (LOADING, MASTERDOWN), when a login is refused or a shard answers WRONGTYPE or NOPERM, or,
/// when the stream must exist, when no shard has it. Throws like the
/// transport, and StreamNotFoundError. Returns whether the stream (a shard of it) exists.
bool preflight(const Target& target, bool stream_must_exist);

/// A sharded consumer's end: names on stderr each shard that failed and was not connected when
/// it stopped (its last error), and returns false when there was one. A shard never tried
/// (the consumer stopped at --count before reaching it) did not fail.
bool report_disconnected_shards(const std::string& command, const Target& target,
                                const std::vector<ConsumerStats>& shards);

/// "shard 1 ('ml_events_shard_1' on host:port) could not be read: <error>\n", or "" when it was.
std::string describe_unavailable_shard(const ShardStatus& shard);
/// One such line per shard that could not be read (ShardStatus, ShardUsage, ShardHealth).
template <typename Shards>
std::string describe_unavailable_shards(const Shards& shards) {
  std::string out;
  for (const ShardStatus& s : shards) out += describe_unavailable_shard(s);
  return out;
}

/// Prints "streamll <command>: <message>" on stderr and returns the exit code for `error`.
int report_error(const std::string& command, const std::exception& error);
/// Runs `body`, turning exceptions into report_error(). When `*json_output` is true by then
/// (the command's --json), the error is also printed on stdout as a JSON object, so a script
/// parsing stdout gets JSON either way:
///   {"error": {"kind": "stream_missing", "message": "...", "exit_code": 4}}
/// `map_code`, when given, turns report_error()'s code into the command's own before it is
/// printed or returned, so the JSON's exit_code is the real exit status.
int guarded(const std::string& command, const std::function<int()>& body,
            const bool* json_output = nullptr, const std::function<int(int)>& map_code = nullptr);

/// Whether argv[first..] holds --json: known before parsing, so that a usage error found while
/// parsing is printed as JSON too.
bool json_requested(int argc, char** argv, int first);

/// The kind an exit code stands for in a JSON error: "unreachable", "auth_failed",
/// "stream_missing", "refused", "usage", else "error".
const char* exit_code_kind(int code) noexcept;

/// Sends streamll's own log lines (reconnects, skipped entries) to stderr as
/// "streamll: warning: ..." instead of spdlog's default pattern. Call before anything logs.
void configure_logging();

/// Calls `on_signal` (on a thread of its own) when SIGINT or SIGTERM arrives while alive.
/// Construct before starting any other thread: the signals are blocked for the whole process
/// so that only this thread receives them.
class StopOnSignal {
 public:
  explicit StopOnSignal(std::function<void()> on_signal);
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  bool signalled() const noexcept { return signalled_.load(); }

 private:
  std::function<void()> on_signal_;
  std::atomic<bool> signalled_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

/// "<prefix>-<host>-<pid>": a consumer name unique to this process.
std::string default_consumer_name(const std::string& prefix);

/// True when stderr is a terminal (progress lines).
bool stderr_is_terminal() noexcept;

}  // namespace streamll::cli
