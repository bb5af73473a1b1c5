// GroupConsumer: XREADGROUP, XACK and XAUTOCLAIM around ConsumerCore.
//
// Order of work in a poll: claim entries other (dead) consumers left pending when a claim is
// due; after each (re)connect, re-read this consumer's own pending entries (a restarted worker
// picks up what it had been given but not acknowledged); otherwise read new entries (">").

#include "redis/consumer_core.hpp"
#include "streamll/errors.hpp"

namespace streamll {
namespace {

ConsumerOptions validated(ConsumerOptions o) {
  o.validate();
  if (o.group.empty()) throw ConfigError("group", "must not be empty for a GroupConsumer");
  if (o.consumer_name.empty()) throw ConfigError("consumer_name", "must not be empty for a GroupConsumer");
  return o;
}

std::string role_of(const ConsumerOptions& o) {
  return "consumer '" + o.consumer_name + "' of group '" + o.group + "' on '" + o.stream_key + "'";
}

}  // namespace

struct GroupConsumer::Impl {
  Impl(ConsumerOptions options, ConsumerTransportFactory factory, const detail::ClockSource& clock)
      : core(checked(options, factory), factory, clock, role_of(options)) {}

  // Validates, and without a custom factory builds a transport once so that TLS files the
  // transport cannot load fail here rather than on the consuming thread.
  static ConsumerOptions checked(const ConsumerOptions& options, const ConsumerTransportFactory& factory) {
    ConsumerOptions o = validated(options);
    if (!factory) (void)redis::make_socket_transport(o);
    return o;
  }

  void on_connect(redis::RedisTransport& transport) {
    const ConsumerOptions& o = core.options();
    if (o.create_group) {
      const redis::RedisReply reply =
          transport.command({"XGROUP", "CREATE", o.stream_key, o.group, o.group_start_id, "MKSTREAM"});
      if (reply.is_error() && reply.error_prefix() != "BUSYGROUP") {
        redis::throw_if_error(reply, "XGROUP CREATE " + o.stream_key + " " + o.group);
      }
    }
    own_pending = true;
    own_cursor = "0";
    prefetched.clear();  // still pending for this consumer: the own-pending pass reads them again
    next_claim = core.clock().steady_now();
  }

  PollResult poll(std::chrono::milliseconds block) {
    PollResult result;
    if (core.stopping()) return result;
    if (!core.ensure_connected([this](redis::RedisTransport& t) { on_connect(t); })) {
      result.backoff = core.backoff_remaining();
      return result;
    }
    try {
      if (!prefetched.empty()) {
        entries.swap(prefetched);
        prefetched.clear();
        process_batch(/*redelivered=*/false, result);
        result.connected = core.connected();
        return result;
      }
      if (claim_due()) claim(result);
      if (result.entries == 0 && !core.stopping() && own_pending) read_own_pending(result);
      // Once the own pending list is through, the same poll goes on to new entries: an empty
      // poll always means there was nothing to read.
      if (result.entries == 0 && !core.stopping() && !own_pending && core.connected()) read_new(block, result);
    } catch (const std::exception& e) {
      core.transport_failure(std::string("read failed: ") + e.what());
    }
    result.connected = core.connected();
    return result;
  }

  bool claim_due() const {
    return core.options().claim_min_idle.count() > 0 && core.clock().steady_now() >= next_claim;
  }

  void claim(PollResult& result) {
    const ConsumerOptions& o = core.options();
    commands.clear();
    commands.begin_command(8).arg("XAUTOCLAIM").arg(o.stream_key).arg(o.group).arg(o.consumer_name)
        .arg(static_cast<long long>(o.claim_min_idle.count())).arg(claim_cursor).arg("COUNT")
        .arg(static_cast<long long>(o.batch_size));
    if (!run(commands, std::chrono::milliseconds(0), false)) return;
    redis::RedisReply& reply = replies.front();
    if (reply.is_error()) {
      core.reply_failure("XAUTOCLAIM refused: " + reply.text);
      return;
    }
    entries.clear();
    const auto claimed = redis::append_autoclaim_entries(reply, entries);
    core.count_read(entries.size());
    core.count_claimed(entries.size());
    core.count_deleted(claimed.deleted_ids);
    claim_cursor = claimed.next_cursor;
    if (claim_cursor == "0-0") next_claim = core.clock().steady_now() + o.claim_interval;
    process_batch(/*redelivered=*/true, result);
  }

  void read_own_pending(PollResult& result) {
    read("0", own_cursor, std::chrono::milliseconds(0), result);
    if (entries.empty() && !core.stopping() && core.connected()) own_pending = false;
  }

  void read_new(std::chrono::milliseconds block, PollResult& result) {
    read(">", ">", block, result);
  }

  // XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS key <id>; `mode` "0" re-reads own pending
  // entries after `id`, ">" reads new ones.
  void read(const std::string& mode, const std::string& id, std::chrono::milliseconds block,
            PollResult& result) {
    const ConsumerOptions& o = core.options();
    const bool blocking = block.count() > 0;
    commands.clear();
    commands.begin_command(blocking ? 11 : 9).arg("XREADGROUP").arg("GROUP").arg(o.group)
        .arg(o.consumer_name).arg("COUNT").arg(static_cast<long long>(o.batch_size));
    if (blocking) commands.arg("BLOCK").arg(static_cast<long long>(block.count()));
    commands.arg("STREAMS").arg(o.stream_key).arg(id);
    entries.clear();
    if (!run(commands, block, blocking)) return;
    redis::RedisReply& reply = replies.front();
    if (reply.is_error()) {
      core.reply_failure("XREADGROUP refused: " + reply.text);
      return;
    }
    redis::append_read_entries(reply, entries);
    core.count_read(entries.size());
    if (mode == "0" && !entries.empty()) own_cursor = entries.back().id;
    process_batch(/*redelivered=*/mode == "0", result);
  }

