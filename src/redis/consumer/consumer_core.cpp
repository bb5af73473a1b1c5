#include "redis/consumer/consumer_core.hpp"
#include "support/deadline.hpp"

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

// MOVED replies followed in a row without a read completing before they count as a failure
// (the sink's bound too): nodes that disagree about a slot must not make a consumer spin.
constexpr int kMaxRedirects = 5;

detail::BackoffPolicy backoff_policy(const ConsumerOptions& o) {
  detail::BackoffPolicy policy;
  policy.initial_delay = detail::clamp_to_a_year(o.reconnect_initial_delay);
  policy.max_delay = detail::clamp_to_a_year(o.reconnect_max_delay);
  return policy;
}

}  // namespace

TransportMaker consumer_transport_maker(const ConsumerTransportFactory& factory,
                                        const ConsumerEndpointTransportFactory& endpoint_factory,
                                        std::size_t shard) {
  if (endpoint_factory) {
    return [endpoint_factory, shard](const ConnectionTarget& t) {
      return endpoint_factory(shard, RedisEndpoint{t.host, t.port, false});
    };
  }
  if (factory) return [factory](const ConnectionTarget&) { return factory(); };
  return {};
}

ConsumerCore::ConsumerCore(ConsumerOptions options, TransportMaker make,
                           const detail::ClockSource& clock, std::string role,
                           ConsumerDispatch& dispatch, std::size_t shard)
    : options_(std::move(options)),
      clock_(clock),
      role_(std::move(role)),
      dispatch_(dispatch),
      shard_(shard),
      connector_(options_.connection, std::move(make)),
      backoff_(backoff_policy(options_), clock) {
  if (connector_.deployment() == RedisDeployment::cluster) slot_ = key_slot(options_.stream_key);
}

