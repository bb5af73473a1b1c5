#include "redis/consumer/sharded_consumer.hpp"
#include "support/deadline.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace streamll::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

void add(PollResult& total, const PollResult& step) {
  total.entries += step.entries;
  total.handled += step.handled;
}

}  // namespace

ConsumerStats merge_consumer_stats(
    const std::vector<ConsumerStats>& shards,
    const std::vector<std::chrono::steady_clock::time_point>& error_times) {
  ConsumerStats out;
  out.connected = !shards.empty();
  std::chrono::steady_clock::time_point latest{};
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const ConsumerStats& s = shards[i];
    out.entries_read += s.entries_read;
    out.claimed += s.claimed;
    out.handled += s.handled;
    out.unhandled_types += s.unhandled_types;
    out.duplicates += s.duplicates;
    out.handler_failures += s.handler_failures;
    out.undecodable.missing_event_field += s.undecodable.missing_event_field;
    out.undecodable.malformed_json += s.undecodable.malformed_json;
    out.undecodable.invalid_event += s.undecodable.invalid_event;
    out.deleted_entries += s.deleted_entries;
    out.unprocessed_on_stop += s.unprocessed_on_stop;
    out.acked += s.acked;
    out.reads += s.reads;
    out.transport_errors += s.transport_errors;
    out.reply_errors += s.reply_errors;
    out.reconnects += s.reconnects;
    out.redirects += s.redirects;
    out.connected = out.connected && s.connected;
    const auto at =
        i < error_times.size() ? error_times[i] : std::chrono::steady_clock::time_point{};
    if (!s.last_error.empty() && (out.last_error.empty() || at > latest)) {
      out.last_error = s.last_error;
      latest = at;
    }
  }
  return out;
}

ShardedConsumer::ShardedConsumer(ConsumerOptions options, const ConsumerTransportFactory& factory,
                                 const ConsumerEndpointTransportFactory& endpoint_factory,
                                 const MakeShard& make_shard)
    : options_(std::move(options)), dispatch_(options_.dedupe_window) {
  const std::size_t per_shard = options_.streams_per_shard();
  const std::size_t n = options_.shards() * per_shard;
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t shard = i / per_shard;
    shards_.push_back(make_shard(options_of_stream(options_, i),
                                 consumer_transport_maker(factory, endpoint_factory, shard),
                                 dispatch_, shard));
  }
  if (n > 1) {
    // One thread reads every shard: a host that stopped answering must not hold the others up
    // for a connect timeout at every retry.
    for (auto& shard : shards_) shard->core().connect_in_background_after_timeouts();
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw IoError("cannot create a wake-up pipe for a sharded consumer (errno " +
                    std::to_string(errno) + ")");
    }
    wake_read_ = fds[0];
    wake_write_ = fds[1];
  }
}

ShardedConsumer::~ShardedConsumer() {
  stop();
  shards_.clear();  // before the pipe: nothing waits on it any more
  if (wake_read_ >= 0) ::close(wake_read_);
  if (wake_write_ >= 0) ::close(wake_write_);
}

PollResult ShardedConsumer::poll(std::chrono::milliseconds block) {
  if (shards_.size() == 1) return shards_.front()->poll(block);
  PollResult total;
  if (stopping()) return total;
  const std::size_t n = shards_.size();
  for (std::size_t k = 0; k < n && !stopping(); ++k) {
    ConsumerShard& shard = *shards_[(next_ + k) % n];
    if (shard.read_in_flight()) {
      if (answer_arrived(shard)) shard.finish_blocking_read(total);
    } else {
      add(total, shard.poll(std::chrono::milliseconds(0)));
    }
  }
  next_ = (next_ + 1) % n;
  if (total.entries == 0 && block.count() > 0 && !stopping()) wait_for_first_answers(block, total);
  settle(total);
  return total;
}

