#pragma once
// The data fields that carry what a model read or wrote (prompts, questions, messages,
// answers, streamed token text), as opposed to counts, timings and ids.
// InstrumentorOptions::capture_content off removes them from every event before any sink sees
// it (docs/privacy.md).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "streamll/event.hpp"

namespace streamll {

/// Content when their value is text (a string or raw JSON), in events of every type: the
/// common names for a call's or a pipeline's input and output, and OpenTelemetry GenAI's
/// content attributes. A number, bool or null under one of these names is a count or a flag
/// and stays (a "documents" count is not on the list at all).
inline constexpr std::string_view content_field_names[] = {
    "prompt",
    "completion",
    "messages",
    "input",
    "output",
    "response",
    "question",
    "answer",
    "query",
    "content",
    "text",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
};

/// Whether `key` names content in an event of `type`: one of content_field_names, one of
/// `extra` (InstrumentorOptions::content_fields), or `token` in a `token` event (its text;
/// index, count, offsets_us and field stay).
inline bool is_content_field_name(EventType type, std::string_view key,
                                  const std::vector<std::string>& extra = {}) noexcept {
  if (type == EventType::token && key == "token") return true;
  for (std::string_view name : content_field_names) {
    if (key == name) return true;
  }
  for (const std::string& name : extra) {
    if (key == name) return true;
  }
  return false;
}

/// Whether `field` carries content in an event of `type`: its key names content
/// (is_content_field_name) and its value is a string or raw JSON.
inline bool is_content_field(EventType type, const Field& field,
                             const std::vector<std::string>& extra = {}) noexcept {
  return (field.value.is_string() || field.value.is_raw_json()) &&
         is_content_field_name(type, field.key, extra);
}

/// Whether `field` is the text of a `log` event (SpdlogSink): a log line may quote the prompt
/// or answer it is about.
inline bool is_log_message(const Event& event, const Field& field) noexcept {
  return event.type == EventType::custom && field.key == "message" &&
         (field.value.is_string() || field.value.is_raw_json()) && event.custom_type == "log";
}

/// Erases the content fields of `event.data` (is_content_field, with `extra` names, and a
/// `log` event's message); returns how many, allocating nothing. Tags and the error event's
/// error_message are not content fields (docs/privacy.md says why).
inline std::size_t remove_content_fields(Event& event,
                                         const std::vector<std::string>& extra = {}) noexcept {
  return event.data.erase_if([&](const Field& f) noexcept {
    return is_content_field(event.type, f, extra) || is_log_message(event, f);
  });
}

}  // namespace streamll
