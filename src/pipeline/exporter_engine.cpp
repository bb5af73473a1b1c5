// ExporterEngine: one batch at a time through a public Exporter.

#include "pipeline/exporter_engine.hpp"

#include <algorithm>
#include <exception>
#include <string>

#include "pipeline/pipeline.hpp"

namespace streamll::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

// While a retry waits on a test clock, the flusher looks at it this often.
constexpr std::chrono::milliseconds kTestClockSlice{1};
// Shortest sleep while blocked, so a breaker probing (no wait left) never makes it spin.
constexpr std::chrono::milliseconds kShortestBlockedWait{1};
// Shortest pause before the unsettled rest of a batch is offered again.
constexpr std::chrono::milliseconds kShortestRetryWait{1};
// After the buffer could not allocate its bookkeeping for a batch.
constexpr std::chrono::milliseconds kOutOfMemoryPause{20};

// The breaker's retry policy: spared failures back off exactly like counted ones.
BackoffPolicy spared_failure_policy(Pipeline& pipeline) {
  const RetryOptions& retry = pipeline.options().retry;
  return {retry.initial_delay, retry.max_delay, pipeline.breaker().options().jitter};
}

}  // namespace

ExporterEngine::ExporterEngine(Pipeline& pipeline, std::unique_ptr<Exporter> exporter)
    : pipeline_(pipeline),
      exporter_(std::move(exporter)),
      batch_(pipeline.log(), pipeline.name(), pipeline.abandoned_flag()),
      spared_failure_backoff_(
          spared_failure_policy(pipeline),
          pipeline.tuning().clock ? *pipeline.tuning().clock : ClockSource::real(),
          pipeline.tuning().random) {
  // Full capacity up front, so taking a batch never allocates.
  batch_.events.reserve(pipeline.options().max_batch_size);
  batch_.failed.reserve(pipeline.options().max_batch_size);
}

bool ExporterEngine::step() noexcept {
  if (batch_.events.empty() && !take_batch()) return false;
  // Looked at again right before the call: shutdown() may have given up (and interrupted the
  // exporter) since the flusher's test, and a given-up flusher starts no new call.
  if (!wait_for_turn() || pipeline_.abandoned()) return false;
  export_once();
  return true;
}

bool ExporterEngine::take_batch() noexcept {
  std::uint64_t first = 0;
  std::size_t count = 0;
  try {
    count = pipeline_.take_batch(pipeline_.options().max_batch_size, batch_.events, &first);
  } catch (...) {
    // Out of memory for the ring's bookkeeping: leave the events waiting, try again soon.
    pipeline_.pause(kOutOfMemoryPause);
    return false;
  }
  if (count == 0) return false;
  batch_.reset(first);
  return true;
}

// Whether the batch may go now; if not, sleeps a while (flush(), shutdown() and
// reset_circuit_breaker() cut the sleep short).
bool ExporterEngine::wait_for_turn() noexcept {
  // reset_circuit_breaker() lets the next batch go at once: the spared failures' wait too.
  if (const std::uint64_t resets = pipeline_.breaker_resets(); resets != breaker_resets_seen_) {
    breaker_resets_seen_ = resets;
    spared_failure_backoff_.reset();
  }
  const auto now = SteadyClock::now();
  CircuitBreaker& breaker = pipeline_.breaker();
  std::chrono::nanoseconds wait{0};
  if (batch_.not_before > now) {
    wait = batch_.not_before - now;
  } else if (!spared_failure_backoff_.ready()) {
    // Before the breaker is asked: allow_request() may hand out its probe.
    wait = backoff_wait(spared_failure_backoff_.remaining());
  } else if (!breaker.allow_request()) {
    wait = backoff_wait(breaker.next_attempt_in());
  } else {
    return true;
  }
  pipeline_.pause(wait);
  return false;
}

// A backoff's wait, measured on the injectable clock: a test clock is looked at again soon.
std::chrono::nanoseconds ExporterEngine::backoff_wait(
    std::chrono::nanoseconds left) const noexcept {
  const auto wait = std::max<std::chrono::nanoseconds>(left, kShortestBlockedWait);
  return pipeline_.tuning().clock != nullptr
             ? std::min<std::chrono::nanoseconds>(wait, kTestClockSlice)
             : wait;
}