bool ShardedConsumer::answer_arrived(const ConsumerShard& shard) const {
  const int fd = shard.core().reply_fd();
  // A transport without a descriptor (a test fake) answers inside receive(); an overdue answer
  // is taken up so that receive() reports the timeout.
  if (fd < 0 || SteadyClock::now() >= shard.read_deadline()) return true;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

void ShardedConsumer::wait_for_first_answers(std::chrono::milliseconds block, PollResult& total) {
  for (auto& shard : shards_) {
    if (shard->read_in_flight()) continue;
    // A shard with other work due (claims, its own pending entries) is polled again at once.
    if (shard->send_blocking_read(block) == ConsumerShard::BlockingRead::busy) return;
  }
  auto until = detail::deadline_in(block);
  std::vector<pollfd> fds;
  std::vector<ConsumerShard*> waiting;
  for (auto& shard : shards_) {
    if (shard->read_in_flight()) {
      const int fd = shard->core().reply_fd();
      if (fd < 0) {
        shard->finish_blocking_read(total);
        continue;
      }
      fds.push_back(pollfd{fd, POLLIN, 0});
      waiting.push_back(shard.get());
      until = std::min(until, shard->read_deadline());
    } else if (!shard->core().connected()) {
      // A shard waiting to reconnect is tried when its delay is over, not after the others'
      // reads.
      // One with no delay (redirected by a MOVED: its new master is known) is tried by the next
      // poll, without waiting for the others' reads.
      const auto delay = shard->core().backoff_remaining();
      if (delay.count() <= 0 && !shard->core().stopping()) return;
      until = std::min(until, SteadyClock::now() + delay);
    }
  }
  if (total.entries > 0 || waiting.empty() || stopping()) return;
  fds.push_back(pollfd{wake_read_, POLLIN, 0});
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - SteadyClock::now());
  const int timeout =
      static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 1, 60000));
  const int ready = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout);
  if (ready <= 0 || stopping())
    return;  // timeout, EINTR: the reads stay in flight for the next poll
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    if (fds[i].revents != 0) waiting[i]->finish_blocking_read(total);
  }
}

void ShardedConsumer::settle(PollResult& total) const {
  total.connected = false;
  auto backoff = std::chrono::milliseconds::max();
  for (const auto& shard : shards_) {
    if (shard->core().connected()) {
      total.connected = true;
    } else {
      backoff = std::min(backoff, shard->core().backoff_remaining());
    }
  }
  total.backoff = total.connected ? std::chrono::milliseconds(0) : backoff;
}

void ShardedConsumer::run() {
  ConsumerCore& sleeper = shards_.front()->core();
  while (!stopping()) {
    const PollResult result = poll(options_.block);
    if (!result.connected && !stopping())
      sleeper.sleep_for(std::max(result.backoff, std::chrono::milliseconds(1)));
  }
}

void ShardedConsumer::stop() noexcept {
  for (auto& shard : shards_) shard->core().stop();
  if (wake_write_ >= 0) {
    const char byte = 1;
    // A full pipe already wakes the wait; nothing else can go wrong worth reporting.
    [[maybe_unused]] const ssize_t written = ::write(wake_write_, &byte, 1);
  }
}

ConsumerStats ShardedConsumer::stats() const {
  if (shards_.size() == 1) return shards_.front()->core().stats();
  std::vector<ConsumerStats> streams;
  std::vector<std::chrono::steady_clock::time_point> times;
  for (const auto& shard : shards_) {
    streams.push_back(shard->core().stats());
    times.push_back(shard->core().last_error_at());
  }
  return merge_consumer_stats(streams, times);
}

std::vector<ConsumerStats> ShardedConsumer::shard_stats() const {
  const std::size_t per_shard = options_.streams_per_shard();
  std::vector<ConsumerStats> out;
  out.reserve(shard_count());
  for (std::size_t first = 0; first < shards_.size(); first += per_shard) {
    if (per_shard == 1) {
      out.push_back(shards_[first]->core().stats());
      continue;
    }
    std::vector<ConsumerStats> streams;
    std::vector<std::chrono::steady_clock::time_point> times;
    for (std::size_t i = first; i < first + per_shard; ++i) {
      streams.push_back(shards_[i]->core().stats());
      times.push_back(shards_[i]->core().last_error_at());
    }
    out.push_back(merge_consumer_stats(streams, times));
  }
  return out;
}

}  // namespace streamll::redis
