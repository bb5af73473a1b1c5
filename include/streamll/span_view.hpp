#pragma once
// SpanView: one span put back together from its events (start, end or error, and what was
// emitted in it), as OpenTelemetry's in-memory exporter hands a test finished spans. It is how
// MemorySink::spans() lets a test assert on spans instead of on event sequences.

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "streamll/event.hpp"
#include "streamll/fields.hpp"

namespace streamll {

/// open: no end or error event yet; ok: ended; error: an error event (or a failed llm_call).
enum class SpanStatus { open, ok, error };

struct SpanView {
  std::string name;  // the span's operation
  std::string span_id;
  std::string parent_span_id;  // empty for a root span
  std::string execution_id;
  std::string module_name;
  Tags tags;  // as on the span's last event (Span::tag() adds tags as the span goes)
  /// The start event's data, then the end or error event's (later keys win), without the
  /// fields shown separately below: duration_ms, error_type and error_message.
  Fields attributes;
  SpanStatus status = SpanStatus::open;
  std::optional<double> duration_ms;  // from the end or error event
  std::string error_type;             // from the error event
  std::string error_message;
  std::optional<Timestamp> start_time;  // the start event's; empty for an LlmCall guard
  std::optional<Timestamp> end_time;    // the end or error event's (an LlmCall: its llm_call's)
  /// The span's own other events in arrival order: token, llm_call and custom events.
  std::vector<Event> events;

  /// The wire names of `events`, e.g. {"token", "token", "llm_call"}.
  std::vector<std::string> event_type_names() const;
  bool is_root() const noexcept { return parent_span_id.empty(); }
};

/// Groups `events` by span id into spans, in the order each span's first event arrived.
/// An LlmCall guard (its own span id, no start or end) becomes a span too: its status is ok
/// when its llm_call event says success, error when that event says otherwise or an error
/// event came, and its duration_ms is the call's response_time_ms. Events outside any span
/// (no span id) belong to no span.
std::vector<SpanView> assemble_spans(const std::vector<Event>& events);

/// "open", "ok", "error".
const char* to_string(SpanStatus status) noexcept;
std::ostream& operator<<(std::ostream& out, SpanStatus status);
/// One line: SpanView{name: "answer", status: ok, span_id: "...", parent_span_id: "...",
/// duration_ms: 1.5, error_type: "...", error_message: "...", attributes: {...},
/// events: ["token", "llm_call"]}, leaving out what is empty.
std::ostream& operator<<(std::ostream& out, const SpanView& span);

}  // namespace streamll
