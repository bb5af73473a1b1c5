#include "exit_flush.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>

#include "logging.hpp"
#include "openssl_setup.hpp"
#include "sink_reaper.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll::detail {
namespace {

constexpr const char* kEnvVariable = "STREAMLL_EXIT_FLUSH_TIMEOUT_MS";

// Read once, when the flush is arranged, so that a bad value is reported while the program
// runs rather than as it exits.
std::chrono::milliseconds env_timeout = kDefaultExitFlushTimeout;

void read_env_timeout() noexcept {
  const char* text = std::getenv(kEnvVariable);
  if (text == nullptr) return;
  if (auto parsed = parse_exit_flush_timeout(text)) {
    env_timeout = *parsed;
    return;
  }
  if (auto logger = get_logger("streamll")) {
    try {
      logger->warn("{}='{}' is not a number of milliseconds; using {} ms", kEnvVariable, text,
                   kDefaultExitFlushTimeout.count());
    } catch (...) {
    }
  }
}

void flush_at_exit() noexcept {
  // std::exit after std::quick_exit's handlers (or the other way round) runs this once.
  static std::atomic<bool> ran{false};
  if (ran.exchange(true)) return;
  try {
    const auto instrumentor = default_instrumentor();
    // A year at most: now() + milliseconds::max() would overflow into the past.
    const auto timeout = std::clamp(instrumentor->exit_flush_timeout().value_or(env_timeout),
                                    std::chrono::milliseconds::zero(),
                                    std::chrono::milliseconds(std::chrono::hours(24 * 365)));
    // Together and in parallel: a sink that cannot deliver must not starve the others. The
    // sinks log what they drop, with its count (RedisSink: "shutdown: N event(s) ...").
    const std::size_t unfinished = SinkReaper::instance().drain(
        std::chrono::steady_clock::now() + timeout, instrumentor->sinks());
    if (unfinished > 0) {
      if (auto logger = get_logger("streamll")) {
        logger->warn(
            "at exit: not everything was delivered within {} ms ({} sink(s) "
            "unfinished); call streamll::shutdown() before exit or raise {}",
            timeout.count(), unfinished, kEnvVariable);
      }
    }
  } catch (...) {
    // Exit goes on whatever happens here.
  }
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_exit_flush_timeout(std::string_view text) noexcept {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return std::chrono::milliseconds(value);
}

void arrange_exit_flush() noexcept {
  static std::once_flag once;
  try {
    std::call_once(once, [] {
      read_env_timeout();
      // Handlers run in reverse order of registration, interleaved with the destructors of
      // statics: whatever the flush uses must exist before it is registered, so that it is
      // destroyed after the flush ran. spdlog's registry (and with its default logger, the
      // console mutex) is made here, without registering streamll's loggers yet: an
      // application may still register its own under their names. Sinks destroyed later in
      // static destruction log through loggers kept past the registry.
      keep_loggers_past_exit();
      (void)SinkReaper::instance();
      // OpenSSL 3 registers its own cleanup on first use; a TLS RedisSink or a
      // ShardedRedisSink (MD5) made after this must not find it cleaned up during the flush.
      // Each setup runs under setup_lock(), which fork() waits for: a child forked meanwhile
      // reruns this (glibc restarts an interrupted pthread_once) and never finds one half done.
      openssl_ready();
      std::atexit(flush_at_exit);
      std::at_quick_exit(flush_at_exit);
    });
  } catch (...) {
    // Without the registration, events are lost at exit as before; nothing else breaks.
  }
}

}  // namespace streamll::detail
