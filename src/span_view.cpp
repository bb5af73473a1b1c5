#include "streamll/span_view.hpp"

#include <ostream>
#include <unordered_map>

#include "json_writer.hpp"

namespace streamll {
namespace {

void take_context(SpanView& span, const Event& event) {
  if (span.span_id.empty()) {
    span.name = event.operation();
    span.span_id = event.span_id();
    span.parent_span_id = event.parent_span_id();
    span.execution_id = event.execution_id();
    span.module_name = event.module_name();
  }
  span.tags = event.tags();
}

// The end or error event's data, minus what SpanView shows as its own members.
void take_closing_data(SpanView& span, const Event& event) {
  for (const auto& field : event.data) {
    if (field.key == "duration_ms") {
      span.duration_ms = field.value.as_double();
    } else if (field.key == "error_type") {
      span.error_type = field.value.as_string();
    } else if (field.key == "error_message") {
      span.error_message = field.value.as_string();
    } else {
      span.attributes.set(field.key, field.value);
    }
  }
  span.end_time = event.timestamp;
}

void add_event(SpanView& span, const Event& event) {
  take_context(span, event);
  switch (event.type) {
    case EventType::start:
      span.start_time = event.timestamp;
      for (const auto& field : event.data) span.attributes.set(field.key, field.value);
      return;
    case EventType::end:
      if (span.status == SpanStatus::open) span.status = SpanStatus::ok;
      take_closing_data(span, event);
      return;
    case EventType::error:
      span.status = SpanStatus::error;
      take_closing_data(span, event);
      return;
    case EventType::llm_call:
      span.events.push_back(event);
      if (!span.start_time) {  // an LlmCall guard: its llm_call event closes it
        if (span.status != SpanStatus::error) {
          span.status = event.data["success"].as_bool(true) ? SpanStatus::ok : SpanStatus::error;
        }
        if (const Value* ms = event.data.find("response_time_ms")) {
          span.duration_ms = ms->as_double();
        }
        if (span.error_type.empty()) span.error_type = event.data["error_type"].as_string();
        span.end_time = event.timestamp;
      }
      return;
    case EventType::token:
    case EventType::custom:
      span.events.push_back(event);
      return;
  }
}

void print_quoted(std::ostream& out, std::string_view text) {
  std::string quoted;
  detail::append_json_string(quoted, text);
  out << quoted;
}

}  // namespace

std::vector<std::string> SpanView::event_type_names() const {
  std::vector<std::string> names;
  names.reserve(events.size());
  for (const auto& e : events) names.emplace_back(e.type_name());
  return names;
}

std::vector<SpanView> assemble_spans(const std::vector<Event>& events) {
  std::vector<SpanView> spans;
  std::unordered_map<std::string, std::size_t> index;
  for (const auto& event : events) {
    if (event.span_id().empty()) continue;
    const auto [it, inserted] = index.emplace(event.span_id(), spans.size());
    if (inserted) spans.emplace_back();
    add_event(spans[it->second], event);
  }
  return spans;
}

const char* to_string(SpanStatus status) noexcept {
  switch (status) {
    case SpanStatus::open:
      return "open";
    case SpanStatus::ok:
      return "ok";
    case SpanStatus::error:
      return "error";
  }
  return "open";
}

std::ostream& operator<<(std::ostream& out, SpanStatus status) { return out << to_string(status); }

std::ostream& operator<<(std::ostream& out, const SpanView& span) {
  out << "SpanView{name: ";
  print_quoted(out, span.name);
  out << ", status: " << span.status;
  const auto field = [&out](const char* name, const std::string& value) {
    if (value.empty()) return;
    out << ", " << name << ": ";
    print_quoted(out, value);
  };
  field("span_id", span.span_id);
  field("parent_span_id", span.parent_span_id);
  if (span.duration_ms) out << ", duration_ms: " << Value(*span.duration_ms);
  field("error_type", span.error_type);
  field("error_message", span.error_message);
  if (!span.attributes.empty()) out << ", attributes: " << span.attributes;
  if (!span.events.empty()) {
    out << ", events: [";
    for (std::size_t i = 0; i < span.events.size(); ++i) {
      if (i > 0) out << ", ";
      print_quoted(out, span.events[i].type_name());
    }
    out << ']';
  }
  return out << '}';
}

}  // namespace streamll
