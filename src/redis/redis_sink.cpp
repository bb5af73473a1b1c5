#include "streamll/sinks/redis_sink.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "exit_deadline.hpp"
#include "fork_generation.hpp"
#include "logging.hpp"
#include "pipeline/loss_log.hpp"
#include "pipeline/ring_buffer.hpp"
#include "redis/batch_replies.hpp"
#include "redis/command_buffer.hpp"
#include "redis/connection_target.hpp"
#include "redis/connector.hpp"
#include "redis/injected.hpp"
#include "redis/reply.hpp"
#include "redis/transport.hpp"
#include "redis/xadd_encoder.hpp"
#include "streamll/redis/errors.hpp"
#include "support/circuit_breaker.hpp"

namespace streamll {
namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// After it has sent something, the flusher polls the buffer at this interval for a while
// instead of sleeping until notified, so producers in a steady stream never pay for a wake-up
// (a futex syscall) on their hot path. Idle longer than the linger time, it sleeps until the
// next event notifies it.
constexpr std::chrono::microseconds kPollInterval{250};
constexpr std::chrono::milliseconds kLingerTime{20};
// How long shutdown() waits for the flusher after interrupting its I/O before leaving it to
// finish on its own (it then owns the sink's state through a shared pointer).
constexpr std::chrono::milliseconds kJoinGrace{200};
// While Redis cannot be written to, waiting events are compacted this many at a time (one
// short lock to take them out, one to put them back), every kCompactionPeriod.
constexpr std::size_t kEncodeChunk = 32;
constexpr std::chrono::milliseconds kCompactionPeriod{5};
// Cluster redirections followed in a row without a batch completing before the next one counts
// as a failure (a slot bouncing between nodes that disagree must not spin the flusher).
constexpr int kMaxRedirects = 5;

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

// Redis answers a command it cannot parse (such as a bulk longer than proto-max-bulk-len)
// with this error, then closes the connection.
bool is_protocol_error(const redis::RedisReply& reply) {
  return reply.is_error() && reply.text.find("Protocol error") != std::string::npos;
}

}  // namespace

struct RedisSink::Impl {
  Impl(RedisSinkOptions opts, RedisSinkTransportFactory factory,
       RedisSinkEndpointTransportFactory endpoint_factory, const detail::ClockSource& clock_source)
      : options(validated(std::move(opts))),
        fake_transports(factory || endpoint_factory),
        connector(options.connection,
                  transport_maker(std::move(factory), std::move(endpoint_factory))),
        clock(clock_source),
        encoder(options),
        buffer(options.buffer_size, options.buffer_overflow_strategy, detail::Staging::when_full),
        breaker(breaker_options(options, clock_source, log)) {
    for (Batch& b : batches) {
      b.commands.reserve(options.max_batch_size * 512);
      b.events.reserve(options.max_batch_size);
    }
    if (connector.deployment() == RedisDeployment::cluster)
      slot = redis::key_slot(options.stream_key);
    if (durable()) {
      wait_command.append({"WAIT", std::to_string(options.min_replicas_ack),
                           std::to_string(options.replicas_ack_timeout.count())});
    }
  }

  bool durable() const noexcept { return options.min_replicas_ack > 0; }

  // In a forked child. Its copy of the sink must not touch what the parent's threads may have
  // held at the fork (the buffer's lock, the connection): it only counts.
  bool forked() const noexcept {
    return detail::current_fork_generation() != created_in_generation;
  }

