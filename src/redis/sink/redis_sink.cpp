// RedisSink: a Pipeline (src/pipeline) with the Redis engine behind it. This file maps the
// sink's options onto the pipeline's and the pipeline's counts onto RedisSinkStats.

#include "streamll/sinks/redis_sink.hpp"

#include <algorithm>
#include <utility>

#include "pipeline/pipeline.hpp"
#include "redis/config/connection_target.hpp"
#include "redis/sink/redis_engine.hpp"
#include "redis/sink/sink_seams.hpp"
#include "redis/sink/sink_stats.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll {
namespace {

// How long shutdown() waits for the flusher after interrupting its I/O before leaving it to
// finish on its own (it then owns the pipeline through a shared pointer).
constexpr std::chrono::milliseconds kJoinGrace{200};
// The Redis engine bounds each call by its own timeouts (connect, socket, WAIT); this only
// bounds what the pipeline gives it for flush() and close(), which do no I/O.
constexpr std::chrono::milliseconds kEngineCallTimeout{5000};

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

RedisSinkOptions validated(RedisSinkOptions opts) {
  opts.validate();
  if (!opts.consumer_name.empty() &&
      opts.connection.client_name == RedisConnectionOptions{}.client_name) {
    opts.connection.client_name = opts.consumer_name;
  }
  return opts;
}

BatchingSinkOptions pipeline_options(const RedisSinkOptions& o) {
  BatchingSinkOptions p;
  p.buffer_size = o.buffer_size;
  p.overflow = o.buffer_overflow_strategy;
  p.max_batch_size = o.max_batch_size;
  p.flush_interval = o.flush_interval;
  p.export_timeout = kEngineCallTimeout;
  p.shutdown_timeout = o.shutdown_timeout;
  p.retry.circuit_breaker = o.circuit_breaker;
  p.retry.failure_threshold = o.failure_threshold;
  p.retry.recovery_timeout = o.recovery_timeout;
  p.logger = "streamll.sinks.redis";
  p.redact = o.redact;
  return p;
}

detail::PipelineTuning pipeline_tuning(const RedisSinkOptions& o,
                                       const detail::ClockSource& clock) {
  detail::PipelineTuning t;
  t.log_name = "RedisSink (stream '" + o.stream_key + "')";
  t.join_grace = kJoinGrace;
  t.clock = &clock;
  t.staging = detail::Staging::when_full;
  // True when nothing was left behind; losses are flush()'s to report.
  t.shutdown_reports_losses = false;
  t.refusals_fail_flush = false;
  t.report_left_at_shutdown = [stream = o.stream_key](std::uint64_t left, bool cut_short_by_exit,
                                                      std::chrono::milliseconds took,
                                                      std::chrono::milliseconds timeout) {
    // Looked up now, not the flusher's logger: this may run during static destruction.
    const auto logger = detail::get_logger("streamll.sinks.redis");
    if (!logger) return;
    if (cut_short_by_exit) {
      logger->warn(
          "shutdown: {} event(s) for stream '{}' could not be delivered before the process "
          "exited ({} ms of the {} ms allowed) and are dropped",
          left, stream, took.count(), timeout.count());
    } else {
      logger->warn(
          "shutdown: {} event(s) for stream '{}' could not be delivered within {} ms and are "
          "dropped",
          left, stream, timeout.count());
    }
  };
  t.on_breaker_change = [stream = o.stream_key](BreakerState from, BreakerState to) {
    // State changes are rare and each one matters: logged unthrottled, once each, and at
    // warn, the default level, so an outage's end shows as surely as its start.
    if (auto breaker_log = detail::get_logger("streamll.sinks.redis")) {
      breaker_log->warn("circuit breaker for stream '{}': {} -> {}", stream, to_string(from),
                        to_string(to));
    }
  };
  return t;
}

}  // namespace

struct RedisSink::Impl {
  RedisSinkOptions options;
  std::shared_ptr<detail::Pipeline> pipeline;
  const redis::RedisEngine* engine = nullptr;  // owned by the pipeline
  std::atomic<bool> fork_reported{false};
};