void ExporterEngine::export_once() noexcept {
  const auto started = SteadyClock::now();
  batch_.deadline = pipeline_.deadline_after(pipeline_.options().export_timeout);
  ExportResult result;
  try {
    ExportBatch view = batch_.view();
    result = exporter_->export_batch(view);
  } catch (const std::exception& e) {
    result.settled = 0;
    result.rest = ExportResult::Rest::retry_after_failure;
    try {
      result.reason = e.what();
    } catch (...) {
    }
  } catch (...) {
    result.settled = 0;
    result.rest = ExportResult::Rest::retry_after_failure;
  }
  apply(std::move(result), started);
}

void ExporterEngine::apply(ExportResult result, SteadyClock::time_point started) noexcept {
  const auto now = SteadyClock::now();
  const bool failure = result.rest == ExportResult::Rest::retry_after_failure;
  pipeline_.count_export(failure,
                         std::chrono::duration_cast<std::chrono::microseconds>(now - started));
  const std::size_t settled = std::min(result.settled, batch_.events.size());
  if (settled > 0) {
    const std::size_t failed_in_prefix = batch_.drop_prefix(settled);
    pipeline_.count_settled(settled - failed_in_prefix, failed_in_prefix);
    pipeline_.acknowledge(settled);
  }
  const bool rest_left = !batch_.events.empty();
  // Progress ends a run of spared failures: the next one waits initial_delay again.
  if (!failure || settled > 0) spared_failure_backoff_.reset();
  CircuitBreaker& breaker = pipeline_.breaker();
  if (failure) {
    pipeline_.record_error(result.reason.empty() ? std::string("export failed") : result.reason);
    if (result.counts_for_breaker) {
      breaker.record_failure();
    } else {
      // The destination answered, so the breaker records a success; the retry still backs off,
      // growing like the breaker's own retries, since the exporter's trouble may last.
      breaker.record_success();
      spared_failure_backoff_.record_failure();
      // With retry.initial_delay 0 the backoff waits nothing, and the breaker never opens for
      // these: the shortest retry wait keeps the flusher from spinning.
      batch_.not_before = now + kShortestRetryWait;
    }
    if (rest_left) pipeline_.count_retried_batches(1);
  } else {
    breaker.record_success();
    // retry_later paces the rest. A rest offered again at once (retry_later without a time, or
    // `none` that settled less than the batch) waits kShortestRetryWait when the call settled
    // nothing, so an exporter that keeps answering that cannot make the flusher spin; one
    // that makes progress goes on at once.
    const auto at_once = settled == 0 ? now + kShortestRetryWait : now;
    batch_.not_before = result.rest == ExportResult::Rest::retry_later
                            ? std::max(result.not_before, at_once)
                            : at_once;
  }
  if (rest_left) ++batch_.attempt;
  if (pipeline_.abandoned()) drop_batch_given_up();
}

void ExporterEngine::drop_batch_given_up() noexcept {
  const std::size_t left = batch_.events.size();
  if (left == 0) return;
  // The exporter failed some already: those stay failed, the others were never exported.
  const std::size_t failed = batch_.failed_count();
  batch_.events.clear();
  batch_.failed.clear();
  pipeline_.count_settled(0, failed);
  pipeline_.count_given_up(left - failed);
  pipeline_.acknowledge(left);
}

bool ExporterEngine::flush(SteadyClock::time_point deadline) noexcept {
  return exporter_->flush(deadline);
}

bool ExporterEngine::close(SteadyClock::time_point deadline) noexcept {
  return exporter_->close(deadline);
}

void ExporterEngine::give_up() noexcept {
  drop_batch_given_up();
  // Settled as delivered when the exporter took them; they never will be.
  const std::uint64_t held = exporter_->discard();
  if (held > 0) pipeline_.take_back_delivered(held);
}

}  // namespace streamll::detail