  bool run(const redis::CommandBuffer& buffer, std::chrono::milliseconds block, bool interruptible) {
    const auto deadline = std::chrono::steady_clock::now() + block + core.options().socket_timeout;
    return core.execute(buffer, replies, deadline, interruptible) && !replies.empty();
  }

  // Dispatches `entries` and acknowledges them with one XACK. While a backlog lasts (a full
  // batch of new entries), the next batch is requested before dispatching this one, so Redis
  // prepares it while the handlers run (at most one batch is read ahead).
  void process_batch(bool redelivered, PollResult& result) {
    const ConsumerOptions& o = core.options();
    result.entries += entries.size();
    const bool read_ahead = !redelivered && entries.size() == o.batch_size && !core.stopping() && !claim_due();
    if (read_ahead) {
      commands.clear();
      commands.begin_command(9).arg("XREADGROUP").arg("GROUP").arg(o.group).arg(o.consumer_name).arg("COUNT")
          .arg(static_cast<long long>(o.batch_size)).arg("STREAMS").arg(o.stream_key).arg(">");
      core.send(commands, std::chrono::steady_clock::now() + o.socket_timeout);
    }
    to_ack.clear();
    core.decode_batch(entries);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (core.stopping()) {
        core.count_unprocessed(entries.size() - i);
        break;
      }
      const redis::EntryOutcome outcome = core.process(entries[i], i, redelivered);
      bool ack = false;
      switch (outcome) {
        case redis::EntryOutcome::handled:
          ++result.handled;
          ack = true;
          break;
        case redis::EntryOutcome::duplicate:
        case redis::EntryOutcome::deleted:
          ack = true;
          break;
        case redis::EntryOutcome::undecodable:
          ack = o.bad_entry_policy == BadEntryPolicy::ack_and_skip;
          break;
        case redis::EntryOutcome::handler_failed:
          break;
      }
      if (ack) to_ack.push_back(i);
    }
    // One XACK for the batch. When it fails the entries stay pending and come back later: the
    // handlers ran, so this is the "at least" of at-least-once.
    if (!to_ack.empty()) {
      commands.clear();
      commands.begin_command(3 + to_ack.size()).arg("XACK").arg(o.stream_key).arg(o.group);
      for (std::size_t i : to_ack) commands.arg(entries[i].id);
      core.send(commands, std::chrono::steady_clock::now() + o.socket_timeout);
    }
    const std::size_t expected = (read_ahead ? 1 : 0) + (to_ack.empty() ? 0 : 1);
    if (expected == 0) return;
    core.receive(expected, replies, std::chrono::steady_clock::now() + o.socket_timeout);
    if (!to_ack.empty()) {
      const redis::RedisReply& ack = replies.back();
      if (ack.is_error()) {
        core.reply_error("XACK refused: " + ack.text);
      } else if (ack.is_integer() && ack.integer > 0) {
        core.count_acked(static_cast<std::size_t>(ack.integer));
      }
    }
    if (read_ahead) {
      redis::RedisReply& next = replies.front();
      if (next.is_error()) {
        core.reply_failure("XREADGROUP refused: " + next.text);
        return;
      }
      prefetched.clear();
      redis::append_read_entries(next, prefetched);
      core.count_read(prefetched.size());
      if (core.stopping()) {
        // Delivered to this consumer, never dispatched: pending until it restarts (or a claim).
        core.count_unprocessed(prefetched.size());
        prefetched.clear();
      }
    }
  }

  redis::ConsumerCore core;
  redis::CommandBuffer commands;
  std::vector<redis::RedisReply> replies;
  std::vector<redis::StreamEntry> entries;
  std::vector<redis::StreamEntry> prefetched;  // the batch read ahead, dispatched next poll
  std::vector<std::size_t> to_ack;
  bool own_pending = true;
  std::string own_cursor = "0";
  std::string claim_cursor = "0-0";
  std::chrono::steady_clock::time_point next_claim{};
};

GroupConsumer::GroupConsumer(ConsumerOptions options)
    : GroupConsumer(std::move(options), ConsumerTransportFactory{}, detail::ClockSource::real()) {}

GroupConsumer::GroupConsumer(ConsumerOptions options, ConsumerTransportFactory make_transport,
                             const detail::ClockSource& clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(make_transport), clock)) {}

GroupConsumer::~GroupConsumer() { stop(); }

EventHandlers& GroupConsumer::handler_table() { return impl_->core.handlers(); }

PollResult GroupConsumer::poll(std::chrono::milliseconds block) { return impl_->poll(block); }

void GroupConsumer::run() {
  impl_->core.run([this](std::chrono::milliseconds block) { return impl_->poll(block); });
}

void GroupConsumer::stop() noexcept { impl_->core.stop(); }
bool GroupConsumer::stopping() const noexcept { return impl_->core.stopping(); }
ConsumerStats GroupConsumer::stats() const { return impl_->core.stats(); }
const ConsumerOptions& GroupConsumer::options() const noexcept { return impl_->core.options(); }

}  // namespace streamll
