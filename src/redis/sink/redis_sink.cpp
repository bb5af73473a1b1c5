#include "streamll/sinks/redis_sink.hpp"

#include <algorithm>
#include <mutex>
#include <thread>
#include <utility>

#include "exit_deadline.hpp"
#include "redis/config/connection_target.hpp"
#include "redis/sink/redis_sink_impl.hpp"
#include "redis/sink/sink_seams.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How long shutdown() waits for the flusher after interrupting its I/O before leaving it to
// finish on its own (it then owns the sink's state through a shared pointer).
constexpr std::chrono::milliseconds kJoinGrace{200};

redis::TransportMaker transport_maker(RedisSinkTransportFactory factory,
                                      RedisSinkEndpointTransportFactory endpoint_factory) {
  if (endpoint_factory) {
    return [f = std::move(endpoint_factory)](const redis::ConnectionTarget& t) {
      return f(RedisEndpoint{t.host, t.port, false});
    };
  }
  if (factory) return [f = std::move(factory)](const redis::ConnectionTarget&) { return f(); };
  return {};
}

detail::CircuitBreakerOptions breaker_options(const RedisSinkOptions& o,
                                              const detail::ClockSource& clock) {
  detail::CircuitBreakerOptions b;
  b.enabled = o.circuit_breaker;
  b.failure_threshold = o.failure_threshold;
  b.recovery_timeout = o.recovery_timeout;
  b.max_backoff = std::max(o.recovery_timeout * 10, o.recovery_timeout);
  b.clock = &clock;
  b.on_state_change = [stream = o.stream_key](BreakerState from, BreakerState to) {
    // State changes are rare and each one matters: logged unthrottled, once each, and at
    // warn, the default level, so an outage's end shows as surely as its start.
    if (auto breaker_log = detail::get_logger("streamll.sinks.redis")) {
      breaker_log->warn("circuit breaker for stream '{}': {} -> {}", stream, to_string(from),
                        to_string(to));
    }
  };
  return b;
}

}  // namespace

RedisSink::Impl::Impl(RedisSinkOptions opts, RedisSinkTransportFactory factory,
                      RedisSinkEndpointTransportFactory endpoint_factory,
                      const detail::ClockSource& clock_source)
    : options(validated(std::move(opts))),
      fake_transports(factory || endpoint_factory),
      connector(options.connection,
                transport_maker(std::move(factory), std::move(endpoint_factory))),
      clock(clock_source),
      encoder(options),
      buffer(options.buffer_size, options.buffer_overflow_strategy, detail::Staging::when_full),
      breaker(breaker_options(options, clock_source)),
      batches(options.max_batch_size),
      durable(options, clock_source, counters),
      isolation(*this, counters, options.stream_key, durable.enabled()),
      compaction(buffer, encoder, counters) {
  if (connector.deployment() == RedisDeployment::cluster)
    slot = redis::key_slot(options.stream_key);
}

bool RedisSink::Impl::forked_shutdown() {
  const std::uint64_t dropped = dropped_after_fork.load(std::memory_order_relaxed);
  accepting.store(false, std::memory_order_relaxed);
  if (!fork_reported.exchange(true) && dropped > 0) {
    logger->warn(
        "forked child: {} event(s) for stream '{}' were dropped (a RedisSink delivers "
        "only in the process that created it)",
        dropped, options.stream_key);
  }
  return dropped == 0;
}

RedisSinkOptions RedisSink::Impl::validated(RedisSinkOptions opts) {
  opts.validate();
  if (!opts.consumer_name.empty() &&
      opts.connection.client_name == RedisConnectionOptions{}.client_name) {
    opts.connection.client_name = opts.consumer_name;
  }
  return opts;
}

