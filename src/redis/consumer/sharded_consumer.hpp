#pragma once
// Internal: the body of GroupConsumer and StreamReader: one ConsumerShard per stream read (one,
// or every shard of a sharded deployment; each with its token stream when one is read apart),
// the handlers and dedupe they share, and the polling that merges several streams into one
// dispatch on the consuming thread. Below, "shard" means one stream read.
//
// With several shards a poll() first gives every shard one step without waiting (answers to
// blocking reads sent earlier, or a read of its own), so a busy shard cannot starve the others
// and each shard's entries are dispatched in their stream order. Only when no shard had
// anything does it send a blocking read to every connected shard and wait, with one poll(2)
// over their sockets, for the first answers. A shard that is down is retried by its own
// backoff while the others keep being read.

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "redis/consumer/consumer_seams.hpp"
#include "redis/consumer/consumer_shard.hpp"

namespace streamll::redis {

/// Sums shard stats: every counter added up, connected only when every shard is, last_error
/// the most recent one (`error_times` in shard order, as ConsumerCore::last_error_at()).
ConsumerStats merge_consumer_stats(
    const std::vector<ConsumerStats>& shards,
    const std::vector<std::chrono::steady_clock::time_point>& error_times);

class ShardedConsumer {
 public:
  /// Builds the reader of one stream from its own options (options_of_stream), its shard's
  /// transport maker, the shared dispatch and its shard's index.
  using MakeShard = std::function<std::unique_ptr<ConsumerShard>(
      ConsumerOptions shard_options, TransportMaker make, ConsumerDispatch& dispatch,
      std::size_t index)>;

  /// `options` must be validated. One reader per stream: options.shards() *
  /// options.streams_per_shard().
  ShardedConsumer(ConsumerOptions options, const ConsumerTransportFactory& factory,
                  const ConsumerEndpointTransportFactory& endpoint_factory,
                  const MakeShard& make_shard);
  ~ShardedConsumer();
  ShardedConsumer(const ShardedConsumer&) = delete;
  ShardedConsumer& operator=(const ShardedConsumer&) = delete;

  PollResult poll(std::chrono::milliseconds block);
  /// Polls until stop(), sleeping out reconnect delays (interruptibly).
  void run();
  /// Any thread; never blocks.
  void stop() noexcept;
  bool stopping() const noexcept { return shards_.front()->core().stopping(); }

  ConsumerStats stats() const;
  /// Per shard of the deployment, its streams merged.
  std::vector<ConsumerStats> shard_stats() const;
  /// Streams read.
  std::size_t size() const noexcept { return shards_.size(); }
  /// Shards of the deployment read.
  std::size_t shard_count() const noexcept { return options_.shards(); }
  ConsumerShard& shard(std::size_t index) { return *shards_.at(index); }
  const ConsumerShard& shard(std::size_t index) const { return *shards_.at(index); }
  EventHandlers& handlers() noexcept { return dispatch_.handlers; }
  const ConsumerOptions& options() const noexcept { return options_; }

 private:
  bool answer_arrived(const ConsumerShard& shard) const;
  void wait_for_first_answers(std::chrono::milliseconds block, PollResult& total);
  void settle(PollResult& total) const;

  const ConsumerOptions options_;
  ConsumerDispatch dispatch_;
  std::vector<std::unique_ptr<ConsumerShard>> shards_;
  std::size_t next_ = 0;  // the shard the next round starts with
  // Wakes a multi-shard wait on stop(); only with several shards.
  int wake_read_ = -1;
  int wake_write_ = -1;
};

}  // namespace streamll::redis
