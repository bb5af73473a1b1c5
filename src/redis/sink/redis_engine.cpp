// The Redis sink's engine: takes batches from the pipeline's buffer, writes them pipelined,
// reads the replies and settles or retries each batch. Connecting lives in
// redis_engine_connection.cpp.

#include <algorithm>

#include "redis/sink/redis_engine.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

// While Redis cannot be written to, waiting events are compacted every kCompactionPeriod.
constexpr std::chrono::milliseconds kCompactionPeriod{5};

// An encoded command is never empty, so an empty text marks an event already counted lost by
// encode().
bool is_dropped(const BufferedEvent& item) noexcept {
  const auto* fields = std::get_if<std::string>(&item);
  return fields != nullptr && fields->empty();
}

}  // namespace

bool RedisEngine::step() noexcept {
  // A given-up flusher starts no new I/O; the pipeline then calls give_up().
  if (pipeline.abandoned()) return false;
  try {
    // Between batches: a heartbeat's replies must not interleave with a batch's. When its
    // connect failed the round ends; the next one, with the heartbeat postponed, is the
    // events' (which connect again at once if events are waiting, counting for the breaker).
    if (heartbeat_wanted() && !batch_on_wire() && !send_heartbeat()) return false;
    if (batches.count() == 0 && !prepare_batch()) return false;
    Batch& head = batches.head();
    if (!head.started) {
      if (durable.holding_back(head)) {
        pipeline.pause(kCompactionPeriod);
        return false;
      }
      if (!breaker().allow_request()) {
        wait_while_blocked();
        return false;
      }
      if (!ensure_connected()) return false;
      // Connecting may have settled the head (a suspect failed): look again.
      if (batches.count() == 0 || &batches.head() != &head || head.started) return true;
      if (!start_batch(head)) return false;
    }
    // While Redis works on `head`, encode the next batch when a full one is waiting (a
    // partial one is better sent after `head`, with what arrives meanwhile), and send it
    // too where nothing can make `head` go again on this connection (a WAIT retried alone,
    // an ASK to another node): Redis then goes from one batch to the next without waiting
    // for this thread. Not when a heartbeat is due: under a steady load a batch would always
    // be on the wire, and the heartbeat (which waits for none) would never go.
    if (batches.count() == 1 && head.isolate == 0 && buffer().waiting() >= options.max_batch_size &&
        !heartbeat_wanted() && prepare_batch() && can_send_behind()) {
      start_batch(batches.at(1));
    }
    if (head.started) finish_batch(head);
    return true;
  } catch (const std::exception& e) {
    // Nothing above should throw (transport errors are handled where they happen); if
    // something does, keep the batches for another try.
    record_error(std::string("flusher: unexpected error: ") + e.what());
    pipeline.pause(std::chrono::milliseconds(100));
    return false;
  }
}

bool RedisEngine::close(SteadyClock::time_point deadline) noexcept {
  say_farewell(deadline);
  close_transport();
  return true;
}

// shutdown() gave up: what the batches hold will not be sent. Events encode() dropped are
// counted failed already.
void RedisEngine::give_up() noexcept {
  while (batches.count() > 0) {
    Batch& batch = batches.head();
    std::size_t dropped_before = 0;
    for (const BufferedEvent& item : batch.events) dropped_before += is_dropped(item) ? 1 : 0;
    pipeline.count_given_up(batch.events.size() - dropped_before);
    pipeline.acknowledge(batch.events.size());
    batch.events.clear();
    batch.started = false;
    batches.pop_head();
  }
  close_transport();
}

// Takes up to max_batch_size waiting events and encodes them as one pipeline. False when
// none were waiting.
bool RedisEngine::prepare_batch() {
  Batch& batch = batches.next_free();
  // The events this slot delivered last time are freed only now, while Redis is busy with
  // the other batch, rather than between a batch's replies and the next write.
  batch.events.clear();
  if (pipeline.take_batch(options.max_batch_size, batch.events, &batch.first_sequence) == 0) {
    return false;
  }
  batches.add();
  batch.started = false;
  batch.awaiting_replicas = false;
  batch.isolate = 0;
  encode(batch);
  return true;
}

