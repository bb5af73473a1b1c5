// StreamReader: XREAD (no group) around ConsumerCore, one ReaderShard per stream read. Each
// remembers the last id it read, so a reconnect (to the same server, or to a new master after a
// failover) continues exactly where it left off; "$" is resolved to the stream's last id once,
// at the first connect, so entries added between two blocking reads are never skipped.

#include "redis/consumer/consumer_seams.hpp"
#include "redis/consumer/sharded_consumer.hpp"

namespace streamll {
namespace {

std::string role_of(const ConsumerOptions& o) { return "reader of '" + o.stream_key + "'"; }

class ReaderShard final : public redis::ConsumerShard {
 public:
  ReaderShard(ConsumerOptions options, redis::TransportMaker make, const detail::ClockSource& clock,
              redis::ConsumerDispatch& dispatch, std::size_t shard)
      : core_(options, std::move(make), clock, role_of(options), dispatch, shard) {}

  redis::ConsumerCore& core() noexcept override { return core_; }

  void on_connect(redis::RedisTransport& transport) {
    if (!position.empty()) return;
    const ConsumerOptions& o = core_.options();
    if (o.start_id == "$") {
      redis::RedisReply reply =
          transport.command({"XREVRANGE", o.stream_key, "+", "-", "COUNT", "1"});
      redis::throw_if_error(reply, "XREVRANGE " + o.stream_key);
      std::vector<redis::StreamEntry> last;
      redis::append_entries(reply, last);
      set_position(last.empty() ? "0-0" : last.front().id);
    } else {
      set_position(o.start_id == "0" ? "0-0" : o.start_id);
    }
  }

  void set_position(std::string id) {
    std::lock_guard<std::mutex> lock(position_mutex);
    position = std::move(id);
  }

  PollResult poll(std::chrono::milliseconds block) override {
    return connected_step([this](redis::RedisTransport& t) { on_connect(t); },
                          [&](PollResult& result) { read(block, result); });
  }

  BlockingRead send_blocking_read(std::chrono::milliseconds block) override {
    if (core_.stopping() || !core_.connected()) return BlockingRead::unavailable;
    build_read(block);
    return send_read(block);
  }

  void finish_blocking_read(PollResult& result) override {
    finish_read([&](redis::RedisReply& reply) { dispatch_reply(reply, result); });
  }

  // XREAD COUNT n [BLOCK ms] STREAMS key <position>
  void build_read(std::chrono::milliseconds block) {
    const ConsumerOptions& o = core_.options();
    const bool blocking = block.count() > 0;
    commands.clear();
    commands.begin_command(blocking ? 8 : 6)
        .arg("XREAD")
        .arg("COUNT")
        .arg(static_cast<long long>(o.batch_size));
    if (blocking) commands.arg("BLOCK").arg(static_cast<long long>(block.count()));
    commands.arg("STREAMS").arg(o.stream_key).arg(position);  // only this thread writes it
  }

  void read(std::chrono::milliseconds block, PollResult& result) {
    build_read(block);
    if (!run_read(block)) return;
    dispatch_reply(replies.front(), result);
  }

  void dispatch_reply(redis::RedisReply& reply, PollResult& result) {
    if (reply.is_error()) {
      core_.refused("XREAD", reply.text);
      return;
    }
    entries.clear();
    redis::append_read_entries(reply, entries);
    core_.count_read(entries.size());
    result.entries += entries.size();
    core_.decode_batch(entries);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (core_.stopping()) {
        core_.count_unprocessed(entries.size() - i);
        break;
      }
      if (core_.process(entries[i], i, false) == redis::EntryOutcome::handled) ++result.handled;
      set_position(entries[i].id);
    }
  }

  redis::ConsumerCore core_;
  std::string last_id() const {
    std::lock_guard<std::mutex> lock(position_mutex);
    return position;
  }

  mutable std::mutex position_mutex;  // last_id() may be read from any thread
  std::string position;
};

ConsumerOptions checked(const ConsumerOptions& options, bool custom_transport) {
  options.validate();
  if (!custom_transport) {
    for (std::size_t i = 0; i < options.shards(); ++i) {
      (void)redis::make_socket_transport(redis::options_of_shard(options, i).connection);
    }
  }
  return options;
}

}  // namespace

struct StreamReader::Impl {
  Impl(const ConsumerOptions& options, const ConsumerTransportFactory& factory,
       const ConsumerEndpointTransportFactory& endpoint_factory, const detail::ClockSource& clock)
      : consumer(checked(options, factory || endpoint_factory), factory, endpoint_factory,
                 [&clock](ConsumerOptions o, redis::TransportMaker make, redis::ConsumerDispatch& d,
                          std::size_t i) {
                   return std::make_unique<ReaderShard>(std::move(o), std::move(make), clock, d, i);
                 }) {}
  const ReaderShard& shard(std::size_t i) const {
    return static_cast<const ReaderShard&>(consumer.shard(i));
  }
  redis::ShardedConsumer consumer;
};

StreamReader::StreamReader(ConsumerOptions options)
    : StreamReader(std::move(options), detail::ConsumerSeams{}) {}

StreamReader::StreamReader(ConsumerOptions options, detail::ConsumerSeams seams)
    : impl_(std::make_unique<Impl>(options, seams.make_transport, seams.make_endpoint_transport,
                                   *seams.clock)) {}

StreamReader::~StreamReader() { stop(); }

EventHandlers& StreamReader::handler_table() { return impl_->consumer.handlers(); }

PollResult StreamReader::poll(std::chrono::milliseconds block) {
  return impl_->consumer.poll(block);
}

void StreamReader::run() { impl_->consumer.run(); }

void StreamReader::stop() noexcept { impl_->consumer.stop(); }
bool StreamReader::stopping() const noexcept { return impl_->consumer.stopping(); }

std::string StreamReader::last_id() const {
  return impl_->consumer.size() == 1 ? impl_->shard(0).last_id() : std::string();
}

std::vector<std::string> StreamReader::last_ids() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < impl_->consumer.size(); ++i) out.push_back(impl_->shard(i).last_id());
  return out;
}

ConsumerStats StreamReader::stats() const { return impl_->consumer.stats(); }
std::vector<ConsumerStats> StreamReader::shard_stats() const {
  return impl_->consumer.shard_stats();
}
std::size_t StreamReader::shard_count() const noexcept { return impl_->consumer.shard_count(); }
const ConsumerOptions& StreamReader::options() const noexcept { return impl_->consumer.options(); }

}  // namespace streamll
