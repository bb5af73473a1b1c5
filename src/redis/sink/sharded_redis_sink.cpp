#include "streamll/sinks/sharded_redis_sink.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <system_error>
#include <thread>

#include "openssl_setup.hpp"
#include "redis/config/env_list.hpp"
#include "redis/routing/shard_layout.hpp"
#include "redis/sink/sink_seams.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/errors.hpp"
#include "support/clock.hpp"
#include "support/deadline.hpp"

namespace streamll {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::size_t shard_total(const ShardedRedisSinkOptions& o) {
  return redis::shard_total(o.shard_urls, o.shard_count);
}

RedisSinkOptions shard_options(const ShardedRedisSinkOptions& o, std::size_t index) {
  RedisSinkOptions shard = redis::options_for_shard<RedisSinkOptions>(
      o.sink, o.shard_urls, o.sink.stream_key, index, &RedisSinkOptions::stream_key);
  if (!o.sink.token_stream_key.empty()) {
    shard.token_stream_key = redis::shard_stream_key_of(o.sink.token_stream_key, index);
  }
  return shard;
}

int breaker_rank(BreakerState s) {
  return s == BreakerState::open ? 2 : s == BreakerState::half_open ? 1 : 0;
}

}  // namespace

ShardedRedisSinkOptions ShardedRedisSinkOptions::from_env(const EnvLookup& lookup) {
  ShardedRedisSinkOptions o;
  o.sink = RedisSinkOptions::from_env(lookup);
  redis::read_shard_env(lookup, o.shard_urls, o.shard_count);
  if (auto v = redis::read_env(lookup, "STREAMLL_SHARD_HASH")) {
    if (*v == "md5") {
      o.shard_hash = ShardHash::md5;
    } else if (*v == "fnv1a") {
      o.shard_hash = ShardHash::fnv1a;
    } else {
      throw ConfigError("STREAMLL_SHARD_HASH", "'" + *v + "' is not one of md5, fnv1a");
    }
  }
  return o;
}

void ShardedRedisSinkOptions::validate() const {
  redis::validate_shard_layout(shard_urls, shard_count, /*required=*/true);
  if (shard_hash == ShardHash::md5 && !detail::openssl_ready()) {
    throw ConfigError("shard_hash",
                      "OpenSSL offers no MD5 here (a FIPS-only configuration?): "
                      "use ShardHash::fnv1a, on every producer of these shards");
  }
  const std::size_t n = shard_total(*this);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      shard_options(*this, i).validate();
    } catch (const ConfigError& e) {
      redis::rethrow_for_shard(e, i);
    }
  }
}

ShardedRedisSink::ShardedRedisSink(ShardedRedisSinkOptions options)
    : ShardedRedisSink(std::move(options), detail::ShardedRedisSinkSeams{}) {}

ShardedRedisSink::ShardedRedisSink(ShardedRedisSinkOptions options,
                                   detail::ShardedRedisSinkSeams seams)
    : shard_hash_(options.shard_hash), shutdown_timeout_(options.sink.shutdown_timeout) {
  options.validate();
  const std::size_t n = shard_total(options);
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    detail::RedisSinkSeams shard_seams;
    shard_seams.clock = seams.clock;
    if (seams.make_transport) {
      shard_seams.make_endpoint_transport = [make = seams.make_transport,
                                             i](const RedisEndpoint& e) { return make(i, e); };
    }
    shards_.push_back(
        std::unique_ptr<RedisSink>(new RedisSink(shard_options(options, i), shard_seams)));
  }
}

ShardedRedisSink::~ShardedRedisSink() {
  try {
    shutdown(shutdown_timeout_);
  } catch (...) {
  }
}

std::size_t ShardedRedisSink::shard_of(std::string_view execution_id) const noexcept {
  return shard_for_execution(execution_id, shards_.size(), shard_hash_);
}

void ShardedRedisSink::handle(const Event& event) {
  shards_[shard_of(event.execution_id())]->handle(event);
}

