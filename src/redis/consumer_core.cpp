#include "redis/consumer_core.hpp"

#include <exception>

namespace streamll::redis {

void DedupeWindow::remember(const EventId& id) {
  if (capacity_ == 0 || !seen_.insert(id).second) return;
  order_.push_back(id);
  if (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
}

namespace {

detail::BackoffPolicy backoff_policy(const ConsumerOptions& o) {
  detail::BackoffPolicy policy;
  policy.initial_delay = o.reconnect_initial_delay;
  policy.max_delay = o.reconnect_max_delay;
  return policy;
}

}  // namespace

ConsumerCore::ConsumerCore(ConsumerOptions options, ConsumerTransportFactory factory,
                           const detail::ClockSource& clock, std::string role)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      clock_(clock),
      role_(std::move(role)),
      backoff_(backoff_policy(options_), clock),
      dedupe_(options_.dedupe_window) {}

ConsumerCore::~ConsumerCore() { close_transport(); }

bool ConsumerCore::begin_interruptible() {
  std::lock_guard<std::mutex> lock(transport_mutex_);
  if (stopping_.load(std::memory_order_acquire)) return false;
  interruptible_ = true;
  return true;
}

void ConsumerCore::end_interruptible() noexcept {
  std::lock_guard<std::mutex> lock(transport_mutex_);
  interruptible_ = false;
}

bool ConsumerCore::ensure_connected(const OnConnect& on_connect) {
  if (transport_ && transport_->is_connected()) return true;
  if (stopping() || !backoff_.ready()) return false;
  try {
    auto fresh = factory_ ? factory_() : make_socket_transport(options_);
    {
      std::lock_guard<std::mutex> lock(transport_mutex_);
      transport_ = std::move(fresh);
    }
    if (!begin_interruptible()) return false;
    try {
      transport_->connect(std::chrono::steady_clock::now() + options_.connect_timeout);
    } catch (...) {
      end_interruptible();
      throw;
    }
    end_interruptible();
    if (on_connect) on_connect(*transport_);
  } catch (const AuthError& e) {
    transport_failure(std::string("authentication failed: ") + e.what());
    return false;
  } catch (const ReplyError& e) {
    reply_failure(std::string("setting up the connection failed: ") + e.what());
    return false;
  } catch (const std::exception& e) {
    transport_failure(std::string("connect failed: ") + e.what());
    return false;
  }
  backoff_.reset();
  if (ever_connected_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_connected_ = true;
  connected_.store(true, std::memory_order_relaxed);
  detail::get_logger("streamll.consumer")->info("{}: connected to {}", role_, transport_->describe());
  return true;
}

std::chrono::milliseconds ConsumerCore::backoff_remaining() const noexcept {
  const auto left = backoff_.remaining();
  // Round up, so that sleeping for the result always reaches ready().
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

bool ConsumerCore::execute(const CommandBuffer& commands, std::vector<RedisReply>& replies,
                           std::chrono::steady_clock::time_point deadline, bool interruptible) {
  if (!transport_) throw ClosedError("not connected");
  if (!interruptible) {
    transport_->execute(commands, replies, deadline);
    return true;
  }
  if (!begin_interruptible()) return false;
  try {
    transport_->execute(commands, replies, deadline);
  } catch (...) {
    end_interruptible();
    throw;
  }
  end_interruptible();
  return true;
}

void ConsumerCore::send(const CommandBuffer& commands, std::chrono::steady_clock::time_point deadline) {
  if (!transport_) throw ClosedError("not connected");
  transport_->send(commands, deadline);
}

void ConsumerCore::receive(std::size_t count, std::vector<RedisReply>& replies,
                           std::chrono::steady_clock::time_point deadline) {
  if (!transport_) throw ClosedError("not connected");
  transport_->receive(count, replies, deadline);
}

void ConsumerCore::transport_failure(const std::string& message) {
  const bool was_connected = connected_.load(std::memory_order_relaxed);
  close_transport();
  if (stopping()) return;  // our own interrupt, or a failure nobody will retry
  transport_errors_.fetch_add(1, std::memory_order_relaxed);
  const auto delay = backoff_.record_failure();
  record_error(message + (was_connected ? " (connection lost; retrying in " : " (retrying in ") +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
                   " ms)",
               spdlog::level::warn);
}

void ConsumerCore::reply_failure(const std::string& message) {
  close_transport();
  connected_.store(false, std::memory_order_relaxed);
  if (stopping()) return;
  reply_errors_.fetch_add(1, std::memory_order_relaxed);
  const auto delay = backoff_.record_failure();
  record_error(message + " (retrying in " +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
                   " ms)",
               spdlog::level::warn);
}

void ConsumerCore::reply_error(const std::string& message) {
  reply_errors_.fetch_add(1, std::memory_order_relaxed);
  record_error(message, spdlog::level::warn);
}

void ConsumerCore::record_error(const std::string& message, spdlog::level::level_enum level) {
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    last_error_ = message;
  }
  log_.log(level, role_ + ": " + message);
}

void ConsumerCore::close_transport() noexcept {
  std::lock_guard<std::mutex> lock(transport_mutex_);
  if (transport_) transport_->close();
  connected_.store(false, std::memory_order_relaxed);
}

void ConsumerCore::decode_batch(const std::vector<StreamEntry>& entries) {
  if (decoded_.size() < entries.size()) decoded_.resize(entries.size());
  auto decode = [this, &entries](std::size_t i) {
    Decoded& d = decoded_[i];
    d.ok = !entries[i].deleted && decode_entry(entries[i], d.message.event, d.failure);
  };
  // Below this many entries a hand-off costs more than it saves.
  constexpr std::size_t kParallelFrom = 64;
  if (entries.size() >= kParallelFrom && options_.parallel_decode && std::thread::hardware_concurrency() > 1) {
    if (!decode_worker_) decode_worker_ = std::make_unique<DecodeWorker>();
    decode_worker_->run(entries.size(), decode);
  } else {
    for (std::size_t i = 0; i < entries.size(); ++i) decode(i);
  }
}

EntryOutcome ConsumerCore::process(const StreamEntry& entry, std::size_t index, bool redelivered) {
  if (entry.deleted) {
    deleted_.fetch_add(1, std::memory_order_relaxed);
    return EntryOutcome::deleted;
  }
  Decoded& decoded = decoded_[index];
  ConsumedEvent& message = decoded.message;
  DecodeFailure& failure = decoded.failure;
  if (!decoded.ok) {
    switch (failure.kind) {
      case DecodeFailureKind::missing_event_field: missing_event_field_.fetch_add(1, std::memory_order_relaxed); break;
      case DecodeFailureKind::malformed_json: malformed_json_.fetch_add(1, std::memory_order_relaxed); break;
      case DecodeFailureKind::invalid_event: invalid_event_.fetch_add(1, std::memory_order_relaxed); break;
    }
    failure.stream = options_.stream_key;
    failure.entry_id = entry.id;
    log_.log(handlers_.reports_decode_failures() ? spdlog::level::debug : spdlog::level::warn,
             role_ + ": entry " + entry.id + " is not a streamll event (" +
                 std::string(to_string(failure.kind)) + ": " + failure.reason + ")");
    handlers_.report(failure);
    return EntryOutcome::undecodable;
  }
  const EventId id = message.event.id;
  if (dedupe_.enabled() && !id.is_nil() && dedupe_.contains(id)) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
    return EntryOutcome::duplicate;
  }
  message.stream = options_.stream_key;
  message.entry_id = entry.id;
  message.redelivered = redelivered;
  std::string what;
  try {
    if (handlers_.dispatch(message) == 0) unhandled_types_.fetch_add(1, std::memory_order_relaxed);
    handled_.fetch_add(1, std::memory_order_relaxed);
    if (dedupe_.enabled() && !id.is_nil()) dedupe_.remember(id);
    return EntryOutcome::handled;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  handler_failures_.fetch_add(1, std::memory_order_relaxed);
  record_error("handler failed on entry " + entry.id + " (" + std::string(message.event.type_name()) +
                   "): " + what,
               handlers_.reports_handler_errors() ? spdlog::level::debug : spdlog::level::warn);
  handlers_.report_handler_error(message, what);
  return EntryOutcome::handler_failed;
}

void ConsumerCore::count_read(std::size_t entries) noexcept {
  reads_.fetch_add(1, std::memory_order_relaxed);
  entries_read_.fetch_add(entries, std::memory_order_relaxed);
}

void ConsumerCore::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(transport_mutex_);
    stopping_.store(true, std::memory_order_release);
    if (interruptible_ && transport_) transport_->interrupt();
  }
  { std::lock_guard<std::mutex> lock(sleep_mutex_); }
  sleep_cv_.notify_all();
}

void ConsumerCore::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(sleep_mutex_);
  sleep_cv_.wait_for(lock, d, [this] { return stopping(); });
}

