#pragma once
// The data fields that carry what a model read or wrote (prompts, messages, answers, streamed
// token text), as opposed to counts, timings and ids. InstrumentorOptions::capture_content off
// removes them from every event before any sink sees it (docs/privacy.md).

#include <cstddef>
#include <string_view>

#include "streamll/event.hpp"

namespace streamll {

/// Removed from events of every type when content capture is off: the common names for a
/// call's input and output, and OpenTelemetry GenAI's content attributes.
inline constexpr std::string_view content_field_names[] = {
    "prompt",
    "completion",
    "messages",
    "input",
    "output",
    "response",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
};

/// Whether `key` carries content in an event of `type`: one of content_field_names, or `token`
/// in a `token` event (its text; index, count, offsets_us and field stay).
inline bool is_content_field(EventType type, std::string_view key) noexcept {
  if (type == EventType::token && key == "token") return true;
  for (std::string_view name : content_field_names) {
    if (key == name) return true;
  }
  return false;
}

/// Erases the content fields of `event.data` (is_content_field); returns how many, allocating
/// nothing. Tags and
/// the error event's error_message are not content fields (docs/privacy.md says why).
inline std::size_t remove_content_fields(Event& event) noexcept {
  std::size_t found = 0;
  for (const auto& f : event.data) found += is_content_field(event.type, f.key);
  if (found == 0) return 0;
  for (std::size_t left = found; left > 0;) {
    for (const auto& f : event.data) {
      if (is_content_field(event.type, f.key)) {
        // erase() reads the key before it moves anything: no copy needed.
        event.data.erase(std::string_view(f.key));
        --left;
        break;
      }
    }
  }
  return found;
}

}  // namespace streamll