RedisSink::RedisSink(RedisSinkOptions options)
    : RedisSink(std::move(options), detail::RedisSinkSeams{}) {}

RedisSink::RedisSink(RedisSinkOptions options, detail::RedisSinkSeams seams)
    : impl_(std::make_shared<Impl>()) {
  Impl& s = *impl_;
  s.options = validated(std::move(options));
  const bool fake_transports = seams.make_transport || seams.make_endpoint_transport;
  if (!fake_transports) {
    // Fail at construction, not on the flusher, for TLS files or settings the transport rejects.
    (void)redis::make_socket_transport(s.options.connection);
  }
  const detail::ClockSource& clock = *seams.clock;
  const redis::RedisEngine* engine = nullptr;
  s.pipeline = detail::Pipeline::start(
      [&, maker = transport_maker(std::move(seams.make_transport),
                                  std::move(seams.make_endpoint_transport))](
          detail::Pipeline& pipeline) {
        auto made = std::make_unique<redis::RedisEngine>(pipeline, s.options, maker, clock);
        engine = made.get();
        return made;
      },
      pipeline_options(s.options), pipeline_tuning(s.options, clock));
  s.engine = engine;
}

RedisSink::~RedisSink() {
  try {
    shutdown(impl_->options.shutdown_timeout);
  } catch (...) {
  }
}

void RedisSink::handle(const Event& event) { handle_owned(Event(event)); }

void RedisSink::handle_owned(Event&& event) {
  if (!impl_->pipeline->push(std::move(event))) {
    throw BufferOverflowError(
        "RedisSink buffer full (buffer_size=" + std::to_string(impl_->options.buffer_size) +
        ", stream '" + impl_->options.stream_key + "'): event dropped");
  }
}

bool RedisSink::flush(std::chrono::milliseconds timeout) { return impl_->pipeline->flush(timeout); }

bool RedisSink::shutdown(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (s.pipeline->forked()) {
    const std::uint64_t dropped = s.pipeline->dropped_after_fork();
    if (!s.fork_reported.exchange(true) && dropped > 0) {
      if (auto logger = detail::get_logger("streamll.sinks.redis")) {
        logger->warn(
            "forked child: {} event(s) for stream '{}' were dropped (a RedisSink delivers "
            "only in the process that created it)",
            dropped, s.options.stream_key);
      }
    }
  }
  return s.pipeline->shutdown(timeout);
}

bool RedisSink::is_running() const noexcept { return impl_->pipeline->is_running(); }

RedisSinkStats RedisSink::stats() const {
  return redis::read_sink_stats(*impl_->pipeline, *impl_->engine,
                                impl_->options.buffer_overflow_strategy);
}

std::size_t RedisSink::buffered() const noexcept {
  const detail::Pipeline& p = *impl_->pipeline;
  if (p.forked()) return 0;
  // Once shutdown() gave up, what waits is dropped (stats().dropped_on_shutdown).
  if (p.gone()) return p.ring().in_flight();
  return p.ring().size() + p.ring().staged();
}

CircuitBreakerStatus RedisSink::circuit_breaker() const {
  CircuitBreakerStatus status;
  // A forked child's copy: the breaker's lock may have been held by the parent's flusher.
  if (impl_->pipeline->forked()) return status;
  const auto& b = impl_->pipeline->breaker();
  status.state = b.state();
  status.is_open = b.is_open();
  status.failure_count = b.failure_count();
  status.total_failures = b.total_failures();
  status.last_failure_time = b.last_failure_time();
  status.next_attempt_in =
      std::chrono::duration_cast<std::chrono::milliseconds>(b.next_attempt_in());
  return status;
}

void RedisSink::reset_circuit_breaker() { impl_->pipeline->reset_circuit_breaker(); }

const RedisSinkOptions& RedisSink::options() const noexcept { return impl_->options; }

}  // namespace streamll