ConsumerCore::~ConsumerCore() {
  if (pending_connect_.valid()) {
    connector_.interrupt();
    pending_connect_.wait();
  }
  close_transport();
}

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
  if (stopping()) return false;
  if (!pending_connect_.valid() && !backoff_.ready()) return false;
  try {
    // The connector finds the server (URL, provider, the master Sentinel names, the cluster
    // master of the stream's slot); stop() interrupts it through its gate.
    std::unique_ptr<RedisTransport> fresh;
    if (pending_connect_.valid()) {
      if (pending_connect_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        return false;
      auto finished = std::move(pending_connect_);
      fresh = finished.get();
    } else {
      const auto deadline = detail::deadline_in(options_.connection.connect_timeout);
      attempt_deadline_ = deadline;
      if (background_after_timeout_ && host_timed_out_) {
        // Only the connector is touched meanwhile, and nothing else uses it until the result
        // is taken up (no connection: no reads, no redirections).
        pending_connect_ = std::async(
            std::launch::async, [this, deadline] { return connector_.connect(deadline, slot_); });
        return false;
      }
      fresh = connector_.connect(deadline, slot_);
    }
    host_timed_out_ = false;
    {
      std::lock_guard<std::mutex> lock(transport_mutex_);
      transport_ = std::move(fresh);
    }
    if (stopping()) {
      close_transport();
      return false;
    }
    if (on_connect) on_connect(*transport_);
  } catch (const AuthError& e) {
    transport_failure(std::string("authentication failed: ") + e.what());
    return false;
  } catch (const ReplyError& e) {
    if (auto redirect = parse_redirect(e.server_message(), connector_.current_host());
        redirect && redirect->kind == Redirect::Kind::moved) {
      redirected(*redirect);
      return false;
    }
    reply_failure(std::string("setting up the connection failed: ") + e.what());
    return false;
  } catch (const TimeoutError& e) {
    host_timed_out_ = true;
    transport_failure(std::string("connect failed: ") + e.what());
    return false;
  } catch (const std::exception& e) {
    // An attempt that used up its whole time timed out somewhere inside, even when what
    // reached here wraps it (no sentinel or cluster seed answered in time).
    if (std::chrono::steady_clock::now() >= attempt_deadline_ - std::chrono::milliseconds(10))
      host_timed_out_ = true;
    transport_failure(std::string("connect failed: ") + e.what());
    return false;
  }
  backoff_.reset();
  if (ever_connected_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_connected_ = true;
  connected_.store(true, std::memory_order_relaxed);
  if (auto logger = detail::get_logger("streamll.consumer")) {
    logger->info("{}: connected to {}", role_, transport_->describe());
  }
  return true;
}

std::chrono::milliseconds ConsumerCore::backoff_remaining() const noexcept {
  if (pending_connect_.valid()) return std::chrono::milliseconds(10);
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

void ConsumerCore::send(const CommandBuffer& commands,
                        std::chrono::steady_clock::time_point deadline) {
  if (!transport_) throw ClosedError("not connected");
  transport_->send(commands, deadline);
}

void ConsumerCore::receive(std::size_t count, std::vector<RedisReply>& replies,
                           std::chrono::steady_clock::time_point deadline) {
  if (!transport_) throw ClosedError("not connected");
  transport_->receive(count, replies, deadline);
}

int ConsumerCore::reply_fd() const noexcept {
  return transport_ && transport_->is_connected() ? transport_->reply_fd() : -1;
}

void ConsumerCore::read_failure(const std::exception& e) {
  if (dynamic_cast<const TimeoutError*>(&e) != nullptr) host_timed_out_ = true;
  transport_failure(std::string("read failed: ") + e.what());
}

void ConsumerCore::transport_failure(const std::string& message) {
  const bool was_connected = connected_.load(std::memory_order_relaxed);
  close_transport();
  if (stopping()) return;  // our own interrupt, or a failure nobody will retry
  connector_.connection_lost(message);
  transport_errors_.fetch_add(1, std::memory_order_relaxed);
  const auto delay = backoff_.record_failure();
  record_error(
      message + (was_connected ? " (connection lost; retrying in " : " (retrying in ") +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
          " ms)",
      spdlog::level::warn);
}

void ConsumerCore::reply_failure(const std::string& message) {
  close_transport();
  connected_.store(false, std::memory_order_relaxed);
  if (stopping()) return;
  connector_.connection_lost(message);
  reply_errors_.fetch_add(1, std::memory_order_relaxed);
  const auto delay = backoff_.record_failure();
  record_error(
      message + " (retrying in " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
          " ms)",
      spdlog::level::warn);
}

void ConsumerCore::reply_error(const std::string& message) {
  reply_errors_.fetch_add(1, std::memory_order_relaxed);
  record_error(message, spdlog::level::warn);
}

void ConsumerCore::refused(const std::string& command, const std::string& reply_text) {
  if (auto redirect = parse_redirect(reply_text, connector_.current_host());
      redirect && redirect->kind == Redirect::Kind::moved) {
    redirected(*redirect);
    return;
  }
  // ASK (the key is being migrated) is not followed: the migration ends with a MOVED, and
  // until then the backoff paces the retries.
  reply_failure(command + " refused: " + reply_text);
}

void ConsumerCore::redirected(const Redirect& redirect) {
  close_transport();
  if (stopping()) return;
  redirects_.fetch_add(1, std::memory_order_relaxed);
  connector_.moved(redirect);
  const std::string message = "slot " + std::to_string(redirect.slot) + " of '" +
                              options_.stream_key + "' moved to " + redirect.to.to_string();
  if (++redirects_in_row_ > kMaxRedirects) {
    redirects_in_row_ = 0;
    connector_.connection_lost(message);
    const auto delay = backoff_.record_failure();
    record_error(
        message + " (" + std::to_string(kMaxRedirects) + " redirections in a row; retrying in " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) +
            " ms)",
        spdlog::level::warn);
    return;
  }
  if (auto logger = detail::get_logger("streamll.consumer")) logger->info("{}: {}", role_, message);
}

void ConsumerCore::record_error(const std::string& message, spdlog::level::level_enum level) {
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    last_error_ = message;
    last_error_at_ = std::chrono::steady_clock::now();
  }
  log_.log(level, role_ + ": " + message);
}

