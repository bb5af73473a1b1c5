// GroupConsumer: XREADGROUP, XACK and XAUTOCLAIM around ConsumerCore, one GroupShard per stream
// read (every shard of a sharded deployment, each with its own group membership).
//
// Order of work in a poll: claim entries other (dead) consumers left pending when a claim is
// due; after each (re)connect, re-read this consumer's own pending entries (a restarted worker
// picks up what it had been given but not acknowledged; after a failover, also those whose
// acknowledgement the new master never got); otherwise read new entries (">").

#include "redis/consumer/consumer_seams.hpp"
#include "redis/consumer/sharded_consumer.hpp"
#include "streamll/errors.hpp"
#include "support/deadline.hpp"

namespace streamll {
namespace {

ConsumerOptions validated(ConsumerOptions o) {
  o.validate();
  if (o.group.empty()) throw ConfigError("group", "must not be empty for a GroupConsumer");
  if (o.consumer_name.empty())
    throw ConfigError("consumer_name", "must not be empty for a GroupConsumer");
  return o;
}

std::string role_of(const ConsumerOptions& o) {
  return "consumer '" + o.consumer_name + "' of group '" + o.group + "' on '" + o.stream_key + "'";
}

class GroupShard final : public redis::ConsumerShard {
 public:
  GroupShard(ConsumerOptions options, redis::TransportMaker make, const detail::ClockSource& clock,
             redis::ConsumerDispatch& dispatch, std::size_t shard)
      : core_(options, std::move(make), clock, role_of(options), dispatch, shard) {}

  redis::ConsumerCore& core() noexcept override { return core_; }

  void on_connect(redis::RedisTransport& transport) {
    const ConsumerOptions& o = core_.options();
    if (o.create_group) {
      const redis::RedisReply reply = transport.command(
          {"XGROUP", "CREATE", o.stream_key, o.group, o.group_start_id, "MKSTREAM"});
      if (reply.is_error() && reply.error_prefix() != "BUSYGROUP") {
        redis::throw_if_error(reply, "XGROUP CREATE " + o.stream_key + " " + o.group);
      }
    }
    own_pending = true;
    own_cursor = "0";
    prefetched.clear();  // still pending for this consumer: the own-pending pass reads them again
    next_claim = core_.clock().steady_now();
  }

  PollResult poll(std::chrono::milliseconds block) override {
    return connected_step([this](redis::RedisTransport& t) { on_connect(t); },
                          [&](PollResult& result) { step(block, result); });
  }

  void step(std::chrono::milliseconds block, PollResult& result) {
    if (!prefetched.empty()) {
      entries.swap(prefetched);
      prefetched.clear();
      process_batch(/*redelivered=*/false, result);
      return;
    }
    if (claim_due()) claim(result);
    if (result.entries == 0 && !core_.stopping() && own_pending) read_own_pending(result);
    // Once the own pending list is through, the same poll goes on to new entries: an empty
    // poll always means there was nothing to read.
    if (result.entries == 0 && !core_.stopping() && !own_pending && core_.connected())
      read_new(block, result);
  }

  BlockingRead send_blocking_read(std::chrono::milliseconds block) override {
    if (core_.stopping() || !core_.connected()) return BlockingRead::unavailable;
    if (!prefetched.empty() || own_pending || claim_due()) return BlockingRead::busy;
    build_read(">", block);
    return send_read(block);
  }

  void finish_blocking_read(PollResult& result) override {
    finish_read([&](redis::RedisReply& reply) { take_read(reply, /*redelivered=*/false, result); });
  }

  bool claim_due() const {
    return core_.options().claim_min_idle.count() > 0 && core_.clock().steady_now() >= next_claim;
  }

