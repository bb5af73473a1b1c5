#pragma once
// Write a batching exporter: implement export_batch(); a BatchingSink
// (streamll/sinks/batching_sink.hpp) gives it a bounded buffer, batching, a flusher thread,
// retries with a circuit breaker and backoff, flush()/shutdown() with deadlines and exact
// counters. docs/exporters.md walks through one.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "streamll/event.hpp"

namespace streamll {
namespace detail {
class PipelineBatch;  // the pipeline's side of a batch
}

/// What an exporter did with a batch. The first `settled` events were answered for good (each
/// delivered, unless the exporter called ExportBatch::fail on it); the others stay in the
/// buffer, in order, and are offered again as a batch of their own.
struct ExportResult {
  static constexpr std::size_t all = static_cast<std::size_t>(-1);
  enum class Rest : std::uint8_t {
    none,                 ///< nothing left (settled covers the batch)
    retry_after_failure,  ///< the destination failed (I/O, timeout, 5xx): feeds the circuit
                          ///< breaker; the next attempt waits for the breaker and backoff
    retry_later,          ///< answered, not finished (a 429, a redirection): the breaker
                          ///< records a success; the rest goes again at `not_before`
  };
  std::size_t settled = all;
  Rest rest = Rest::none;
  /// retry_later: when to offer the rest again; {} means at once (after 1 ms when the call
  /// settled nothing, as for a `none` that settled less than the batch).
  std::chrono::steady_clock::time_point not_before{};
  /// retry_after_failure only: false for a failure the exporter knows is not the
  /// destination's. The breaker then records a success (it never opens for these), but the
  /// retry still backs off: retry.initial_delay, doubled after each such failure up to
  /// retry.max_delay, from initial_delay again once a call succeeds or settles events or
  /// reset_circuit_breaker() is called.
  bool counts_for_breaker = true;
  /// retry_after_failure: for stats().last_error and the log.
  std::string reason;

  /// Every event settled (delivered, or failed where fail() said so).
  static ExportResult done() noexcept { return {}; }
  /// Nothing settled; the destination failed. The whole batch goes again later.
  static ExportResult failure(std::string reason);
  /// The first `settled` events settled; the rest again at `not_before` (not a failure).
  static ExportResult retry_rest(std::size_t settled,
                                 std::chrono::steady_clock::time_point not_before = {},
                                 std::string reason = {});
};

/// The events of one export attempt, oldest first. Only valid during the call it is passed to.
class ExportBatch {
 public:
  /// Random access over the batch's events.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = Event;
    using difference_type = std::ptrdiff_t;
    using pointer = const Event*;
    using reference = const Event&;

