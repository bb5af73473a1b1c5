#pragma once
// MemorySink: keeps every event in memory, for unit tests (ours and our users'). It can also
// misbehave on purpose (throw, stall, fail to flush) so an application can test what happens
// to it when a sink goes wrong.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "streamll/sink.hpp"
#include "streamll/span_view.hpp"

namespace streamll {

class MemorySink : public Sink {
 public:
  /// Stores a copy of the event, after any injected delay; throws if a failure is injected.
  /// Events arriving after shutdown() are not stored (counted in rejected_after_shutdown()).
  void handle(const Event& event) override { store(Event(event)); }
  void handle_owned(Event&& event) override { store(std::move(event)); }

  bool flush(std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++flushes_;
    return !fail_flush_;
  }
  bool shutdown(std::chrono::milliseconds timeout) override {
    const bool flushed = flush(timeout);
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    ++shutdowns_;
    return flushed;
  }
  bool is_running() const noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return running_;
  }
  std::string name() const override { return "memory"; }

  // --- Reading what arrived (all thread-safe; each returns a snapshot) ---

  std::vector<Event> events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
  }
  std::vector<Event> events_where(const std::function<bool(const Event&)>& keep) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Event> out;
    for (const auto& e : events_) {
      if (keep(e)) out.push_back(e);
    }
    return out;
  }
  std::vector<Event> events_of_type(EventType type) const {
    return events_where([type](const Event& e) { return e.type == type; });
  }
  /// By wire name: "token", "llm_call", or a custom name.
  std::vector<Event> events_of_type(std::string_view type_name) const {
    return events_where([type_name](const Event& e) { return e.type_name() == type_name; });
  }
  std::vector<Event> events_for_operation(std::string_view operation) const {
    return events_where([operation](const Event& e) { return e.operation() == operation; });
  }
  /// The wire names of all events in arrival order, e.g. {"start", "token", "end"}: the
  /// quickest thing to assert on.
  std::vector<std::string> type_names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    out.reserve(events_.size());
    for (const auto& e : events_) out.emplace_back(e.type_name());
    return out;
  }

  /// The spans the stored events tell of, in the order each span's first event arrived
  /// (see SpanView and assemble_spans): name, parent, status, duration, attributes, and the
  /// span's own token, llm_call and custom events. Open spans are included (status open).
  std::vector<SpanView> spans() const { return assemble_spans(events()); }
  /// The spans named `operation`, in order.
  std::vector<SpanView> spans_for_operation(std::string_view operation) const {
    std::vector<SpanView> out;
    for (auto& span : spans()) {
      if (span.name == operation) out.push_back(std::move(span));
    }
    return out;
  }

  /// Blocks until at least `count` events are stored or `timeout` passes; true when they are.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.clear();
  }

  // --- Misbehaving on purpose ---

  /// The next `n` calls to handle() throw std::runtime_error(message) instead of storing.
  void fail_next(std::size_t n, std::string message = "MemorySink: injected failure") {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_left_ = n;
    failure_message_ = std::move(message);
  }
  /// Every handle() sleeps this long first, like a slow sink (zero: no delay).
  void set_delay(std::chrono::microseconds delay) {
    std::lock_guard<std::mutex> lock(mutex_);
    delay_ = delay;
  }
  /// flush() and shutdown() report failure while set.
  void set_flush_fails(bool fails) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_flush_ = fails;
  }

  // --- Counters ---
  std::uint64_t failures_thrown() const { return locked(failures_thrown_); }
  std::uint64_t flush_count() const { return locked(flushes_); }
  std::uint64_t shutdown_count() const { return locked(shutdowns_); }
  std::uint64_t rejected_after_shutdown() const { return locked(rejected_); }

 private:
  void store(Event&& event) {
    std::chrono::microseconds delay;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      delay = delay_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (failures_left_ > 0) {
        --failures_left_;
        ++failures_thrown_;
        throw std::runtime_error(failure_message_);
      }
      if (!running_) {
        ++rejected_;
        return;
      }
      events_.push_back(std::move(event));
    }
    arrived_.notify_all();
  }
  std::uint64_t locked(const std::uint64_t& counter) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counter;
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<Event> events_;
  bool running_ = true;
  std::size_t failures_left_ = 0;
  std::string failure_message_;
  std::chrono::microseconds delay_{0};
  bool fail_flush_ = false;
  std::uint64_t failures_thrown_ = 0;
  std::uint64_t flushes_ = 0;
  std::uint64_t shutdowns_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace streamll