void ShardedRedisSink::handle_owned(Event&& event) {
  const std::size_t shard = shard_of(event.execution_id());
  shards_[shard]->handle_owned(std::move(event));
}

bool ShardedRedisSink::flush(std::chrono::milliseconds timeout) {
  const auto deadline = detail::deadline_in(timeout);
  bool all = true;
  for (auto& shard : shards_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    all = shard->flush(std::max(left, std::chrono::milliseconds(0))) && all;
  }
  return all;
}

bool ShardedRedisSink::shutdown(std::chrono::milliseconds timeout) {
  if (!is_running()) {
    // Shut down already, or a forked child's copy: every shard answers at once, so no
    // threads (a child's may not be able to start any).
    bool all = true;
    for (auto& shard : shards_) all = shard->shutdown(timeout) && all;
    return all;
  }
  // In parallel: a shard whose Redis is down must not eat the others' time.
  std::vector<char> clean(shards_.size(), 0);
  std::vector<std::thread> threads;
  threads.reserve(shards_.size());
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    try {
      threads.emplace_back([&, i] { clean[i] = shards_[i]->shutdown(timeout) ? 1 : 0; });
    } catch (const std::system_error&) {
      clean[i] = shards_[i]->shutdown(timeout) ? 1 : 0;  // no thread to be had: in turn
    }
  }
  for (auto& t : threads) t.join();
  return std::all_of(clean.begin(), clean.end(), [](char c) { return c != 0; });
}

bool ShardedRedisSink::is_running() const noexcept {
  return std::any_of(shards_.begin(), shards_.end(), [](const auto& s) { return s->is_running(); });
}

std::vector<RedisSinkStats> ShardedRedisSink::shard_stats() const {
  std::vector<RedisSinkStats> out;
  out.reserve(shards_.size());
  for (const auto& shard : shards_) out.push_back(shard->stats());
  return out;
}

RedisSinkStats ShardedRedisSink::stats() const {
  RedisSinkStats total;
  total.connected = !shards_.empty();
  for (const RedisSinkStats& s : shard_stats()) {
    total.enqueued += s.enqueued;
    total.delivered += s.delivered;
    total.dropped_oldest += s.dropped_oldest;
    total.dropped_newest += s.dropped_newest;
    total.dropped_raise_error += s.dropped_raise_error;
    total.dropped_on_shutdown += s.dropped_on_shutdown;
    total.dropped_after_fork += s.dropped_after_fork;
    total.failed += s.failed;
    total.failed_protocol += s.failed_protocol;
    total.failed_too_large += s.failed_too_large;
    total.truncated += s.truncated;
    total.retried_batches += s.retried_batches;
    total.round_trips += s.round_trips;
    total.transport_errors += s.transport_errors;
    total.reply_errors += s.reply_errors;
    total.reconnects += s.reconnects;
    total.replica_waits += s.replica_waits;
    total.replica_ack_shortfalls += s.replica_ack_shortfalls;
    total.moved_redirects += s.moved_redirects;
    total.ask_redirects += s.ask_redirects;
    total.buffered += s.buffered;
    total.in_flight += s.in_flight;
    total.buffered_compacted += s.buffered_compacted;
    total.redaction_failures += s.redaction_failures;
    total.heartbeats_sent += s.heartbeats_sent;
    total.heartbeats_failed += s.heartbeats_failed;
    total.connected = total.connected && s.connected;
    if (breaker_rank(s.breaker_state) > breaker_rank(total.breaker_state))
      total.breaker_state = s.breaker_state;
    if (s.last_error_time &&
        (!total.last_error_time || *s.last_error_time > *total.last_error_time)) {
      total.last_error = s.last_error;
      total.last_error_time = s.last_error_time;
      total.server = s.server;
    }
    total.last_flush_latency = std::max(total.last_flush_latency, s.last_flush_latency);
  }
  return total;
}

std::size_t ShardedRedisSink::buffered() const noexcept {
  std::size_t total = 0;
  for (const auto& shard : shards_) total += shard->buffered();
  return total;
}

}  // namespace streamll