  void claim(PollResult& result) {
    const ConsumerOptions& o = core_.options();
    commands.clear();
    commands.begin_command(8)
        .arg("XAUTOCLAIM")
        .arg(o.stream_key)
        .arg(o.group)
        .arg(o.consumer_name)
        .arg(static_cast<long long>(o.claim_min_idle.count()))
        .arg(claim_cursor)
        .arg("COUNT")
        .arg(static_cast<long long>(o.batch_size));
    if (!run_read(std::chrono::milliseconds(0))) return;
    redis::RedisReply& reply = replies.front();
    if (reply.is_error()) {
      core_.refused("XAUTOCLAIM", reply.text);
      return;
    }
    entries.clear();
    const auto claimed = redis::append_autoclaim_entries(reply, entries);
    core_.count_read(entries.size());
    core_.count_claimed(entries.size());
    core_.count_deleted(claimed.deleted_ids);
    claim_cursor = claimed.next_cursor;
    if (claim_cursor == "0-0")
      next_claim = core_.clock().steady_now() + detail::clamp_to_a_year(o.claim_interval);
    process_batch(/*redelivered=*/true, result);
  }

  void read_own_pending(PollResult& result) {
    read(/*redelivered=*/true, own_cursor, std::chrono::milliseconds(0), result);
    if (entries.empty() && !core_.stopping() && core_.connected()) own_pending = false;
  }

  void read_new(std::chrono::milliseconds block, PollResult& result) {
    read(/*redelivered=*/false, ">", block, result);
  }

  // Re-reads own pending entries after `id` (redelivered), or reads new ones (`id` ">").
  void read(bool redelivered, const std::string& id, std::chrono::milliseconds block,
            PollResult& result) {
    build_read(id, block);
    entries.clear();
    if (!run_read(block)) return;
    take_read(replies.front(), redelivered, result);
  }

  // XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS key <id> into `commands` (no BLOCK for 0).
  void build_read(const std::string& id, std::chrono::milliseconds block) {
    const ConsumerOptions& o = core_.options();
    const bool blocking = block.count() > 0;
    commands.clear();
    commands.begin_command(blocking ? 11 : 9)
        .arg("XREADGROUP")
        .arg("GROUP")
        .arg(o.group)
        .arg(o.consumer_name)
        .arg("COUNT")
        .arg(static_cast<long long>(o.batch_size));
    if (blocking) commands.arg("BLOCK").arg(static_cast<long long>(block.count()));
    commands.arg("STREAMS").arg(o.stream_key).arg(id);
  }

  // An XREADGROUP reply: its entries dispatched (and, for own pending ones, the cursor moved).
  void take_read(redis::RedisReply& reply, bool redelivered, PollResult& result) {
    entries.clear();
    if (reply.is_error()) {
      core_.refused("XREADGROUP", reply.text);
      return;
    }
    redis::append_read_entries(reply, entries);
    core_.count_read(entries.size());
    if (redelivered && !entries.empty()) own_cursor = entries.back().id;
    process_batch(redelivered, result);
  }

  // Dispatches `entries` and acknowledges them with one XACK. While a backlog lasts (a full
  // batch of new entries), the next batch is requested before dispatching this one, so Redis
  // prepares it while the handlers run (at most one batch is read ahead).
  void process_batch(bool redelivered, PollResult& result) {
    const ConsumerOptions& o = core_.options();
    result.entries += entries.size();
    const bool read_ahead =
        !redelivered && entries.size() == o.batch_size && !core_.stopping() && !claim_due();
    if (read_ahead) {
      build_read(">", std::chrono::milliseconds(0));
      core_.send(commands, detail::deadline_in(o.connection.socket_timeout));
    }
    to_ack.clear();
    core_.decode_batch(entries);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (core_.stopping()) {
        core_.count_unprocessed(entries.size() - i);
        break;
      }
      const redis::EntryOutcome outcome = core_.process(entries[i], i, redelivered);
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
      core_.send(commands, detail::deadline_in(o.connection.socket_timeout));
    }
    const std::size_t expected = (read_ahead ? 1 : 0) + (to_ack.empty() ? 0 : 1);
    if (expected == 0) return;
    core_.receive(expected, replies, detail::deadline_in(o.connection.socket_timeout));
    if (!to_ack.empty()) {
      const redis::RedisReply& ack = replies.back();
      if (ack.is_error() && ack.text.rfind("MOVED ", 0) == 0) {
        // The stream moved with its pending list: these entries come back to this consumer
        // from the new master (its own pending entries are read first after reconnecting).
        core_.refused("XACK", ack.text);
        return;
      } else if (ack.is_error()) {
        core_.reply_error("XACK refused: " + ack.text);
      } else if (ack.is_integer() && ack.integer > 0) {
        core_.count_acked(static_cast<std::size_t>(ack.integer));
      }
    }
    if (read_ahead) {
      redis::RedisReply& next = replies.front();
      if (next.is_error()) {
        core_.refused("XREADGROUP", next.text);
        return;
      }
      prefetched.clear();
      redis::append_read_entries(next, prefetched);
      core_.count_read(prefetched.size());
      if (core_.stopping()) {
        // Delivered to this consumer, never dispatched: pending until it restarts (or a claim).
        core_.count_unprocessed(prefetched.size());
        prefetched.clear();
      }
    }
  }

