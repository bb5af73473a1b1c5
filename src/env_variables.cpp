#include "env_variables.hpp"

#include <algorithm>
#include <mutex>
#include <set>

#include "logging.hpp"

extern char** environ;  // POSIX: the process environment

namespace streamll::detail {
namespace {

constexpr std::string_view kPrefix = "STREAMLL_";
// A known name within this many single-character edits is suggested as the intended one.
constexpr std::size_t kTypoDistance = 3;

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view closest_known(std::string_view name) {
  std::string_view best;
  std::size_t best_distance = kTypoDistance + 1;
  for (std::string_view known : known_streamll_variables()) {
    const std::size_t d = edit_distance(name, known);
    if (d < best_distance) {
      best = known;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace

const std::vector<std::string_view>& known_streamll_variables() {
  static const std::vector<std::string_view> names = {
      // RedisSinkOptions::from_env()
      "STREAMLL_STREAM_KEY",
      "STREAMLL_BUFFER_SIZE",
      "STREAMLL_CIRCUIT_BREAKER",
      "STREAMLL_FAILURE_THRESHOLD",
      "STREAMLL_RECOVERY_TIMEOUT_MS",
      "STREAMLL_MAX_BATCH_SIZE",
      "STREAMLL_FLUSH_INTERVAL_MS",
      "STREAMLL_HEARTBEAT_INTERVAL_MS",
      "STREAMLL_MAX_STREAM_LENGTH",
      "STREAMLL_APPROXIMATE_TRIMMING",
      "STREAMLL_BUFFER_OVERFLOW_STRATEGY",
      "STREAMLL_CONSUMER_GROUP",
      "STREAMLL_CONSUMER_NAME",
      "STREAMLL_INDEX_FIELDS",
      "STREAMLL_SHUTDOWN_TIMEOUT_MS",
      "STREAMLL_MIN_REPLICAS_ACK",
      "STREAMLL_REPLICAS_ACK_TIMEOUT_MS",
      "STREAMLL_MAX_EVENT_BYTES",
      "STREAMLL_TOKEN_STREAM_KEY",  // ConsumerOptions::from_env() too
      "STREAMLL_TOKEN_MAX_STREAM_LENGTH",
      // Sharding: ShardedRedisSinkOptions and ConsumerOptions
      "STREAMLL_SHARD_URLS",
      "STREAMLL_SHARD_COUNT",
      "STREAMLL_SHARD_HASH",
      // The default instrumentor's delivery at exit (src/exit_flush.cpp)
      "STREAMLL_EXIT_FLUSH_TIMEOUT_MS",
      // InstrumentorOptions::token_mode's default (src/token_mode_env.cpp)
      "STREAMLL_TOKEN_MODE",
      // InstrumentorOptions::otel_genai_names' default (src/otel_genai_names_env.cpp)
      "STREAMLL_OTEL_GENAI_NAMES",
      // InstrumentorOptions::sample_rate's default (src/sampling.cpp)
      "STREAMLL_SAMPLE_RATE",
      // InstrumentorOptions::capture_content's default (src/capture_content_env.cpp)
      "STREAMLL_CAPTURE_CONTENT",
      // InstrumentorOptions::pricing_file's default (src/pricing_table.cpp)
      "STREAMLL_PRICING_FILE",
      // Set by `streamll consume --exec` for its handler, which may be a streamll program
      "STREAMLL_ENTRY_ID",
      "STREAMLL_EVENT_TYPE",
      "STREAMLL_STREAM",
  };
  return names;
}

std::vector<std::string> warn_unknown_streamll_variables(const char* const* environment) noexcept {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> warned;
  std::vector<std::string> now;
  try {
    const auto& known = known_streamll_variables();
    for (auto entry = environment; entry && *entry; ++entry) {
      const std::string_view variable(*entry);
      const std::string_view name = variable.substr(0, variable.find('='));
      if (name.substr(0, kPrefix.size()) != kPrefix) continue;
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!warned.emplace(name).second) continue;
      }
      now.emplace_back(name);
      auto logger = get_logger("streamll");
      if (!logger) continue;
      const std::string_view intended = closest_known(name);
      if (intended.empty()) {
        logger->warn("unknown environment variable {} ignored (not a streamll setting)", name);
      } else {
        logger->warn("unknown environment variable {} ignored (did you mean {}?)", name, intended);
      }
    }
  } catch (...) {
    // A warning must never stop the configuration from being read.
  }
  return now;
}

void warn_unknown_streamll_variables() noexcept { (void)warn_unknown_streamll_variables(environ); }

}  // namespace streamll::detail