    const_iterator() noexcept = default;
    reference operator*() const noexcept { return (*batch_)[index_]; }
    pointer operator->() const noexcept { return &(*batch_)[index_]; }
    reference operator[](difference_type n) const noexcept {
      return (*batch_)[static_cast<std::size_t>(static_cast<difference_type>(index_) + n)];
    }
    const_iterator& operator++() noexcept { return *this += 1; }
    const_iterator operator++(int) noexcept {
      const_iterator before = *this;
      *this += 1;
      return before;
    }
    const_iterator& operator--() noexcept { return *this -= 1; }
    const_iterator operator--(int) noexcept {
      const_iterator before = *this;
      *this -= 1;
      return before;
    }
    const_iterator& operator+=(difference_type n) noexcept {
      index_ = static_cast<std::size_t>(static_cast<difference_type>(index_) + n);
      return *this;
    }
    const_iterator& operator-=(difference_type n) noexcept { return *this += -n; }
    friend const_iterator operator+(const_iterator it, difference_type n) noexcept {
      return it += n;
    }
    friend const_iterator operator+(difference_type n, const_iterator it) noexcept {
      return it += n;
    }
    friend const_iterator operator-(const_iterator it, difference_type n) noexcept {
      return it -= n;
    }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) noexcept {
      return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
      return a.index_ == b.index_;
    }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) noexcept {
      return a.index_ != b.index_;
    }
    friend bool operator<(const const_iterator& a, const const_iterator& b) noexcept {
      return a.index_ < b.index_;
    }
    friend bool operator>(const const_iterator& a, const const_iterator& b) noexcept {
      return b < a;
    }
    friend bool operator<=(const const_iterator& a, const const_iterator& b) noexcept {
      return !(b < a);
    }
    friend bool operator>=(const const_iterator& a, const const_iterator& b) noexcept {
      return !(a < b);
    }

   private:
    friend class ExportBatch;
    const_iterator(const ExportBatch* batch, std::size_t index) noexcept
        : batch_(batch), index_(index) {}
    const ExportBatch* batch_ = nullptr;
    std::size_t index_ = 0;
  };

  std::size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  const Event& operator[](std::size_t i) const noexcept;
  const_iterator begin() const noexcept { return {this, 0}; }
  const_iterator end() const noexcept { return {this, size()}; }
  /// Event i is lost for good (refused by the destination, cannot be encoded): logged now
  /// (rate-limited), counted in stats().failed once the result settles it, reported by the
  /// flush() that covers it. Idempotent. The event stays readable. If the result leaves it
  /// unsettled (failure(), or retry_rest() before it), it is offered again with failed(i)
  /// true: skip it then.
  void fail(std::size_t i, std::string_view reason) noexcept;
  bool failed(std::size_t i) const noexcept;
  /// 0 for the first attempt of these events, then 1, 2, ... Delivery is at-least-once: an
  /// idempotency key may use first_sequence(), which is stable across attempts of the same
  /// first event, combined with an id of the sink's own (sequences start at 0 in every sink
  /// and every run of the process).
  unsigned attempt() const noexcept;
  std::uint64_t first_sequence() const noexcept;
  /// When this call must return: export_timeout from its start, or shutdown()'s deadline or
  /// the process's exit deadline if sooner.
  std::chrono::steady_clock::time_point deadline() const noexcept;
  /// shutdown() gave up waiting: start no new I/O; return what you have (the events not
  /// settled are then counted as dropped on shutdown).
  bool abandoned() const noexcept;

  /// A view for the one call it is passed to: not to be kept, so not copied.
  ExportBatch(const ExportBatch&) = delete;
  ExportBatch& operator=(const ExportBatch&) = delete;

 private:
  friend class detail::PipelineBatch;
  explicit ExportBatch(detail::PipelineBatch& impl) noexcept : impl_(&impl) {}
  detail::PipelineBatch* impl_;
};

/// A destination for batches of events. Threading: every call below except interrupt() comes
/// from the pipeline's flusher thread, one at a time, never concurrently, so an exporter needs
/// no lock for its own state. Exceptions thrown by export_batch() count as failure(what()).
class Exporter {
 public:
  virtual ~Exporter() = default;
  /// Sends the batch; returns by batch.deadline().
  virtual ExportResult export_batch(ExportBatch& batch) = 0;
  /// Called once every event enqueued before a flush() call was settled: make them durable as
  /// the exporter promises (fflush, fsync, a collector's commit). False: flush() answers false.
  /// The hooks below are noexcept: one that throws ends the process.
  virtual bool flush(std::chrono::steady_clock::time_point /*deadline*/) noexcept { return true; }
  /// Last call of a clean shutdown. False: shutdown() answers false.
  virtual bool close(std::chrono::steady_clock::time_point /*deadline*/) noexcept { return true; }
  /// ANY thread (shutdown() gave up waiting): make a blocked export_batch() return soon.
  virtual void interrupt() noexcept {}
  /// After shutdown() gave up, on the flusher: events the exporter holds and will never send
  /// (a write buffer); counted in dropped_on_shutdown.
  virtual std::uint64_t discard() noexcept { return 0; }
  /// For log lines and Sink::name(); called once, by the BatchingSink's constructor.
  virtual std::string name() const { return "exporter"; }
};

}  // namespace streamll