  redis::ConsumerCore core_;
  std::vector<redis::StreamEntry> prefetched;  // the batch read ahead, dispatched next poll
  std::vector<std::size_t> to_ack;
  bool own_pending = true;
  std::string own_cursor = "0";
  std::string claim_cursor = "0-0";
  std::chrono::steady_clock::time_point next_claim{};
};

// Validates, and without a custom factory builds each shard's transport once so that TLS files
// the transport cannot load fail here rather than on the consuming thread.
ConsumerOptions checked(const ConsumerOptions& options, bool custom_transport) {
  ConsumerOptions o = validated(options);
  if (!custom_transport) {
    for (std::size_t i = 0; i < o.shards(); ++i)
      (void)redis::make_socket_transport(redis::options_of_shard(o, i).connection);
  }
  return o;
}

std::unique_ptr<redis::ConsumerShard> make_group_shard(ConsumerOptions options,
                                                       redis::TransportMaker make,
                                                       const detail::ClockSource& clock,
                                                       redis::ConsumerDispatch& dispatch,
                                                       std::size_t index) {
  return std::make_unique<GroupShard>(std::move(options), std::move(make), clock, dispatch, index);
}

}  // namespace

struct GroupConsumer::Impl {
  Impl(const ConsumerOptions& options, const ConsumerTransportFactory& factory,
       const ConsumerEndpointTransportFactory& endpoint_factory, const detail::ClockSource& clock)
      : consumer(checked(options, factory || endpoint_factory), factory, endpoint_factory,
                 [&clock](ConsumerOptions o, redis::TransportMaker make, redis::ConsumerDispatch& d,
                          std::size_t i) {
                   return make_group_shard(std::move(o), std::move(make), clock, d, i);
                 }) {}
  redis::ShardedConsumer consumer;
};

GroupConsumer::GroupConsumer(ConsumerOptions options)
    : GroupConsumer(std::move(options), detail::ConsumerSeams{}) {}

GroupConsumer::GroupConsumer(ConsumerOptions options, detail::ConsumerSeams seams)
    : impl_(std::make_unique<Impl>(options, seams.make_transport, seams.make_endpoint_transport,
                                   *seams.clock)) {}

GroupConsumer::~GroupConsumer() { stop(); }

EventHandlers& GroupConsumer::handler_table() { return impl_->consumer.handlers(); }

PollResult GroupConsumer::poll(std::chrono::milliseconds block) {
  return impl_->consumer.poll(block);
}

void GroupConsumer::run() { impl_->consumer.run(); }

void GroupConsumer::stop() noexcept { impl_->consumer.stop(); }
bool GroupConsumer::stopping() const noexcept { return impl_->consumer.stopping(); }
ConsumerStats GroupConsumer::stats() const { return impl_->consumer.stats(); }
std::vector<ConsumerStats> GroupConsumer::shard_stats() const {
  return impl_->consumer.shard_stats();
}
std::size_t GroupConsumer::shard_count() const noexcept { return impl_->consumer.shard_count(); }
const ConsumerOptions& GroupConsumer::options() const noexcept { return impl_->consumer.options(); }

}  // namespace streamll