ConsumerStats ConsumerCore::stats() const {
  ConsumerStats s;
  s.entries_read = entries_read_.load(std::memory_order_relaxed);
  s.claimed = claimed_.load(std::memory_order_relaxed);
  s.handled = handled_.load(std::memory_order_relaxed);
  s.unhandled_types = unhandled_types_.load(std::memory_order_relaxed);
  s.duplicates = duplicates_.load(std::memory_order_relaxed);
  s.handler_failures = handler_failures_.load(std::memory_order_relaxed);
  s.undecodable.missing_event_field = missing_event_field_.load(std::memory_order_relaxed);
  s.undecodable.malformed_json = malformed_json_.load(std::memory_order_relaxed);
  s.undecodable.invalid_event = invalid_event_.load(std::memory_order_relaxed);
  s.deleted_entries = deleted_.load(std::memory_order_relaxed);
  s.unprocessed_on_stop = unprocessed_.load(std::memory_order_relaxed);
  s.acked = acked_.load(std::memory_order_relaxed);
  s.reads = reads_.load(std::memory_order_relaxed);
  s.transport_errors = transport_errors_.load(std::memory_order_relaxed);
  s.reply_errors = reply_errors_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  s.connected = connected_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(error_mutex_);
  s.last_error = last_error_;
  return s;
}

}  // namespace streamll::redis