  bool forked_shutdown() {
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

  static RedisSinkOptions validated(RedisSinkOptions opts) {
    opts.validate();
    if (!opts.consumer_name.empty() &&
        opts.connection.client_name == RedisConnectionOptions{}.client_name) {
      opts.connection.client_name = opts.consumer_name;
    }
    return opts;
  }

  static detail::CircuitBreakerOptions breaker_options(const RedisSinkOptions& o,
                                                       const detail::ClockSource& clock,
                                                       detail::RateLimitedLog&) {
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

  // ---------------------------------------------------------------- application threads

  void push(Event&& event) {
    if (forked()) {
      dropped_after_fork.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!accepting.load(std::memory_order_relaxed)) {
      dropped_after_shutdown.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const auto result = buffer.push(std::move(event));
    if (result.outcome != detail::PushOutcome::rejected_full) return;
    if (options.buffer_overflow_strategy == OverflowStrategy::raise_error) {
      throw BufferOverflowError(
          "RedisSink buffer full (buffer_size=" + std::to_string(options.buffer_size) +
          ", stream '" + options.stream_key + "'): event dropped");
    }
    if (overflow_log_due()) {
      log.log(spdlog::level::warn,
              "RedisSink buffer full (buffer_size=" + std::to_string(options.buffer_size) +
                  "): dropping events (" +
                  std::string(to_string(options.buffer_overflow_strategy)) + ")");
    }
  }

  // Logging from the hot path only once per second at most, checked without a lock.
  bool overflow_log_due() noexcept {
    const auto now = SteadyClock::now().time_since_epoch().count();
    auto last = last_overflow_log.load(std::memory_order_relaxed);
    if (now - last <
        std::chrono::duration_cast<SteadyClock::duration>(std::chrono::seconds(1)).count()) {
      return false;
    }
    return last_overflow_log.compare_exchange_strong(last, now, std::memory_order_relaxed);
  }

  // ---------------------------------------------------------------- flusher thread

  // Events taken from the buffer (in flight there until acknowledged), encoded as one
  // pipelined write. The flusher holds at most two: one on the wire and the next one, which it
  // encodes (and, outside Cluster mode and durable acknowledgements, sends) while Redis works
  // on the first. (So besides buffer_size events, at most two batches of delivered events
  // await being freed.)
  struct Batch {
    std::vector<redis::BufferedEvent> events;
    std::uint64_t first_sequence = 0;  // the events' sequence numbers follow on from it
    redis::CommandBuffer commands;     // the XADDs (then WAIT when durable)
    std::size_t xadds = 0;  // commands that are XADDs: events.size() unless some failed to encode
    std::vector<std::uint32_t> xadd_events;  // per XADD: its event's index in `events`
    bool started = false;  // written on the current connection; replies not read yet
    const redis::CommandBuffer* sent = nullptr;  // commands, or wait_command alone
    SteadyClock::time_point started_at;
    // Durable acknowledgements: every XADD was answered on connection `written_on`, but WAIT
    // saw too few replicas. While that connection lives, WAIT alone is asked again (it covers
    // every earlier write of the connection); the answers to settle the batch with are kept.
    bool awaiting_replicas = false;
    std::uint64_t written_on = 0;
    std::size_t pending_accepted = 0;
    std::vector<std::size_t> pending_refused_at;
    std::string pending_refusal;
    // Poison isolation: after the server closed the connection on this batch, its first
    // `isolate` events go one per round trip, so that one event Redis cannot take is found and
    // failed alone instead of the whole batch being replayed forever (docs/design.md).
    std::size_t isolate = 0;
  };

  Batch& batch_at(std::size_t i) noexcept { return batches[(first_batch + i) % batches.size()]; }

  void run() noexcept {
    auto last_activity = SteadyClock::now();
    while (true) {
      try {
        release_evicted();
        buffer.drain_stages();
        if (stopping.load(std::memory_order_acquire)) {
          if (batch_count == 0 && buffer.waiting() == 0) break;
          if (SteadyClock::now() >= stop_deadline()) break;
        }
        if (batch_count == 0 && !prepare_batch()) {
          notify_progress();
          if (stopping.load(std::memory_order_acquire)) continue;
          const bool lingering = SteadyClock::now() - last_activity < kLingerTime;
          if (lingering) {
            buffer.wait_for_events(buffer.no_event_wake, kPollInterval);
          } else {
            buffer.wait_for_events(1, options.flush_interval);
          }
          continue;
        }
        last_activity = SteadyClock::now();
        Batch& head = batch_at(0);
        if (!head.started) {
          if (head.awaiting_replicas && clock.steady_now() < replicas_retry_at) {
            // A WAIT that came back short before its timeout (a proxy, a fake) is not asked
            // again at once: Redis itself would have waited that long.
            buffer.wait_for_events(buffer.no_event_wake, kCompactionPeriod);
            continue;
          }
          if (!breaker.allow_request()) {
            wait_while_blocked();
            continue;
          }
          if (!ensure_connected()) continue;
          // Connecting may have settled the head (a suspect failed): look again.
          if (batch_count == 0 || &batch_at(0) != &head || head.started) continue;
          if (!start_batch(head)) continue;
        }
        // While Redis works on `head`, encode the next batch when a full one is waiting (a
        // partial one is better sent after `head`, with what arrives meanwhile), and send it
        // too where nothing can make `head` go again on this connection (a WAIT retried alone,
        // an ASK to another node): Redis then goes from one batch to the next without waiting
        // for this thread.
        if (batch_count == 1 && head.isolate == 0 && buffer.waiting() >= options.max_batch_size &&
            prepare_batch() && can_send_behind()) {
          start_batch(batch_at(1));
        }
        if (head.started) finish_batch(head);
      } catch (const std::exception& e) {
        // Nothing above should throw (transport errors are handled where they happen); if
        // something does, keep the thread alive and the batches for another try.
        record_error(std::string("flusher: unexpected error: ") + e.what());
        buffer.wait_for_events(buffer.no_event_wake, std::chrono::milliseconds(100));
      }
    }
    close_transport();
    {
      std::lock_guard<std::mutex> lock(progress_mutex);
      flusher_done = true;
    }
    progress_cv.notify_all();
  }

  bool can_send_behind() const noexcept {
    return !durable() && connector.deployment() != RedisDeployment::cluster;
  }

  SteadyClock::time_point stop_deadline() const noexcept {
    return SteadyClock::time_point(
        SteadyClock::duration(stop_deadline_ticks.load(std::memory_order_acquire)));
  }
  // The stop deadline while stopping, else never.
  SteadyClock::time_point stop_by() const noexcept {
    return stopping.load(std::memory_order_acquire) ? stop_deadline()
                                                    : SteadyClock::time_point::max();
  }
  std::chrono::nanoseconds until_stop() const noexcept {
    if (!stopping.load(std::memory_order_acquire)) return std::chrono::hours(24);
    return std::max<std::chrono::nanoseconds>(stop_deadline() - SteadyClock::now(),
                                              std::chrono::nanoseconds::zero());
  }
  // An I/O bound: the usual timeout, cut short by a shutdown deadline.
  SteadyClock::time_point io_deadline(std::chrono::milliseconds timeout) const noexcept {
    auto deadline = SteadyClock::now() + timeout;
    if (stopping.load(std::memory_order_acquire)) deadline = std::min(deadline, stop_deadline());
    return deadline;
  }

  // Takes up to max_batch_size waiting events and encodes them as one pipeline. False when
  // none were waiting.
  bool prepare_batch() {
    Batch& batch = batch_at(batch_count);
    // The events this slot delivered last time are freed only now, while Redis is busy with
    // the other batch, rather than between a batch's replies and the next write.
    batch.events.clear();
    if (buffer.take_batch(options.max_batch_size, batch.events, &batch.first_sequence) == 0) {
      return false;
    }
    ++batch_count;
    batch.started = false;
    batch.awaiting_replicas = false;
    batch.isolate = 0;
    encode(batch);
    return true;
  }

  // The batch's events as XADDs (then WAIT when durable), into its command buffer: only the
  // first one while isolating. Events cut to max_event_bytes are replaced by their encoded
  // fields, so that encoding the batch again (after a redirection or a close) neither cuts nor
  // counts them again. An event that cannot be encoded (too large for max_event_bytes even cut,
  // or out of memory while serializing) is counted lost here, once, and left in the batch as
  // an empty text that later encodings skip; the rest of the batch is sent.
  void encode(Batch& batch) {
    batch.commands.clear();
    batch.xadd_events.clear();
    std::size_t too_large = 0;
    std::size_t out_of_memory = 0;
    const std::size_t count =
        batch.isolate > 0 ? std::min<std::size_t>(1, batch.events.size()) : batch.events.size();
    for (std::uint32_t i = 0; i < count; ++i) {
      redis::BufferedEvent& item = batch.events[i];
      if (is_dropped(item)) continue;
      switch (encoder.append_command(item, batch.commands, &encode_text)) {
        case redis::EncodeResult::truncated:
          truncated.fetch_add(1, std::memory_order_relaxed);
          if (!encode_text.empty()) item.emplace<std::string>(std::move(encode_text));
          encode_text.clear();
          [[fallthrough]];
        case redis::EncodeResult::ok:
          batch.xadd_events.push_back(i);
          continue;
        case redis::EncodeResult::too_large:
          ++too_large;
          break;
        case redis::EncodeResult::out_of_memory:
          ++out_of_memory;
          break;
      }
      record_loss(batch.first_sequence + i, 1);
      item.emplace<std::string>();  // no allocation: cannot throw
    }
    batch.xadds = batch.commands.command_count();
    if (durable() && batch.xadds > 0) {
      batch.commands.append({"WAIT", std::to_string(options.min_replicas_ack),
                             std::to_string(options.replicas_ack_timeout.count())});
    }
    if (too_large + out_of_memory == 0) return;
    failed.fetch_add(too_large + out_of_memory, std::memory_order_relaxed);
    failed_too_large.fetch_add(too_large, std::memory_order_relaxed);
    if (too_large > 0) {
      record_error(std::to_string(too_large) + " event(s) larger than max_event_bytes (" +
                   std::to_string(options.max_event_bytes) +
                   ") even with their string values cut; they were dropped");
    }
    if (out_of_memory > 0) {
      record_error("could not serialize " + std::to_string(out_of_memory) +
                   " event(s) (out of memory); they were dropped");
    }
  }

  // Encoded fields are never empty (they hold at least the event's JSON), so an empty text
  // marks an event already counted lost by encode().
  static bool is_dropped(const redis::BufferedEvent& item) noexcept {
    const auto* fields = std::get_if<std::string>(&item);
    return fields != nullptr && fields->empty();
  }

  // Writes the batch (or, after a WAIT shortfall, WAIT alone); finish_batch() reads the
  // replies. False after a failure.
  bool start_batch(Batch& batch) {
    // After a WAIT shortfall, WAIT alone while the connection that wrote the batch lives.
    const bool wait_only = batch.awaiting_replicas && batch.written_on == connection_number;
    batch.awaiting_replicas = wait_only;
    batch.sent = wait_only ? &wait_command : &batch.commands;
    batch.written_on = connection_number;
    batch.started_at = SteadyClock::now();
    batch.started = true;  // (partly) written from here on: a failure means sending it again
    if (!batch.sent->empty()) {
      try {
        transport->send(*batch.sent, io_deadline(options.connection.socket_timeout));
      } catch (const std::exception& e) {
        const bool isolating = isolate_after_close(e, nullptr);
        batch_failed(std::string("write failed, batch of ") + std::to_string(batch.events.size()) +
                         " kept for retry: " + e.what(),
                     !isolating);
        return false;
      }
    }
    return true;
  }

  // Reads the replies of the batch on the wire; on success the batch leaves the buffer.
  void finish_batch(Batch& batch) {
    if (batch.sent->empty()) {
      complete(batch, 0, {}, {});
      return;
    }
    const auto timeout = options.connection.socket_timeout +
                         (durable() ? options.replicas_ack_timeout : std::chrono::milliseconds(0));
    try {
      transport->receive(batch.sent->command_count(), replies, io_deadline(timeout));
    } catch (const std::exception& e) {
      const std::size_t size = batch.events.size();  // before isolation settles answered ones
      const bool isolating = isolate_after_close(e, &replies);
      batch_failed(std::string("write failed, batch of ") + std::to_string(size) +
                       " kept for retry: " + e.what(),
                   !isolating);
      return;
    }
    round_trips.fetch_add(1, std::memory_order_relaxed);
    const bool wait_only = batch.sent == &wait_command;
    // A protocol error answers the last command Redis read (it closes the connection after
    // it), so it can only be the last reply: that event is refused like any other.
    const bool protocol_error = !wait_only && !replies.empty() && is_protocol_error(replies.back());
    apply(batch,
          redis::read_batch_replies(replies, wait_only ? 0 : batch.xadds, false, durable(),
                                    current_host),
          wait_only, false);
    if (protocol_error) {
      failed_protocol.fetch_add(1, std::memory_order_relaxed);
      close_transport();  // closed by the server already; the next batch gets a new one
      // A batch sent behind was never read by Redis: it is sent again, whole.
      for (std::size_t i = 0; i < batch_count; ++i) {
        if (batch_at(i).started) retried_batches.fetch_add(1, std::memory_order_relaxed);
        batch_at(i).started = false;
      }
    }
  }

  // Acts on what Redis answered to a batch (on the main connection, or on the node an ASK
  // named when `via_ask`).
  void apply(Batch& batch, const redis::BatchReplies& r, bool wait_only, bool via_ask) {
    if (!r.transient.empty()) {
      // The server refused the whole batch for its own state (loading, read-only replica
      // after a failover...): keep the events and treat it like a transport failure.
      batch_failed("server not accepting writes, batch kept for retry: " + r.transient);
      return;
    }
    if (durable() && !replicas_confirmed(batch, r, wait_only, via_ask)) return;
    if (wait_only) {
      complete(batch, batch.pending_accepted, batch.pending_refused_at, batch.pending_refusal);
      return;
    }
    if (r.redirect) {
      if (r.settled > 0 && batch.isolate == 0) {
        // The answered XADDs' events leave, with the events dropped for size among them.
        settle_prefix(batch, batch.xadd_events[r.settled - 1] + std::size_t{1}, r.accepted,
                      r.refused_at, r.first_refusal);
      }
      follow_redirect(batch, *r.redirect, via_ask);
      return;
    }
    complete(batch, r.accepted, r.refused_at, r.first_refusal);
  }

  // Durable acknowledgements: true when WAIT saw enough replicas. Otherwise the batch is kept:
  // with WAIT alone to ask again on this connection when all its XADDs were answered here.
  bool replicas_confirmed(Batch& batch, const redis::BatchReplies& r, bool wait_only,
                          bool via_ask) {
    replica_waits.fetch_add(r.replicas || !r.wait_error.empty() ? 1 : 0, std::memory_order_relaxed);
    if (r.replicas && *r.replicas >= static_cast<long long>(options.min_replicas_ack)) return true;
    replica_ack_shortfalls.fetch_add(1, std::memory_order_relaxed);
    if (!wait_only && !r.redirect) {
      batch.pending_accepted = r.accepted;
      batch.pending_refused_at = r.refused_at;
      batch.pending_refusal = r.first_refusal;
    }
    // Written through an ASK connection, the batch cannot be confirmed by WAIT on the main one.
    batch.awaiting_replicas = wait_only || (!r.redirect && !via_ask);
    for (std::size_t i = 0; i < batch_count; ++i) batch_at(i).started = false;
    retried_batches.fetch_add(1, std::memory_order_relaxed);
    const std::string why = r.wait_error.empty()
                                ? "WAIT: " + std::to_string(r.replicas.value_or(0)) + " of " +
                                      std::to_string(options.min_replicas_ack) +
                                      " replicas acknowledged within " +
                                      std::to_string(options.replicas_ack_timeout.count()) + " ms"
                                : "WAIT refused: " + r.wait_error;
    record_error("batch of " + std::to_string(batch.events.size()) + " kept until replicated (" +
                 why + ")");
    if (r.redirect) {
      follow_redirect(batch, *r.redirect, true);
    } else if (!r.wait_error.empty()) {
      // WAIT refused (an ACL, or a master demoted to replica while the connection lived): a new
      // connection, found afresh (Sentinel asked again), gets the whole batch; the breaker
      // spaces the attempts, since a refusal comes back at once.
      batch.awaiting_replicas = false;
      close_transport();
      connector.connection_lost(why);
      breaker.record_failure();
    } else {
      // The server answered: the connection is sound (this also ends a half-open probe).
      breaker.record_success();
      if (SteadyClock::now() - batch.started_at < options.replicas_ack_timeout / 2) {
        replicas_retry_at = clock.steady_now() + options.replicas_ack_timeout;
      }
    }
    return false;
  }

  // The first `n` events of the head batch were answered for good before a redirection: they
  // leave the buffer, and the rest is encoded again to be sent where the redirection says.
  void settle_prefix(Batch& batch, std::size_t n, std::size_t accepted,
                     const std::vector<std::size_t>& refused_at, const std::string& refusal) {
    settle(batch, accepted, refused_at, refusal, n);
    buffer.acknowledge(n);
    batch.events.erase(batch.events.begin(), batch.events.begin() + static_cast<std::ptrdiff_t>(n));
    batch.first_sequence += n;
    encode(batch);
  }

  void follow_redirect(Batch& batch, const redis::Redirect& redirect, bool via_ask) {
    for (std::size_t i = 0; i < batch_count; ++i) batch_at(i).started = false;
    if (++redirects_in_a_row > kMaxRedirects) {
      redirects_in_a_row = 0;
      retried_batches.fetch_add(1, std::memory_order_relaxed);
      transport_failure("too many cluster redirections in a row for stream '" + options.stream_key +
                        "' (last: slot " + std::to_string(redirect.slot) + " at " +
                        redirect.to.to_string() + ")");
      return;
    }
    if (redirect.kind == redis::Redirect::Kind::moved) {
      moved_redirects.fetch_add(1, std::memory_order_relaxed);
      logger->info("stream '{}': slot {} moved to {}", options.stream_key, redirect.slot,
                   redirect.to.to_string());
      connector.moved(redirect);
      close_transport();  // not a failure: the next attempt connects to the new owner at once
      breaker.record_success();  // the server answered (ends a half-open probe)
      return;
    }
    ask_redirects.fetch_add(1, std::memory_order_relaxed);
    if (via_ask) {
      breaker.record_success();  // answered, if only with another redirection: try again
    } else {
      follow_ask(batch, redirect.to);
    }
  }

  // ASK: the stream's key is being migrated to `to`. The batch goes there once, each XADD
  // after ASKING, on a connection of its own; the main connection and the map stay as they are.
  void follow_ask(Batch& batch, const RedisEndpoint& to) {
    ask_commands.clear();
    for (const std::uint32_t index : batch.xadd_events) {  // the events that encoded before
      ask_commands.append({"ASKING"});
      const redis::EncodeResult result = encoder.append_command(batch.events[index], ask_commands);
      if (result != redis::EncodeResult::ok && result != redis::EncodeResult::truncated) {
        // Out of memory: try again later through the main connection (redirected again).
        record_error("could not serialize a batch of " + std::to_string(batch.events.size()) +
                     " for an ASK redirection (out of memory); kept for retry");
        breaker.record_failure();
        return;
      }
    }
    if (durable()) {
      ask_commands.append({"WAIT", std::to_string(options.min_replicas_ack),
                           std::to_string(options.replicas_ack_timeout.count())});
    }
    const auto timeout = options.connection.socket_timeout +
                         (durable() ? options.replicas_ack_timeout : std::chrono::milliseconds(0));
    try {
      auto asked = connector.connect_to(to, io_deadline(options.connection.connect_timeout));
      asked->execute(ask_commands, replies, io_deadline(timeout));
    } catch (const std::exception& e) {
      // The main connection is fine; the next attempt goes through it and is redirected again.
      retried_batches.fetch_add(1, std::memory_order_relaxed);
      record_error("ASK redirection to " + to.to_string() + " failed, batch of " +
                   std::to_string(batch.events.size()) + " kept for retry: " + e.what());
      transport_errors.fetch_add(1, std::memory_order_release);
      breaker.record_failure();
      return;
    }
    round_trips.fetch_add(1, std::memory_order_relaxed);
    apply(batch, redis::read_batch_replies(replies, batch.xadds, true, durable(), to.host), false,
          true);
  }

  // Counts the answers to a batch's XADDs as final, and logs each refused event's sequence
  // for flush().
  void settle(const Batch& batch, std::size_t accepted, const std::vector<std::size_t>& refused_at,
              const std::string& refusal, std::size_t of) {
    delivered.fetch_add(accepted, std::memory_order_relaxed);
    if (refused_at.empty()) return;
    for (const std::size_t xadd : refused_at) {
      record_loss(batch.first_sequence + batch.xadd_events.at(xadd), 1);
    }
    failed.fetch_add(refused_at.size(), std::memory_order_relaxed);
    reply_errors.fetch_add(refused_at.size(), std::memory_order_relaxed);
    record_error("XADD to '" + options.stream_key + "' refused for " +
                 std::to_string(refused_at.size()) + " of " + std::to_string(of) +
                 " events: " + refusal);
  }

  // Every event of the batch was answered for good: it leaves the buffer. While isolating,
  // only the one event sent was: it leaves, and the rest is sent next.
  void complete(Batch& batch, std::size_t accepted, const std::vector<std::size_t>& refused_at,
                const std::string& refusal) {
    if (batch.isolate > 0 && batch.events.size() > 1) {
      --batch.isolate;
      settle_prefix(batch, 1, accepted, refused_at, refusal);
      batch.started = false;
      batch.awaiting_replicas = false;
      redirects_in_a_row = 0;
      breaker.record_success();
      notify_progress();
      return;
    }
    batch.isolate = 0;
    settle(batch, accepted, refused_at, refusal, batch.xadds);
    redirects_in_a_row = 0;
    batch.awaiting_replicas = false;
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() -
                                                                               batch.started_at);
    last_flush_latency_us.store(latency.count(), std::memory_order_relaxed);
    if (logger->should_log(spdlog::level::debug)) {
      logger->debug("batch of {} event(s) written to '{}' in {} us ({} not delivered); {} waiting",
                    batch.events.size(), options.stream_key, latency.count(),
                    batch.events.size() - accepted, buffer.waiting());
    }
    buffer.acknowledge(batch.events.size());
    batch.commands.clear();  // the events stay until the slot is reused (see prepare_batch)
    batch.started = false;
    first_batch = (first_batch + 1) % batches.size();
    --batch_count;
    breaker.record_success();
    blocked_logged = false;
    notify_progress();
  }

  // Every batch held is sent again, in order, on the next connection (the ones written on this
  // one count as retried: Redis may have applied them). `outage` false: the server closed the
  // connection on the head batch, which is now isolated; only a failed reconnect then counts
  // for the breaker.
  void batch_failed(const std::string& message, bool outage = true) {
    for (std::size_t i = 0; i < batch_count; ++i) {
      Batch& batch = batch_at(i);
      if (batch.started) retried_batches.fetch_add(1, std::memory_order_relaxed);
      batch.started = false;
    }
    transport_failure(message, outage);
  }

  // The connection failed with `e`. When the server closed it (EOF or reset; not a timeout,
  // not our own shutdown), a batch written on it may hold an event Redis cannot take (a
  // protocol error: a bulk longer than proto-max-bulk-len), and Redis applied what came before
  // that event. So the batches written on it are isolated: sent one event per round trip. When
  // Redis answered an XADD with a protocol error, the replies before it settle their events and
  // only that event goes alone (batches behind it were never read: they go again whole). An
  // event that fails alone with no answer, or with the protocol error, is the suspect: if the
  // next connection is sound (connect and PING), it is failed. So no event is written more
  // than twice, outages during isolation aside. Returns true when a batch is now isolated.
  // `partial`: the head batch's replies read before the failure, if any.
  bool isolate_after_close(const std::exception& e, std::vector<redis::RedisReply>* partial) {
    // EOF or a reset (ClosedError), as opposed to a timeout or another I/O error.
    const bool closed = dynamic_cast<const ClosedError*>(&e) != nullptr;
    if (!closed || stopping_hard.load(std::memory_order_acquire)) return false;
    std::size_t answered = partial ? std::min(partial->size(), batch_at(0).xadds) : 0;
    bool protocol_error = false;
    for (std::size_t i = 0; i < answered; ++i) {
      if (is_protocol_error((*partial)[i])) {
        answered = i;
        protocol_error = true;
        break;
      }
    }
    bool isolated = false;
    for (std::size_t i = batch_count; i-- > 1;) {  // the head last: settling it may complete it
      Batch& batch = batch_at(i);
      if (!batch.started || batch.sent != &batch.commands || batch.xadds != batch.events.size())
        continue;
      // Redis stopped reading at the head's protocol error: this one goes again, whole.
      if (protocol_error) continue;
      batch.isolate = batch.events.size();
      encode(batch);
      isolated = true;
    }
    Batch& head = batch_at(0);
    const std::size_t encoded =
        head.isolate > 0 ? std::min<std::size_t>(1, head.events.size()) : head.events.size();
    if (!head.started || head.sent != &head.commands || head.xadds != encoded) return isolated;
    if (head.isolate > 0) {  // the event sent alone
      // Answered before the close (durable: the XADD, then the close during WAIT): an outage.
      if (partial && !partial->empty() && !protocol_error) return false;
      suspect_pending = true;
      suspect_reason = protocol_error ? partial->front().text : std::string(e.what());
      return true;
    }
    // Up to and including the event answered with the protocol error, one at a time, unless
    // the replies before it settle their events.
    head.isolate = protocol_error ? answered + 1 : head.events.size();
    // Replies are trusted only with the protocol error that explains the close (an error a
    // server sends as it closes, such as maxclients, is not an answer to an XADD). Durable:
    // an answered XADD is not delivered before WAIT confirms it; it is sent again.
    if (protocol_error && answered > 0 && !durable()) {
      partial->resize(answered);
      const redis::BatchReplies r =
          redis::read_batch_replies(*partial, answered, false, false, current_host);
      if (r.transient.empty() && !r.redirect && r.settled == answered) {
        if (answered == head.events.size()) {
          head.isolate = 0;  // every event was answered before the close
          complete(head, r.accepted, r.refused_at, r.first_refusal);
        } else {
          head.isolate = 1;  // the event answered with the protocol error, now first
          settle_prefix(head, answered, r.accepted, r.refused_at, r.first_refusal);
          notify_progress();
        }
        return true;
      }
    }
    encode(head);
    return true;
  }

  // The event the head batch sent alone made the server close the connection, and the next
  // connection is sound: that event is failed, the rest of the batch is sent as usual.
  void fail_suspect() {
    if (batch_count == 0 || batch_at(0).isolate == 0) return;
    Batch& batch = batch_at(0);
    record_loss(batch.first_sequence, 1);
    failed.fetch_add(1, std::memory_order_relaxed);
    failed_protocol.fetch_add(1, std::memory_order_relaxed);
    record_error("an event for stream '" + options.stream_key +
                 "' made Redis close the connection when sent alone too; it was dropped, the "
                 "rest of its batch is delivered: " +
                 suspect_reason);
    buffer.acknowledge(1);
    batch.events.erase(batch.events.begin());
    batch.first_sequence += 1;
    batch.isolate = 0;
    batch.started = false;
    if (batch.events.empty()) {
      complete(batch, 0, {}, {});
    } else {
      encode(batch);
      notify_progress();
    }
  }

  // The breaker (or the reconnect backoff) allows no attempt now. Meanwhile, compact the
  // waiting events (those whose serialized form is smaller are held so: an llm_call event then
  // takes about its wire size instead of two to three times it, and the drain after recovery
  // has less to do), then sleep until the next attempt, the next round of compaction, or a
  // wake.
  void wait_while_blocked() {
    const auto wait = std::min<std::chrono::nanoseconds>(breaker.next_attempt_in(), until_stop());
    const auto now = SteadyClock::now();
    const auto wake_at = now + wait;
    // Compacting events that are evicted moments later is wasted work (and contention on the
    // buffer's lock): while evictions would replace every waiting event within a second, skip.
    const std::uint64_t evicted = buffer.evicted_oldest();
    const auto since = now - evictions_seen_at;
    const bool flooding =
        evicted > evictions_seen &&
        static_cast<double>(evicted - evictions_seen) * std::chrono::duration<double>(1s) / since >=
            static_cast<double>(buffer.waiting());
    evictions_seen = evicted;
    evictions_seen_at = now;
    std::size_t compacted = 0;
    // Also ends when a shutdown gives up (it moves the stop deadline to then).
    while (!flooding && SteadyClock::now() < std::min(wake_at, stop_by())) {
      const std::size_t visited = buffer.transform_waiting(
          encode_cursor, kEncodeChunk, encode_scratch, [this](redis::BufferedEvent& event) {
            if (encoder.compact(event, encode_text) == redis::EncodeResult::truncated) {
              truncated.fetch_add(1, std::memory_order_relaxed);
            }
          });
      if (visited == 0) break;
      compacted += visited;
      compacted_through.store(encode_cursor, std::memory_order_relaxed);
      release_evicted();
    }
    if (logger->should_log(spdlog::level::debug) && (compacted > 0 || !blocked_logged)) {
      blocked_logged = true;
      logger->debug("breaker {}: next attempt in {} ms; {} event(s) waiting, {} more compacted",
                    to_string(breaker.state()),
                    std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(),
                    buffer.waiting(), compacted);
    }
    const auto left = wake_at - SteadyClock::now();
    if (left <= std::chrono::nanoseconds::zero()) return;
    // Periodic rather than woken by new events: waking the flusher would cost the pushing
    // application thread a syscall, and an outage is no reason to make emitting dearer.
    buffer.wait_for_events(buffer.no_event_wake,
                           std::min<std::chrono::nanoseconds>(left, kCompactionPeriod));
  }

  void record_loss(std::uint64_t first_sequence, std::uint64_t count) {
    std::lock_guard<std::mutex> lock(loss_mutex);
    failures.record(first_sequence, count);
  }

  // Destroys what producers evicted (drop_oldest), here rather than on their threads.
  void release_evicted() {
    const std::uint64_t evicted = buffer.evicted_oldest();
    if (evicted == evictions_released) return;
    evictions_released = evicted;
    buffer.release_evicted(evicted_scratch);
    evicted_scratch.clear();
  }

  bool ensure_connected() {
    if (transport && transport->is_connected()) return true;
    // A connection made after an isolated event failed alone: if it is sound, that event is
    // the one to fail; if it is not, this was an outage and the event goes again.
    const bool suspect_due = std::exchange(suspect_pending, false);
    try {
      // The connector finds the server (URL, provider, sentinels, cluster slot owner) and
      // connects; shutdown() interrupts it through interrupt_transport().
      logger->debug("connecting (stream '{}', {} consecutive failures so far)", options.stream_key,
                    breaker.failure_count());
      auto fresh = connector.connect(io_deadline(options.connection.connect_timeout), slot);
      {
        std::lock_guard<std::mutex> lock(transport_mutex);
        transport = std::move(fresh);
        if (stopping_hard.load(std::memory_order_acquire)) transport->interrupt();
      }
      ++connection_number;
      current_host = connector.current_host();
      if (suspect_due) {
        redis::CommandBuffer ping;
        ping.append({"PING"});
        std::vector<redis::RedisReply> pong;
        transport->execute(ping, pong, io_deadline(options.connection.socket_timeout));
        if (pong.empty() || pong.front().is_error()) {
          throw ReplyError(pong.empty() ? "no reply" : pong.front().text,
                           "PING after a closed connection");
        }
        fail_suspect();
      }
      if (!options.consumer_group.empty()) create_consumer_group();
      if (ever_connected) reconnects.fetch_add(1, std::memory_order_relaxed);
      ever_connected = true;
      connected.store(true, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(error_mutex);
        server = transport->describe();
      }
      logger->info("connected to {} (stream '{}')", transport->describe(), options.stream_key);
      return true;
    } catch (const AuthError& e) {
      transport_failure(std::string("authentication failed: ") + e.what());
    } catch (const ReplyError& e) {
      transport_failure(std::string("connection handshake refused: ") + e.what());
    } catch (const std::exception& e) {
      transport_failure(std::string("connect failed: ") + e.what());
    }
    return false;
  }

  void create_consumer_group() {
    redis::CommandBuffer create;
    create.append(
        {"XGROUP", "CREATE", options.stream_key, options.consumer_group, "0", "MKSTREAM"});
    std::vector<redis::RedisReply> group_replies;
    transport->execute(create, group_replies, io_deadline(options.connection.socket_timeout));
    if (!group_replies.empty() && group_replies.front().is_error() &&
        group_replies.front().error_prefix() != "BUSYGROUP") {
      // The events can still be written; the group is for the consumers. Report, do not fail.
      reply_errors.fetch_add(1, std::memory_order_relaxed);
      record_error("XGROUP CREATE " + options.consumer_group +
                   " failed: " + group_replies.front().text);
    }
  }

  void transport_failure(const std::string& message, bool count_for_breaker = true) {
    if (connected.exchange(false, std::memory_order_relaxed)) {
      logger->warn("lost connection to Redis: {}", message);
    }
    close_transport();
    connector.connection_lost(message);
    // Reason, then count, then breaker state: a reader that sees the breaker open also sees
    // the failures that opened it, and one that sees a count also sees why.
    record_error(message);
    transport_errors.fetch_add(1, std::memory_order_release);
    if (count_for_breaker) breaker.record_failure();
  }

  void record_error(const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(error_mutex);
      last_error = message;
      last_error_time = clock.system_now();
    }
    log.log(spdlog::level::warn, message);
  }

  void close_transport() noexcept {
    std::lock_guard<std::mutex> lock(transport_mutex);
    if (transport) transport->close();
    connected.store(false, std::memory_order_relaxed);
  }

  void interrupt_transport() noexcept {
    std::lock_guard<std::mutex> lock(transport_mutex);
    stopping_hard.store(true, std::memory_order_release);
    connector.interrupt();
    if (transport) transport->interrupt();
  }

  void notify_progress() {
    { std::lock_guard<std::mutex> lock(progress_mutex); }
    progress_cv.notify_all();
  }

  // ---------------------------------------------------------------- state

  const std::uint64_t created_in_generation = detail::current_fork_generation();
  std::atomic<std::uint64_t> dropped_after_fork{0};
  std::atomic<bool> fork_reported{false};
  const RedisSinkOptions options;
  const bool fake_transports;  // a test's factory: no socket transport is made up front
  redis::Connector connector;  // flusher-only, except interrupt()
  const detail::ClockSource& clock;
  detail::RateLimitedLog log{"streamll.sinks.redis"};
  // Looked up once: the registry lookup takes a lock, and debug lines are checked per batch.
  const std::shared_ptr<spdlog::logger> logger = detail::get_logger("streamll.sinks.redis");
  const redis::XaddEncoder encoder;
  detail::RingBuffer<redis::BufferedEvent> buffer;
  detail::CircuitBreaker breaker;

  // Flusher-only.
  std::array<Batch, 2> batches;
  std::size_t first_batch = 0;
  std::size_t batch_count = 0;
  std::vector<redis::RedisReply> replies;
  std::uint64_t encode_cursor = 0;  // sequence of the next waiting event to compact
  std::vector<redis::BufferedEvent> encode_scratch;
  std::string encode_text;
  std::uint64_t evictions_released = 0;
  std::uint64_t evictions_seen = 0;  // by wait_while_blocked, to tell a flood
  SteadyClock::time_point evictions_seen_at = SteadyClock::now();
  std::vector<redis::BufferedEvent> evicted_scratch;
  bool ever_connected = false;
  bool blocked_logged = false;          // the debug line for a stretch of blocked attempts
  std::uint64_t connection_number = 0;  // which connection a batch was written on
  std::string current_host;             // for redirections that name no host
  std::optional<std::uint16_t> slot;    // cluster: the stream key's hash slot
  redis::CommandBuffer wait_command;    // WAIT alone, after a replica shortfall
  redis::CommandBuffer ask_commands;    // a batch sent after ASKING
  int redirects_in_a_row = 0;
  bool suspect_pending = false;  // the head batch's isolated event failed; see fail_suspect()
  std::string suspect_reason;
  std::chrono::steady_clock::time_point replicas_retry_at{};  // on `clock`

  std::mutex transport_mutex;  // guards the pointer against interrupt() from shutdown()
  std::unique_ptr<redis::RedisTransport> transport;

  std::thread flusher;
  std::atomic<bool> accepting{true};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopping_hard{false};
  std::atomic<SteadyClock::rep> stop_deadline_ticks{0};
  std::mutex shutdown_mutex;  // serializes shutdown() callers
  bool shut_down = false;
  bool shutdown_result = false;

  std::mutex progress_mutex;
  std::condition_variable progress_cv;
  bool flusher_done = false;

  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
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
  std::atomic<std::uint64_t> dropped_after_shutdown{0};
  std::atomic<std::uint64_t> left_at_shutdown{0};
  std::atomic<bool> connected{false};
  std::atomic<std::int64_t> last_flush_latency_us{0};
  std::atomic<std::uint64_t> compacted_through{0};  // encode_cursor, for stats()
  std::atomic<SteadyClock::rep> last_overflow_log{0};

  // For flush(): which events failed (evictions are the buffer's to log), and where the
  // previous flush() call's events ended.
  std::mutex loss_mutex;
  detail::LossLog failures;
  std::atomic<std::uint64_t> flush_window_start{0};
  std::atomic<int> flushes_running{0};

  mutable std::mutex error_mutex;
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_error_time;
  std::string server;  // guarded by error_mutex too
};

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
  std::uint64_t window_start = s.flush_window_start.load();
  while (window_start < mark && !s.flush_window_start.compare_exchange_weak(window_start, mark)) {
  }
  window_start = std::min(window_start, mark);
  s.flushes_running.fetch_add(1);
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
  {
    std::lock_guard<std::mutex> lock(s.loss_mutex);
    lost = lost || s.failures.any_in(window_start, mark);
    // Alone, this call may forget what no later call will ask about; with another one running,
    // that one may still ask about older events.
    if (s.flushes_running.load() == 1) s.failures.forget_below(window_start);
  }
  if (s.flushes_running.fetch_sub(1) == 1) s.buffer.forget_evictions_below(window_start);
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
  s.left_at_shutdown.store(left, std::memory_order_relaxed);
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
  out.delivered = s.delivered.load(std::memory_order_relaxed);
  out.dropped_oldest = counts.evicted_oldest;
  if (s.options.buffer_overflow_strategy == OverflowStrategy::raise_error) {
    out.dropped_raise_error = counts.rejected;
  } else {
    // drop_newest, and drop_oldest when every slot was in flight: the new event is the one lost.
    out.dropped_newest = counts.rejected;
  }
  out.dropped_on_shutdown = s.dropped_after_shutdown.load(std::memory_order_relaxed) +
                            s.left_at_shutdown.load(std::memory_order_relaxed);
  out.failed = s.failed.load(std::memory_order_relaxed);
  out.failed_protocol = s.failed_protocol.load(std::memory_order_relaxed);
  out.failed_too_large = s.failed_too_large.load(std::memory_order_relaxed);
  out.truncated = s.truncated.load(std::memory_order_relaxed);
  out.retried_batches = s.retried_batches.load(std::memory_order_relaxed);
  out.round_trips = s.round_trips.load(std::memory_order_relaxed);
  out.transport_errors = s.transport_errors.load(std::memory_order_acquire);
  out.reply_errors = s.reply_errors.load(std::memory_order_relaxed);
  out.reconnects = s.reconnects.load(std::memory_order_relaxed);
  out.replica_waits = s.replica_waits.load(std::memory_order_relaxed);
  out.replica_ack_shortfalls = s.replica_ack_shortfalls.load(std::memory_order_relaxed);
  out.moved_redirects = s.moved_redirects.load(std::memory_order_relaxed);
  out.ask_redirects = s.ask_redirects.load(std::memory_order_relaxed);
  out.buffered =
      s.left_at_shutdown.load(std::memory_order_relaxed) > 0 ? 0 : counts.size + counts.staged;
  out.in_flight = counts.in_flight;
  out.buffered_compacted =
      s.buffer.waiting_before(s.compacted_through.load(std::memory_order_relaxed));
  out.connected = s.connected.load(std::memory_order_relaxed);
  out.breaker_state = s.breaker.state();
  {
    std::lock_guard<std::mutex> lock(s.error_mutex);
    out.last_error = s.last_error;
    out.last_error_time = s.last_error_time;
    out.server = s.server;
  }
  out.last_flush_latency =
      std::chrono::microseconds(s.last_flush_latency_us.load(std::memory_order_relaxed));
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
