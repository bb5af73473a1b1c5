// The redaction hook's seam: events are redacted on the flusher thread as they leave the
// buffer, before any engine serializes them (docs/design.md, "Redaction").

#include <exception>
#include <memory>
#include <string>
#include <typeinfo>

#include "pipeline/pipeline.hpp"
#include "streamll/span.hpp"

namespace streamll::detail {

std::size_t Pipeline::take_batch(std::size_t max, std::vector<BufferedItem>& out,
                                 std::uint64_t* first_sequence) {
  const std::size_t before = out.size();
  std::uint64_t first = 0;
  const std::size_t taken = ring_.take_batch(max, out, &first);
  if (first_sequence) *first_sequence = first;
  if (options_.redact) {
    for (std::size_t i = 0; i < taken; ++i) {
      if (first + i >= redacted_before_) redact(out[before + i]);
    }
  }
  return taken;
}

void Pipeline::redact(BufferedItem& item) noexcept {
  Event* event = std::get_if<Event>(&item);
  if (event == nullptr || !options_.redact) return;
  // The exception's type, never its what(): a redactor's message may quote the very text it
  // was removing, and the log is not redacted.
  // Nothing here may throw (noexcept): the type's name is kept only if it could be made,
  // and the fallbacks are literals, not allocated strings.
  std::string type;
  const char* reason = "non-standard exception";
  try {
    options_.redact(*event);
    return;
  } catch (const std::exception& e) {
    reason = "an exception";
    try {
      type = type_name(typeid(e));
    } catch (...) {
    }
  } catch (...) {
  }
  if (!type.empty()) reason = type.c_str();
  // Fail closed: whatever the redactor did not get to is not sent. The ids, type and
  // timestamp stay, so the event still counts and correlates.
  redaction_failures_.fetch_add(1, std::memory_order_relaxed);
  event->data = Fields{};
  try {
    event->data.append_new("redaction_failed", true);
    // Not data the redactor could have meant to hide: a consumer needs it to tell a failure
    // of a sampled-out execution from one of a kept one (docs/sampling.md).
    if (event->context && !event->context->sampled) event->data.append_new("sampled_out", true);
    // tracestate too: no sink of ours writes it, but an exporter of yours may.
    if (event->context && (!event->context->tags.empty() || !event->context->tracestate.empty())) {
      auto untagged = std::make_shared<EventContext>(*event->context);
      untagged->tags.clear();
      untagged->tracestate.clear();
      event->context = std::move(untagged);
    }
  } catch (...) {
    event->context = nullptr;  // out of memory: no tags rather than unredacted ones
  }
  log_.log_lazy(spdlog::level::warn, [&] {
    return name_ + ": the redactor threw (" + std::string(reason) + "); event sent without data";
  });
}

}  // namespace streamll::detail
