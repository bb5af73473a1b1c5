#include "background_writer.hpp"

#include <algorithm>
#include <condition_variable>
#include <new>
#include <string>

#include "exit_deadline.hpp"
#include "fork_generation.hpp"
#include "logging.hpp"
#include "pipeline/ring_buffer.hpp"
#include "streamll/errors.hpp"

namespace streamll::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Events taken per write: enough to amortize a stream flush or a write(2) over a burst, few
// enough that a flush() or shutdown() waiting behind a burst is served soon.
constexpr std::size_t kMaxBatch = 256;
// After writing, the writer polls the queue for a while instead of sleeping until notified, so
// an application emitting a steady stream never pays for waking it (a futex syscall). Idle
// longer than the linger time, it sleeps until the next event wakes it.
constexpr std::chrono::microseconds kPollInterval{250};
constexpr std::chrono::milliseconds kLingerTime{20};
// Only bounds a sleep: events, flush() and shutdown() wake the writer themselves.
constexpr std::chrono::seconds kIdleWait{1};
// How long shutdown() waits, after giving the writer up, for it to leave a write that was just
// slow before detaching it.
constexpr std::chrono::milliseconds kJoinGrace{100};

SteadyClock::time_point deadline_after(std::chrono::milliseconds timeout) {
  constexpr std::chrono::milliseconds longest = std::chrono::hours(24 * 365);
  return SteadyClock::now() + std::clamp(timeout, std::chrono::milliseconds::zero(), longest);
}

std::size_t checked_queue_size(std::size_t queue_size) {
  if (queue_size == 0) throw ConfigError("queue_size", "must be at least 1 (got 0)");
  return queue_size;
}

}  // namespace

struct BackgroundWriter::State {
  State(std::unique_ptr<SinkOutput> out, std::size_t queue_size, std::string sink_name,
        std::string logger)
      : output(std::move(out)),
        queue(checked_queue_size(queue_size), OverflowStrategy::drop_newest),
        name(std::move(sink_name)),
        log(std::move(logger)) {
    // Full capacity up front, so take_batch() never takes fewer than are waiting.
    batch.reserve(kMaxBatch);
  }

  // ---------------------------------------------------------------- writer thread

  void run() noexcept {
    auto last_activity = SteadyClock::now();
    while (!abandoned.load(std::memory_order_acquire)) {
      std::size_t count = 0;
      try {
        count = queue.take_batch(kMaxBatch, batch);
      } catch (...) {
        // Out of memory for the queue's bookkeeping: leave the events queued, try again soon.
        queue.wait_for_events(queue.no_event_wake, kLingerTime);
        continue;
      }
      if (count > 0) {
        const OutputResult written_now = output->write(batch, abandoned);
        account(written_now);
        if (abandoned.load(std::memory_order_acquire)) given_up += written_now.discarded;
        batch.clear();
        queue.acknowledge(count);
        taken += count;
        last_activity = SteadyClock::now();
      }
      report_drops();
      if (serve_flush() || count > 0) continue;
      if (stop_requested()) {
        close();
        return;
      }
      if (SteadyClock::now() - last_activity < kLingerTime) {
        queue.wait_for_events(queue.no_event_wake, kPollInterval);
      } else {
        queue.wait_for_events(1, kIdleWait);
      }
    }
    give_up();
  }

  void account(const OutputResult& r) noexcept {
    // Release: a reader that sees a count also sees the write it counts (a test reading the
    // file once written() says so).
    if (r.written > 0) written.fetch_add(r.written, std::memory_order_release);
    if (r.failed > 0) write_errors.fetch_add(r.failed, std::memory_order_release);
    if (r.discarded > 0) discarded.fetch_add(r.discarded, std::memory_order_release);
  }

  // Events lost so far, for flush() answers. Any thread: the writer is the only one to add to
  // two of them, the queue counts the third.
  std::uint64_t losses() const noexcept {
    return write_errors.load(std::memory_order_relaxed) +
           discarded.load(std::memory_order_relaxed) + queue.rejected();
  }

  // Runs the output's flush work once every event the pending flush() calls wait for has been
  // written. Calls that arrive meanwhile wait for the next round: answering the current ones
  // never waits for events enqueued after them, however fast events and calls keep coming.
  bool serve_flush() noexcept {
    if (serving == 0) {
      std::lock_guard<std::mutex> lock(mutex);
      if (flush_done == flush_requested) return false;
      serving = flush_requested;
      serving_target = flush_target;
    }
    if (taken < serving_target) return false;
    const OutputResult r = output->flush();
    account(r);
    {
      std::lock_guard<std::mutex> lock(mutex);
      flush_done = serving;
      if (!r.ok) ++failed_runs;
      losses_at_last_run = losses();
    }
    progress.notify_all();
    serving = 0;
    return true;
  }

  bool stop_requested() {
    std::lock_guard<std::mutex> lock(mutex);
    return stopping;
  }

