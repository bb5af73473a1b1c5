// StreamReader: XREAD (no group) around ConsumerCore. It remembers the last id it read, so a
// reconnect continues exactly where it left off; "$" is resolved to the stream's last id once,
// at the first connect, so entries added between two blocking reads are never skipped.

#include "redis/consumer_core.hpp"

namespace streamll {
namespace {

std::string role_of(const ConsumerOptions& o) { return "reader of '" + o.stream_key + "'"; }

}  // namespace

struct StreamReader::Impl {
  Impl(ConsumerOptions options, ConsumerTransportFactory factory, const detail::ClockSource& clock)
      : core(checked(options, factory), factory, clock, role_of(options)) {}

  static ConsumerOptions checked(const ConsumerOptions& options, const ConsumerTransportFactory& factory) {
    options.validate();
    if (!factory) (void)redis::make_socket_transport(options);
    return options;
  }

  void on_connect(redis::RedisTransport& transport) {
    if (!position.empty()) return;
    const ConsumerOptions& o = core.options();
    if (o.start_id == "$") {
      redis::RedisReply reply = transport.command({"XREVRANGE", o.stream_key, "+", "-", "COUNT", "1"});
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

  PollResult poll(std::chrono::milliseconds block) {
    PollResult result;
    if (core.stopping()) return result;
    if (!core.ensure_connected([this](redis::RedisTransport& t) { on_connect(t); })) {
      result.backoff = core.backoff_remaining();
      return result;
    }
    try {
      read(block, result);
    } catch (const std::exception& e) {
      core.transport_failure(std::string("read failed: ") + e.what());
    }
    result.connected = core.connected();
    return result;
  }

  void read(std::chrono::milliseconds block, PollResult& result) {
    const ConsumerOptions& o = core.options();
    const bool blocking = block.count() > 0;
    commands.clear();
    commands.begin_command(blocking ? 8 : 6).arg("XREAD").arg("COUNT").arg(static_cast<long long>(o.batch_size));
    if (blocking) commands.arg("BLOCK").arg(static_cast<long long>(block.count()));
    commands.arg("STREAMS").arg(o.stream_key).arg(position);  // only this thread writes it
    const auto deadline = std::chrono::steady_clock::now() + block + o.socket_timeout;
    if (!core.execute(commands, replies, deadline, blocking) || replies.empty()) return;
    redis::RedisReply& reply = replies.front();
    if (reply.is_error()) {
      core.reply_failure("XREAD refused: " + reply.text);
      return;
    }
    entries.clear();
    redis::append_read_entries(reply, entries);
    core.count_read(entries.size());
    result.entries += entries.size();
    core.decode_batch(entries);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (core.stopping()) {
        core.count_unprocessed(entries.size() - i);
        break;
      }
      if (core.process(entries[i], i, false) == redis::EntryOutcome::handled) ++result.handled;
      set_position(entries[i].id);
    }
  }

  redis::ConsumerCore core;
  redis::CommandBuffer commands;
  std::vector<redis::RedisReply> replies;
  std::vector<redis::StreamEntry> entries;
  mutable std::mutex position_mutex;  // last_id() may be read from any thread
  std::string position;
};

StreamReader::StreamReader(ConsumerOptions options)
    : StreamReader(std::move(options), ConsumerTransportFactory{}, detail::ClockSource::real()) {}

StreamReader::StreamReader(ConsumerOptions options, ConsumerTransportFactory make_transport,
                           const detail::ClockSource& clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(make_transport), clock)) {}

StreamReader::~StreamReader() { stop(); }

EventHandlers& StreamReader::handler_table() { return impl_->core.handlers(); }

PollResult StreamReader::poll(std::chrono::milliseconds block) { return impl_->poll(block); }

void StreamReader::run() {
  impl_->core.run([this](std::chrono::milliseconds block) { return impl_->poll(block); });
}

void StreamReader::stop() noexcept { impl_->core.stop(); }
bool StreamReader::stopping() const noexcept { return impl_->core.stopping(); }

std::string StreamReader::last_id() const {
  std::lock_guard<std::mutex> lock(impl_->position_mutex);
  return impl_->position;
}

ConsumerStats StreamReader::stats() const { return impl_->core.stats(); }
const ConsumerOptions& StreamReader::options() const noexcept { return impl_->core.options(); }

}  // namespace streamll