void ConsumerCore::close_transport() noexcept {
  std::lock_guard<std::mutex> lock(transport_mutex_);
  if (transport_) transport_->close();
  connected_.store(false, std::memory_order_relaxed);
}

std::chrono::steady_clock::time_point ConsumerCore::last_error_at() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return last_error_at_;
}

void ConsumerCore::decode_batch(const std::vector<StreamEntry>& entries) {
  if (decoded_.size() < entries.size()) decoded_.resize(entries.size());
  auto decode = [this, &entries](std::size_t i) {
    Decoded& d = decoded_[i];
    d.ok = !entries[i].deleted && decode_entry(entries[i], d.message.event, d.failure);
  };
  // Below this many entries a hand-off costs more than it saves.
  constexpr std::size_t kParallelFrom = 64;
  if (entries.size() >= kParallelFrom && options_.parallel_decode &&
      std::thread::hardware_concurrency() > 1) {
    if (!dispatch_.decode_worker) dispatch_.decode_worker = std::make_unique<DecodeWorker>();
    dispatch_.decode_worker->run(entries.size(), decode);
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
      case DecodeFailureKind::missing_event_field:
        missing_event_field_.fetch_add(1, std::memory_order_relaxed);
        break;
      case DecodeFailureKind::malformed_json:
        malformed_json_.fetch_add(1, std::memory_order_relaxed);
        break;
      case DecodeFailureKind::invalid_event:
        invalid_event_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    failure.stream = options_.stream_key;
    failure.entry_id = entry.id;
    const EventHandlers& handlers = dispatch_.handlers;
    log_.log(handlers.reports_decode_failures() ? spdlog::level::debug : spdlog::level::warn,
             role_ + ": entry " + entry.id + " is not a streamll event (" +
                 std::string(to_string(failure.kind)) + ": " + failure.reason + ")");
    handlers.report(failure);
    return EntryOutcome::undecodable;
  }
  const EventId id = message.event.id;
  DedupeWindow& dedupe = dispatch_.dedupe;
  if (dedupe.enabled() && !id.is_nil() && dedupe.contains(id)) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
    return EntryOutcome::duplicate;
  }
  message.stream = options_.stream_key;
  message.shard = shard_;
  message.entry_id = entry.id;
  message.redelivered = redelivered;
  std::string what;
  try {
    if (dispatch_.handlers.dispatch(message) == 0)
      unhandled_types_.fetch_add(1, std::memory_order_relaxed);
    handled_.fetch_add(1, std::memory_order_relaxed);
    if (dedupe.enabled() && !id.is_nil()) dedupe.remember(id);
    return EntryOutcome::handled;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  handler_failures_.fetch_add(1, std::memory_order_relaxed);
  record_error(
      "handler failed on entry " + entry.id + " (" + std::string(message.event.type_name()) +
          "): " + what,
      dispatch_.handlers.reports_handler_errors() ? spdlog::level::debug : spdlog::level::warn);
  dispatch_.handlers.report_handler_error(message, what);
  return EntryOutcome::handler_failed;
}

void ConsumerCore::count_read(std::size_t entries) noexcept {
  redirects_in_row_ = 0;
  reads_.fetch_add(1, std::memory_order_relaxed);
  entries_read_.fetch_add(entries, std::memory_order_relaxed);
}

void ConsumerCore::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(transport_mutex_);
    stopping_.store(true, std::memory_order_release);
    if (interruptible_ && transport_) transport_->interrupt();
  }
  connector_.interrupt();
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
  s.redirects = redirects_.load(std::memory_order_relaxed);
  s.connected = connected_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(error_mutex_);
  s.last_error = last_error_;
  return s;
}

}  // namespace streamll::redis