// The batch's events as XADDs (then WAIT when durable), into its command buffer: only the
// first one while isolating. Events cut to max_event_bytes are replaced by their encoded
// command, so that encoding the batch again (after a redirection or a close) neither cuts nor
// counts them again. An event that cannot be encoded (too large for max_event_bytes even cut,
// or out of memory while serializing) is counted lost here, once, and left in the batch as
// an empty text that later encodings skip; the rest of the batch is sent.
void RedisEngine::encode(Batch& batch) {
  batch.commands.clear();
  batch.xadd_events.clear();
  std::size_t too_large = 0;
  std::size_t out_of_memory = 0;
  const std::size_t count = batch.encodable();
  for (std::uint32_t i = 0; i < count; ++i) {
    redis::BufferedEvent& item = batch.events[i];
    if (is_dropped(item)) continue;
    switch (encoder.append_command(item, batch.commands, &encode_text)) {
      case redis::EncodeResult::truncated:
        redis::SinkCounters::add(counters.truncated);
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
    item.emplace<std::string>();  // no allocation: cannot throw
  }
  batch.xadds = batch.commands.command_count();
  if (batch.xadds > 0) durable.append_wait(batch.commands);
  if (too_large + out_of_memory == 0) return;
  pipeline.count_settled(0, too_large + out_of_memory);
  redis::SinkCounters::add(counters.failed_too_large, too_large);
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

// Writes the batch (or, after a WAIT shortfall, WAIT alone); finish_batch() reads the
// replies. False after a failure.
bool RedisEngine::start_batch(Batch& batch) {
  // After a WAIT shortfall, WAIT alone while the connection that wrote the batch lives.
  const bool wait_only = batch.awaiting_replicas && batch.written_on == connection_number;
  batch.awaiting_replicas = wait_only;
  batch.sent = wait_only ? durable.wait_alone() : &batch.commands;
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

// Reads the replies of the batch on the wire; on success the batch leaves the buffer().
void RedisEngine::finish_batch(Batch& batch) {
  if (batch.sent->empty()) {
    complete(batch, redis::BatchReplies{});
    return;
  }
  try {
    transport->receive(batch.sent->command_count(), replies,
                       io_deadline(durable.reply_timeout(options.connection.socket_timeout)));
  } catch (const std::exception& e) {
    const std::size_t size = batch.events.size();  // before isolation settles answered ones
    const bool isolating = isolate_after_close(e, &replies);
    batch_failed(std::string("write failed, batch of ") + std::to_string(size) +
                     " kept for retry: " + e.what(),
                 !isolating);
    return;
  }
  redis::SinkCounters::add(counters.round_trips);
  const bool wait_only = batch.sent == durable.wait_alone();
  // A protocol error answers the last command Redis read (it closes the connection after
  // it), so it can only be the last reply: that event is refused like any other, if apply()
  // settles the batch (see settle()).
  const bool protocol_error =
      !wait_only && !replies.empty() && redis::is_protocol_error(replies.back());
  apply(batch,
        redis::read_batch_replies(replies, wait_only ? 0 : batch.xadds, false, durable.enabled(),
                                  current_host),
        wait_only, false);
  if (protocol_error) {
    close_transport();  // closed by the server already; the next batch gets a new one
    // A batch sent behind was never read by Redis: it is sent again, whole.
    redis::SinkCounters::add(counters.retried_batches, batches.unstart_all());
  }
}

// Acts on what Redis answered to a batch (on the main connection, or on the node an ASK
// named when `via_ask`).
void RedisEngine::apply(Batch& batch, const redis::BatchReplies& r, bool wait_only, bool via_ask) {
  if (!r.transient.empty()) {
    // The server refused the whole batch for its own state (loading, read-only replica
    // after a failover...): keep the events and treat it like a transport failure.
    batch_failed("server not accepting writes, batch kept for retry: " + r.transient);
    return;
  }
  if (durable.enabled() && !replicas_confirmed(batch, r, wait_only, via_ask)) return;
  if (wait_only) {
    complete(batch, batch.pending);
    return;
  }
  if (r.redirect) {
    if (r.settled > 0 && batch.isolate == 0) {
      // The answered XADDs' events leave, with the events dropped for size among them.
      settle_prefix(batch, batch.xadd_events[r.settled - 1] + std::size_t{1}, r);
    }
    follow_redirect(batch, *r.redirect, via_ask);
    return;
  }
  complete(batch, r);
}

// True when WAIT saw enough replicas. Otherwise the batch is kept (see DurableAck::check).
bool RedisEngine::replicas_confirmed(Batch& batch, const redis::BatchReplies& r, bool wait_only,
                                     bool via_ask) {
  const auto verdict = durable.check(batch, r, wait_only, via_ask);
  if (verdict.answer == redis::DurableAck::Answer::confirmed) return true;
  batches.unstart_all();
  redis::SinkCounters::add(counters.retried_batches);
  record_error("batch of " + std::to_string(batch.events.size()) + " kept until replicated (" +
               verdict.why + ")");
  if (r.redirect) {
    follow_redirect(batch, *r.redirect, true);
  } else if (verdict.answer == redis::DurableAck::Answer::refused) {
    // A new connection, found afresh (Sentinel asked again), gets the whole batch; the breaker
    // spaces the attempts, since a refusal comes back at once.
    close_transport();
    connector.connection_lost(verdict.why);
    breaker().record_failure();
  } else {
    // The server answered: the connection is sound (this also ends a half-open probe).
    breaker().record_success();
    durable.shortfall_answered(batch);
  }
  return false;
}

// The first `n` events of the head batch were answered for good before a redirection: they
// leave the buffer, and the rest is encoded again to be sent where the redirection says.
void RedisEngine::settle_prefix(Batch& batch, std::size_t n, const redis::BatchReplies& answers) {
  settle(answers, n);
  buffer().acknowledge(n);
  batch.events.erase(batch.events.begin(), batch.events.begin() + static_cast<std::ptrdiff_t>(n));
  batch.first_sequence += n;
  encode(batch);
}

void RedisEngine::follow_redirect(Batch& batch, const redis::Redirect& redirect, bool via_ask) {
  batches.unstart_all();
  if (redirects.one_too_many()) {
    redis::SinkCounters::add(counters.retried_batches);
    transport_failure("too many cluster redirections in a row for stream '" + options.stream_key +
                      "' (last: slot " + std::to_string(redirect.slot) + " at " +
                      redirect.to.to_string() + ")");
    return;
  }
  if (redirect.kind == redis::Redirect::Kind::moved) {
    redis::SinkCounters::add(counters.moved_redirects);
    logger->info("stream '{}': slot {} moved to {}", options.stream_key, redirect.slot,
                 redirect.to.to_string());
    connector.moved(redirect);
    close_transport();  // not a failure: the next attempt connects to the new owner at once
    breaker().record_success();  // the server answered (ends a half-open probe)
    return;
  }
  redis::SinkCounters::add(counters.ask_redirects);
  if (via_ask) {
    breaker().record_success();  // answered, if only with another redirection: try again
  } else {
    follow_ask(batch, redirect.to);
  }
}

void RedisEngine::follow_ask(Batch& batch, const RedisEndpoint& to) {
  std::string error;
  const auto result = redirects.ask(
      batch, to, encoder, durable, connector, options.connection,
      [this](std::chrono::milliseconds t) { return io_deadline(t); }, replies, error);
  if (result == redis::Redirects::AskResult::cannot_encode) {
    // Out of memory: try again later through the main connection (redirected again).
    record_error("could not serialize a batch of " + std::to_string(batch.events.size()) +
                 " for an ASK redirection (out of memory); kept for retry");
    breaker().record_failure();
    return;
  }
  if (result == redis::Redirects::AskResult::failed) {
    // The main connection is fine; the next attempt goes through it and is redirected again.
    redis::SinkCounters::add(counters.retried_batches);
    record_error("ASK redirection to " + to.to_string() + " failed, batch of " +
                 std::to_string(batch.events.size()) + " kept for retry: " + error);
    counters.record_transport_error();
    breaker().record_failure();
    return;
  }
  redis::SinkCounters::add(counters.round_trips);
  apply(batch, redis::read_batch_replies(replies, batch.xadds, true, durable.enabled(), to.host),
        false, true);
}

// Counts the answers to a batch's XADDs as final; refusals are logged. Protocol errors are
// counted here, when their events are failed, rather than when the reply arrives: a batch
// kept to be sent again (LOADING, a redirection, a WAIT shortfall) would count its event once
// per send. And before the pipeline counts them and the buffer lets them go: whoever sees an
// event answered sees it counted.
void RedisEngine::settle(const redis::BatchReplies& answers, std::size_t of) {
  if (answers.protocol_errors > 0) {
    redis::SinkCounters::add(counters.failed_protocol, answers.protocol_errors);
  }
  pipeline.count_settled(answers.accepted, answers.refused_at.size());
  if (answers.refused_at.empty()) return;
  redis::SinkCounters::add(counters.reply_errors, answers.refused_at.size());
  record_error("XADD to '" + options.stream_key + "' refused for " +
               std::to_string(answers.refused_at.size()) + " of " + std::to_string(of) +
               " events: " + answers.first_refusal);
}

// Every event of the batch was answered for good: it leaves the buffer(). While isolating,
// only the one event sent was: it leaves, and the rest is sent next.
void RedisEngine::complete(Batch& batch, const redis::BatchReplies& answers) {
  if (batch.isolate > 0 && batch.events.size() > 1) {
    --batch.isolate;
    settle_prefix(batch, 1, answers);
    batch.started = false;
    batch.awaiting_replicas = false;
    redirects.settled();
    breaker().record_success();
    return;
  }
  batch.isolate = 0;
  settle(answers, batch.xadds);
  redirects.settled();
  batch.awaiting_replicas = false;
  const auto latency =
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - batch.started_at);
  counters.last_flush_latency_us.store(latency.count(), std::memory_order_relaxed);
  if (logger->should_log(spdlog::level::debug)) {
    logger->debug("batch of {} event(s) written to '{}' in {} us ({} not delivered); {} waiting",
                  batch.events.size(), options.stream_key, latency.count(),
                  batch.events.size() - answers.accepted, buffer().waiting());
  }
  buffer().acknowledge(batch.events.size());
  batch.commands.clear();  // the events stay until the slot is reused (see prepare_batch)
  batch.started = false;
  batches.pop_head();
  breaker().record_success();
  blocked_logged = false;
}

void RedisEngine::fail_first(Batch& batch, const std::string& why) {
  pipeline.count_settled(0, 1);
  record_error(why);
  buffer().acknowledge(1);
  batch.events.erase(batch.events.begin());
  batch.first_sequence += 1;
}

// Every batch held is sent again, in order, on the next connection (the ones written on this
// one count as retried: Redis may have applied them). `outage` false: the server closed the
// connection on the head batch, which is now isolated; only a failed reconnect then counts
// for the breaker().
void RedisEngine::batch_failed(const std::string& message, bool outage) {
  redis::SinkCounters::add(counters.retried_batches, batches.unstart_all());
  transport_failure(message, outage);
}

// The connection failed with `e`: when the server closed it (EOF or a reset, as opposed to a
// timeout, another I/O error or our own shutdown), the batches written on it are isolated.
// `partial`: the head batch's replies read before the failure, if any.
bool RedisEngine::isolate_after_close(const std::exception& e,
                                      std::vector<redis::RedisReply>* partial) {
  const bool closed = dynamic_cast<const ClosedError*>(&e) != nullptr;
  if (!closed || interrupted.load(std::memory_order_acquire)) return false;
  return isolation.after_close(batches, partial, e.what(), current_host);
}

// The breaker (or the reconnect backoff) allows no attempt now. Meanwhile, compact the
// waiting events, then sleep until the next attempt, the next round of compaction, or a wake.
void RedisEngine::wait_while_blocked() {
  const auto now = SteadyClock::now();
  const auto stop_by = pipeline.stop_deadline();
  const auto until_stop = stop_by > now ? stop_by - now : SteadyClock::duration::zero();
  // At least a millisecond, so that a breaker probing (no wait left) never makes it spin.
  const auto wait = std::max<std::chrono::nanoseconds>(
      std::min<std::chrono::nanoseconds>(breaker().next_attempt_in(), until_stop),
      std::chrono::milliseconds(1));
  const auto wake_at = now + wait;
  const std::size_t compacted = compaction.run(
      now,
      // Also ends when a shutdown gives up (it moves the stop deadline to then).
      [&] { return SteadyClock::now() < std::min(wake_at, pipeline.stop_deadline()); },
      [this] { pipeline.release_evicted(); });
  if (logger->should_log(spdlog::level::debug) && (compacted > 0 || !blocked_logged)) {
    blocked_logged = true;
    logger->debug("breaker {}: next attempt in {} ms; {} event(s) waiting, {} more compacted",
                  to_string(breaker().state()),
                  std::chrono::duration_cast<std::chrono::milliseconds>(wait).count(),
                  buffer().waiting(), compacted);
  }
  const auto left = wake_at - SteadyClock::now();
  if (left <= std::chrono::nanoseconds::zero()) return;
  // Periodic rather than woken by new events: waking the flusher would cost the pushing
  // application thread a syscall, and an outage is no reason to make emitting dearer.
  buffer().wait_for_events(buffer().no_event_wake,
                           std::min<std::chrono::nanoseconds>(left, kCompactionPeriod));
}

}  // namespace streamll::redis
