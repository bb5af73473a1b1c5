#pragma once
// The Redis sink's own counters: written by the flusher, read by RedisSink::stats() on any
// thread (delivered, failed and the drops are the pipeline's). Atomics without ordering, except
// transport_errors (see record_transport_error).

#include <atomic>
#include <cstdint>

#include "streamll/sinks/redis_sink.hpp"

namespace streamll::redis {

struct SinkCounters {
  std::atomic<std::uint64_t> failed_protocol{0};
  std::atomic<std::uint64_t> failed_too_large{0};
  std::atomic<std::uint64_t> truncated{0};
  std::atomic<std::uint64_t> retried_batches{0};
  std::atomic<std::uint64_t> round_trips{0};
  std::atomic<std::uint64_t> transport_errors{0};
  std::atomic<std::uint64_t> reply_errors{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> replica_waits{0};
  std::atomic<std::uint64_t> replica_ack_shortfalls{0};
  std::atomic<std::uint64_t> moved_redirects{0};
  std::atomic<std::uint64_t> ask_redirects{0};
  std::atomic<std::uint64_t> heartbeats_sent{0};
  std::atomic<std::uint64_t> heartbeats_failed{0};
  std::atomic<bool> connected{false};
  std::atomic<std::int64_t> last_flush_latency_us{0};

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  // Released after last_error is set: a reader that sees the count also sees why.
  void record_transport_error() noexcept {
    transport_errors.fetch_add(1, std::memory_order_release);
  }

  /// The fields of `out` these counters hold.
  void read_into(RedisSinkStats& out) const noexcept {
    const auto get = [](const std::atomic<std::uint64_t>& c) {
      return c.load(std::memory_order_relaxed);
    };
    out.failed_protocol = get(failed_protocol);
    out.failed_too_large = get(failed_too_large);
    out.truncated = get(truncated);
    out.retried_batches = get(retried_batches);
    out.round_trips = get(round_trips);
    out.transport_errors = transport_errors.load(std::memory_order_acquire);
    out.reply_errors = get(reply_errors);
    out.reconnects = get(reconnects);
    out.replica_waits = get(replica_waits);
    out.replica_ack_shortfalls = get(replica_ack_shortfalls);
    out.moved_redirects = get(moved_redirects);
    out.ask_redirects = get(ask_redirects);
    out.heartbeats_sent = get(heartbeats_sent);
    out.heartbeats_failed = get(heartbeats_failed);
    out.connected = connected.load(std::memory_order_relaxed);
    out.last_flush_latency =
        std::chrono::microseconds(last_flush_latency_us.load(std::memory_order_relaxed));
  }
};

}  // namespace streamll::redis