void RedisSink::Impl::push(Event&& event) {
  if (forked()) {
    dropped_after_fork.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!accepting.load(std::memory_order_relaxed)) {
    counters.dropped_after_shutdown.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto result = buffer.push(std::move(event));
  if (result.outcome != detail::PushOutcome::rejected_full) return;
  if (options.buffer_overflow_strategy == OverflowStrategy::raise_error) {
    throw BufferOverflowError(
        "RedisSink buffer full (buffer_size=" + std::to_string(options.buffer_size) + ", stream '" +
        options.stream_key + "'): event dropped");
  }
  if (overflow_log_due()) {
    log.log(spdlog::level::warn,
            "RedisSink buffer full (buffer_size=" + std::to_string(options.buffer_size) +
                "): dropping events (" + std::string(to_string(options.buffer_overflow_strategy)) +
                ")");
  }
}

// Logging from the hot path only once per second at most, checked without a lock.
bool RedisSink::Impl::overflow_log_due() noexcept {
  const auto now = SteadyClock::now().time_since_epoch().count();
  auto last = last_overflow_log.load(std::memory_order_relaxed);
  if (now - last <
      std::chrono::duration_cast<SteadyClock::duration>(std::chrono::seconds(1)).count()) {
    return false;
  }
  return last_overflow_log.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

RedisSink::RedisSink(RedisSinkOptions options)
    : RedisSink(std::move(options), detail::RedisSinkSeams{}) {}

RedisSink::RedisSink(RedisSinkOptions options, detail::RedisSinkSeams seams)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(seams.make_transport),
                                   std::move(seams.make_endpoint_transport), *seams.clock)) {
  if (!impl_->fake_transports) {
    // Fail at construction, not on the flusher, for TLS files or settings the transport rejects.
    (void)redis::make_socket_transport(impl_->options.connection);
  }
  impl_->flusher = std::thread([impl = impl_] { impl->run(); });
}

RedisSink::~RedisSink() {
  try {
    shutdown(impl_->options.shutdown_timeout);
  } catch (...) {
  }
}

void RedisSink::handle(const Event& event) { impl_->push(Event(event)); }
void RedisSink::handle_owned(Event&& event) { impl_->push(std::move(event)); }

bool RedisSink::flush(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (s.forked()) return s.dropped_after_fork.load(std::memory_order_relaxed) == 0;
  const auto deadline = SteadyClock::now() + timeout;
  // What producers staged before this call gets its sequence number now. What stays staged
  // (every slot in flight) gets numbers from accepted() on: counting that many more (staged()
  // read first, so a move in between can only add) may also wait for another thread's later
  // events, never for fewer than this call must.
  s.buffer.drain_stages();
  const std::uint64_t still_staged = s.buffer.staged();
  const std::uint64_t mark = s.buffer.accepted() + still_staged;
  // This call answers for the events enqueued since the previous call began: the fate of
  // earlier ones was that call's answer (true: delivered; false: it said so).
  const std::uint64_t window_start = s.ledger.open_window(mark);
  s.buffer.wake_consumer();
  bool resolved = false;
  {
    std::unique_lock<std::mutex> lock(s.progress_mutex);
    resolved = s.progress_cv.wait_until(lock, deadline, [&] {
      return s.flusher_done || s.buffer.oldest_pending_sequence() >= mark;
    });
    resolved = resolved && s.buffer.oldest_pending_sequence() >= mark;
  }
  bool lost = s.buffer.evicted_any_in(window_start, mark);
  lost = s.ledger.failed_in(window_start, mark) || lost;
  if (s.ledger.close_window()) s.buffer.forget_evictions_below(window_start);
  return resolved && !lost;
}

