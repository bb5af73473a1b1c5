// ExportResult's factories, ExportBatch's view onto a PipelineBatch, and PipelineBatch itself.

#include <algorithm>
#include <string>
#include <utility>

#include "logging.hpp"
#include "pipeline/pipeline_batch.hpp"

namespace streamll {

ExportResult ExportResult::failure(std::string reason) {
  ExportResult result;
  result.settled = 0;
  result.rest = Rest::retry_after_failure;
  result.reason = std::move(reason);
  return result;
}

ExportResult ExportResult::retry_rest(std::size_t settled,
                                      std::chrono::steady_clock::time_point not_before,
                                      std::string reason) {
  ExportResult result;
  result.settled = settled;
  result.rest = Rest::retry_later;
  result.not_before = not_before;
  result.reason = std::move(reason);
  return result;
}

std::size_t ExportBatch::size() const noexcept { return impl_->events.size(); }
// A public exporter's pipeline never compacts, so every item it is shown is an Event.
const Event& ExportBatch::operator[](std::size_t i) const noexcept {
  return *std::get_if<Event>(&impl_->events[i]);
}
void ExportBatch::fail(std::size_t i, std::string_view reason) noexcept { impl_->fail(i, reason); }
bool ExportBatch::failed(std::size_t i) const noexcept {
  return i < impl_->failed.size() && impl_->failed[i] != 0;
}
unsigned ExportBatch::attempt() const noexcept { return impl_->attempt; }
std::uint64_t ExportBatch::first_sequence() const noexcept { return impl_->first_sequence; }
std::chrono::steady_clock::time_point ExportBatch::deadline() const noexcept {
  return impl_->deadline;
}
bool ExportBatch::abandoned() const noexcept { return impl_->abandoned(); }

namespace detail {

void PipelineBatch::fail(std::size_t i, std::string_view reason) noexcept {
  if (i >= failed.size() || failed[i] != 0) return;
  failed[i] = 1;
  log_.log_lazy(spdlog::level::err, [&] {
    return sink_name_ + ": event " + std::to_string(first_sequence + i) +
           " lost: " + std::string(reason);
  });
}

std::size_t PipelineBatch::drop_prefix(std::size_t n) noexcept {
  n = std::min(n, events.size());
  const auto end = failed.begin() + static_cast<std::ptrdiff_t>(n);
  const auto failed_in_prefix = static_cast<std::size_t>(std::count(failed.begin(), end, 1));
  events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n));
  failed.erase(failed.begin(), end);
  first_sequence += n;
  return failed_in_prefix;
}

std::size_t PipelineBatch::failed_count() const noexcept {
  return static_cast<std::size_t>(std::count(failed.begin(), failed.end(), 1));
}

void PipelineBatch::reset(std::uint64_t first) noexcept {
  first_sequence = first;
  attempt = 0;
  not_before = {};
  failed.assign(events.size(), 0);  // capacity reserved with events': no allocation
}

}  // namespace detail
}  // namespace streamll