  void close() noexcept {
    const OutputResult r = output->close();
    account(r);
    {
      std::lock_guard<std::mutex> lock(mutex);
      const std::uint64_t lost = losses();
      // Anything lost that no flush() has answered for, including what a flush round served
      // after its caller had given up waiting found.
      final_ok = r.ok && lost <= losses_reported && failed_runs <= failed_runs_reported;
      if (!r.ok) ++failed_runs;
      losses_at_last_run = lost;
      flush_done = flush_requested;
      clean = true;
      finished = true;
      gone.store(true, std::memory_order_release);
    }
    progress.notify_all();
  }

  // shutdown() stopped waiting for this thread: drop what the output holds and leave.
  void give_up() noexcept {
    const std::uint64_t held = output->discard();
    account(OutputResult{0, 0, held, true});
    const std::uint64_t left = queue.waiting() + held + given_up;
    if (left > 0) {
      try {  // building the message may run out of memory
        log.log(spdlog::level::warn, name + ": shutdown gave up waiting for the output; " +
                                         std::to_string(left) + " event(s) not written");
      } catch (...) {
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      flush_done = flush_requested;
      finished = true;
    }
    progress.notify_all();
  }

  // A full queue is noticed and logged here, not on the application thread that hit it.
  void report_drops() noexcept {
    const std::uint64_t rejected = queue.rejected();
    if (rejected == drops_reported) return;
    try {  // building the message may run out of memory
      log.log(spdlog::level::warn,
              name + ": queue full (queue_size=" + std::to_string(queue.capacity()) +
                  "): " + std::to_string(rejected - drops_reported) + " event(s) dropped (" +
                  std::to_string(rejected) + " in total)");
    } catch (...) {
    }
    drops_reported = rejected;
  }

  // ---------------------------------------------------------------- state

  const std::unique_ptr<SinkOutput> output;
  RingBuffer<Event> queue;
  const std::string name;
  RateLimitedLog log;

  std::atomic<bool> accepting{true};
  std::atomic<bool> abandoned{false};  // shutdown() gave up: start no new write
  std::atomic<bool> gone{false};       // the writer will take nothing more from the queue
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> discarded{0};
  std::atomic<std::uint64_t> dropped_after_shutdown{0};

  // Writer thread only.
  std::vector<Event> batch;
  std::uint64_t taken = 0;  // events taken so far: the sequence number of the next one
  std::uint64_t drops_reported = 0;
  std::uint64_t given_up = 0;  // events of a batch the writer stopped writing when given up on
  std::uint64_t serving = 0;   // the flush generation being answered, 0 for none
  std::uint64_t serving_target = 0;  // ... once this many events have been taken

  std::mutex mutex;  // guards what follows; never held across output calls
  std::condition_variable progress;
  std::uint64_t flush_requested = 0;  // flush() calls so far (a generation number)
  std::uint64_t flush_done = 0;       // the latest generation answered
  std::uint64_t flush_target = 0;     // events to take before answering the latest call
  std::uint64_t losses_at_last_run = 0;
  // What flush() calls have answered for (returned false about, or judged): only a returning
  // call moves these, so a round served after its caller gave up reports nothing by itself.
  std::uint64_t losses_reported = 0;
  std::uint64_t failed_runs_reported = 0;
  std::uint64_t failed_runs = 0;  // output flush/close calls that failed
  bool stopping = false;
  bool finished = false;  // the writer is done with the output
  bool clean = false;     // ... because it closed it, not because it was given up on
  bool final_ok = false;  // close succeeded and nothing was lost since the last flush
};

// What forked children's copies left behind (see ~BackgroundWriter).
struct BackgroundWriter::Leaked {
  std::thread thread;
  std::shared_ptr<State> state;
  Leaked* next;
};

std::atomic<BackgroundWriter::Leaked*> BackgroundWriter::leaked_in_child{nullptr};

BackgroundWriter::BackgroundWriter(std::unique_ptr<SinkOutput> output, std::size_t queue_size,
                                   std::string name, std::string logger)
    : created_in_generation_(current_fork_generation()) {
  try {
    state_ =
        std::make_shared<State>(std::move(output), queue_size, std::move(name), std::move(logger));
  } catch (const ConfigError& e) {
    if (e.option() == "queue_size") throw;
    throw ConfigError("queue_size",
                      "cannot allocate a queue of " + std::to_string(queue_size) + " events");
  }
  thread_ = std::thread([state = state_] { state->run(); });
}

BackgroundWriter::~BackgroundWriter() {
  if (forked()) {
    // The thread and the state's owner on it are the parent's: neither may be joined or
    // destroyed here (its mutex may be held forever). Both are leaked on purpose.
    // Kept reachable from a global, so that leak checkers see a deliberate leak.
    if (auto* leaked = new (std::nothrow) Leaked{std::move(thread_), std::move(state_), nullptr}) {
      leaked->next = leaked_in_child.load(std::memory_order_relaxed);
      while (!leaked_in_child.compare_exchange_weak(leaked->next, leaked)) {
      }
    }
    if (thread_.joinable()) thread_.detach();  // out of memory: at least never terminate
    return;
  }
  try {
    shutdown(std::chrono::milliseconds::zero());
  } catch (...) {
  }
  if (thread_.joinable()) thread_.detach();
}

bool BackgroundWriter::forked() const noexcept {
  return current_fork_generation() != created_in_generation_;
}

void BackgroundWriter::push(Event&& event) noexcept {
  if (forked()) {
    dropped_after_fork_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  State& s = *state_;
  if (!s.accepting.load(std::memory_order_relaxed)) {
    s.dropped_after_shutdown.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A refused event is counted by the queue and reported by the writer.
  s.queue.push(std::move(event));
}

bool BackgroundWriter::flush(std::chrono::milliseconds timeout) {
  if (forked()) return dropped_after_fork_.load(std::memory_order_relaxed) == 0;
  State& s = *state_;
  const auto deadline = deadline_after(timeout);
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.finished) return s.clean && s.final_ok;
  const std::uint64_t generation = ++s.flush_requested;
  // Every event whose push() returned before this call has a sequence number below this.
  s.flush_target = std::max(s.flush_target, s.queue.accepted());
  // Losses a previous call already answered for (false: it said so; true: there were none)
  // are not this call's to report, as in RedisSink::flush.
  const std::uint64_t base_losses = s.losses_reported;
  const std::uint64_t base_failed_runs = s.failed_runs_reported;
  lock.unlock();
  s.queue.wake_consumer();
  lock.lock();
  const bool answered = s.progress.wait_until(
      lock, deadline, [&] { return s.flush_done >= generation || s.finished; });
  if (!answered || (s.finished && !s.clean)) {
    // False answers for every loss known by now.
    s.losses_reported = std::max(s.losses_reported, s.losses());
    s.failed_runs_reported = std::max(s.failed_runs_reported, s.failed_runs);
    return false;
  }
  const std::uint64_t judged_losses = s.losses_at_last_run;
  const std::uint64_t judged_failed_runs = s.failed_runs;
  s.losses_reported = std::max(s.losses_reported, judged_losses);
  s.failed_runs_reported = std::max(s.failed_runs_reported, judged_failed_runs);
  return judged_losses <= base_losses && judged_failed_runs <= base_failed_runs;
}

bool BackgroundWriter::shutdown(std::chrono::milliseconds timeout) {
  if (forked()) return dropped_after_fork_.load(std::memory_order_relaxed) == 0;
  std::lock_guard<std::mutex> once(shutdown_mutex_);
  if (shut_down_) return shutdown_result_;
  shut_down_ = true;
  State& s = *state_;
  const auto deadline = deadline_after(timeout);
  s.accepting.store(false, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.stopping = true;
  }
  s.queue.wake_consumer();
  std::unique_lock<std::mutex> lock(s.mutex);
  if (!wait_until_done_or_exit(s.progress, lock, deadline, [&] { return s.finished; })) {
    s.abandoned.store(true, std::memory_order_release);
    s.gone.store(true, std::memory_order_release);
    lock.unlock();
    s.queue.wake_consumer();
    lock.lock();
    s.progress.wait_for(lock, kJoinGrace, [&] { return s.finished; });
  }
  const bool finished = s.finished;
  shutdown_result_ = finished && s.clean && s.final_ok;
  lock.unlock();
  // No logging here: the application's stderr may be the very pipe that stalled.
  if (finished) {
    thread_.join();
  } else {
    // Stuck in a write that may never return: the thread owns the state through its shared
    // pointer and ends on its own if the write does.
    thread_.detach();
  }
  return shutdown_result_;
}

bool BackgroundWriter::is_running() const noexcept {
  return !forked() && state_->accepting.load(std::memory_order_relaxed);
}

std::uint64_t BackgroundWriter::written() const noexcept {
  return state_->written.load(std::memory_order_acquire);
}

std::uint64_t BackgroundWriter::write_errors() const noexcept {
  return state_->write_errors.load(std::memory_order_acquire);
}

std::uint64_t BackgroundWriter::dropped() const noexcept {
  const State& s = *state_;
  const std::uint64_t after_fork = dropped_after_fork_.load(std::memory_order_relaxed);
  if (forked()) {
    // The queue's counters may be mid-update from the parent's writer at the fork: the child
    // reports what it was handed, plus what the parent had dropped.
    return s.queue.rejected() + s.dropped_after_shutdown.load(std::memory_order_relaxed) +
           s.discarded.load(std::memory_order_acquire) + after_fork;
  }
  const std::uint64_t left = s.gone.load(std::memory_order_acquire) ? s.queue.waiting() : 0;
  return s.queue.rejected() + s.dropped_after_shutdown.load(std::memory_order_relaxed) +
         s.discarded.load(std::memory_order_acquire) + left + after_fork;
}

}  // namespace streamll::detail