bool RedisSink::shutdown(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (s.forked()) return s.forked_shutdown();
  std::lock_guard<std::mutex> once(s.shutdown_mutex);
  if (s.shut_down) return s.shutdown_result;
  s.shut_down = true;
  const auto start = SteadyClock::now();
  const auto deadline = start + timeout;
  s.accepting.store(false, std::memory_order_relaxed);
  s.stop_deadline_ticks.store(deadline.time_since_epoch().count(), std::memory_order_release);
  s.stopping.store(true, std::memory_order_release);
  s.buffer.drain_stages();
  s.buffer.wake_consumer();

  std::unique_lock<std::mutex> lock(s.progress_mutex);
  bool cut_short_by_exit = false;
  if (!detail::wait_until_done_or_exit(s.progress_cv, lock, deadline,
                                       [&] { return s.flusher_done; })) {
    cut_short_by_exit = detail::exit_deadline() < deadline;
    // Given up: the flusher stops now too (its loop and I/O bounds read this), not at the
    // deadline it was given, which the exit may have cut short.
    s.stop_deadline_ticks.store(std::min(SteadyClock::now(), deadline).time_since_epoch().count(),
                                std::memory_order_release);
    lock.unlock();
    s.interrupt_transport();
    s.buffer.wake_consumer();
    lock.lock();
    s.progress_cv.wait_for(lock, kJoinGrace, [&] { return s.flusher_done; });
  }
  const bool finished = s.flusher_done;
  lock.unlock();
  if (finished) {
    s.flusher.join();
  } else {
    // Still stuck (e.g. in name resolution, which has no timeout): the thread keeps the state
    // alive through its shared pointer and ends on its own.
    s.flusher.detach();
  }
  s.buffer.drain_stages();  // a producer that raced with `accepting` may have staged since
  const std::size_t left = s.buffer.size();
  s.counters.left_at_shutdown.store(left, std::memory_order_relaxed);
  // Looked up now, not the flusher's logger: this may run during static destruction.
  const auto logger = left > 0 ? detail::get_logger("streamll.sinks.redis") : nullptr;
  if (logger && cut_short_by_exit) {
    logger->warn(
        "shutdown: {} event(s) for stream '{}' could not be delivered before the process "
        "exited ({} ms of the {} ms allowed) and are dropped",
        left, s.options.stream_key,
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count(),
        timeout.count());
  } else if (logger) {
    logger->warn(
        "shutdown: {} event(s) for stream '{}' could not be delivered within {} ms and "
        "are dropped",
        left, s.options.stream_key, timeout.count());
  }
  s.shutdown_result = left == 0;
  return s.shutdown_result;
}

bool RedisSink::is_running() const noexcept {
  return !impl_->forked() && impl_->accepting.load(std::memory_order_relaxed);
}

RedisSinkStats RedisSink::stats() const {
  if (impl_->forked()) {
    // The child's own view: what it was handed (the counters above are the parent's).
    RedisSinkStats out;
    out.dropped_after_fork = impl_->dropped_after_fork.load(std::memory_order_relaxed);
    return out;
  }
  // A pure read: `s` is const, so nothing here can move or count events. Staged events are
  // enqueued and buffered (they all enter the buffer, within one flusher round); evictions
  // are counted once they happen, so no counter ever goes down.
  const Impl& s = *impl_;
  const auto counts = s.buffer.counts();
  RedisSinkStats out;
  out.enqueued = counts.accepted + counts.staged;
  out.dropped_oldest = counts.evicted_oldest;
  if (s.options.buffer_overflow_strategy == OverflowStrategy::raise_error) {
    out.dropped_raise_error = counts.rejected;
  } else {
    // drop_newest, and drop_oldest when every slot was in flight: the new event is the one lost.
    out.dropped_newest = counts.rejected;
  }
  const std::uint64_t left_at_shutdown =
      s.counters.left_at_shutdown.load(std::memory_order_relaxed);
  out.dropped_on_shutdown =
      s.counters.dropped_after_shutdown.load(std::memory_order_relaxed) + left_at_shutdown;
  s.counters.read_into(out);
  out.buffered = left_at_shutdown > 0 ? 0 : counts.size + counts.staged;
  out.in_flight = counts.in_flight;
  out.buffered_compacted = s.buffer.waiting_before(s.compaction.compacted_through());
  out.breaker_state = s.breaker.state();
  {
    std::lock_guard<std::mutex> lock(s.error_mutex);
    out.last_error = s.last_error;
    out.last_error_time = s.last_error_time;
    out.server = s.server;
  }
  return out;
}

std::size_t RedisSink::buffered() const noexcept {
  if (impl_->forked()) return 0;
  return impl_->buffer.size() + impl_->buffer.staged();
}

CircuitBreakerStatus RedisSink::circuit_breaker() const {
  const auto& b = impl_->breaker;
  CircuitBreakerStatus status;
  status.state = b.state();
  status.is_open = b.is_open();
  status.failure_count = b.failure_count();
  status.total_failures = b.total_failures();
  status.last_failure_time = b.last_failure_time();
  status.next_attempt_in =
      std::chrono::duration_cast<std::chrono::milliseconds>(b.next_attempt_in());
  return status;
}

void RedisSink::reset_circuit_breaker() {
  impl_->breaker.reset();
  impl_->buffer.wake_consumer();
}

const RedisSinkOptions& RedisSink::options() const noexcept { return impl_->options; }

}  // namespace streamll
