#pragma once
// The event model. An Event is captured on the application thread with the least work that
// keeps it faithful: the wall clock, 128 random bits for its id, a shared pointer to the
// span's context and the payload. Formatting the id and timestamp and writing JSON happen
// later, on whichever thread serializes (a sink's own thread).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "streamll/detail/random.hpp"
#include "streamll/errors.hpp"
#include "streamll/fields.hpp"

namespace streamll {

using Clock = std::chrono::system_clock;
using Timestamp = Clock::time_point;

enum class EventType : std::uint8_t { start, end, token, llm_call, error, custom };

/// "start", "end", "token", "llm_call", "error"; "custom" for EventType::custom.
constexpr std::string_view to_string(EventType type) noexcept {
  switch (type) {
    case EventType::start:
      return "start";
    case EventType::end:
      return "end";
    case EventType::token:
      return "token";
    case EventType::llm_call:
      return "llm_call";
    case EventType::error:
      return "error";
    case EventType::custom:
      return "custom";
  }
  return "custom";
}

/// The built-in type named `name`, or EventType::custom for any other name.
constexpr EventType event_type_from_name(std::string_view name) noexcept {
  for (auto t : {EventType::start, EventType::end, EventType::token, EventType::llm_call,
                 EventType::error}) {
    if (to_string(t) == name) return t;
  }
  return EventType::custom;
}

/// Custom type names: 1 to 64 printable ASCII characters (0x21..0x7e; no spaces, so that they
/// stay usable as stream fields and CLI filters).
constexpr std::size_t max_event_type_length = 64;
constexpr bool is_valid_event_type_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_event_type_length) return false;
  for (char c : name) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
/// Throws InvalidEventType naming the problem.
void validate_event_type_name(std::string_view name);
/// The name repaired so that it is valid: every byte outside 0x21..0x7e becomes '_', a name
/// longer than 64 characters is cut to its first 64, and an empty name becomes "custom".
/// A valid name comes back unchanged.
std::string sanitize_event_type_name(std::string_view name);

/// A UUID version 4. Its bits are drawn when the event is captured (two steps of a per-thread
/// PRNG, a few nanoseconds) so that every sink and every retry carries the same id; the
/// 36-character text form is produced only when serialized.
struct EventId {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  static EventId generate() noexcept {
    EventId id{detail::random_u64(), detail::random_u64()};
    id.high = (id.high & ~0xF000ULL) | 0x4000ULL;                       // version 4
    id.low = (id.low & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
    return id;
  }
  bool is_nil() const noexcept { return high == 0 && low == 0; }
  /// Canonical lowercase form, 8-4-4-4-12 hex digits.
  std::string to_string() const;
  /// Parses the canonical form (either case); false on anything else.
  static bool parse(std::string_view text, EventId& out) noexcept;

  bool operator==(const EventId& o) const noexcept { return high == o.high && low == o.low; }
  bool operator!=(const EventId& o) const noexcept { return !(*this == o); }
};

/// What the events of one span share: created once per span, shared by pointer.
struct EventContext {
  std::string execution_id;
  std::string span_id;
  std::string parent_span_id;  // empty for a root span
  std::string operation;
  std::string module_name;  // empty unless the user gave one
  Tags tags;
  /// False in an execution that head sampling left out (docs/sampling.md): only its errors
  /// and its failed calls' llm_call events are emitted.
  bool sampled = true;
  /// W3C `tracestate` received with the execution's trace context, passed on unchanged when
  /// the context is injected again (docs/trace-context.md); not part of the event JSON.
  std::string tracestate = {};
  /// The caller's span in another process (extract_trace_context): spans under it take their
  /// ids and sampling from it, their tags and module name from their instrumentor.
  bool remote = false;
};

/// Sixteen lowercase hex digits of fresh random bits: span ids and execution ids.
std::string new_span_id();
/// "exec_" followed by sixteen hex digits.
std::string new_execution_id();

/// What Event::tag() returns: the tag's value, if the event has that tag. It reads like a data
/// value (`tag == "acme"`, `tag.as_string()`, `tag.value_or("none")`: a missing tag equals no
/// string) and like the pointer it used to be (`*tag`, `tag->size()`, `tag == nullptr`,
/// `if (tag)`, and it converts to `const std::string*`).
class TagValue {
 public:
  constexpr TagValue() noexcept = default;
  constexpr explicit TagValue(const std::string* value) noexcept : value_(value) {}

  bool has_value() const noexcept { return value_ != nullptr; }
  /// The value, or an empty string for a missing tag.
  const std::string& as_string() const noexcept {
    static const std::string empty;
    return value_ ? *value_ : empty;
  }
  std::string value_or(std::string_view fallback) const {
    return value_ ? *value_ : std::string(fallback);
  }
  const std::string& operator*() const noexcept { return *value_; }
  const std::string* operator->() const noexcept { return value_; }
  operator const std::string*() const noexcept { return value_; }

  friend bool operator==(const TagValue& t, std::string_view s) noexcept {
    return t.value_ && *t.value_ == s;
  }
  friend bool operator==(const TagValue& t, const char* s) noexcept {
    return s ? t == std::string_view(s) : !t.value_;
  }
  friend bool operator==(const TagValue& t, std::nullptr_t) noexcept { return !t.value_; }
  // Two tags compare by value (both missing, or both present and equal), not by address.
  friend bool operator==(const TagValue& a, const TagValue& b) noexcept {
    return a.value_ && b.value_ ? *a.value_ == *b.value_ : a.value_ == b.value_;
  }
#if __cplusplus < 202002L
  // C++20 derives the reversed and negated forms from the above; C++17 needs them spelled
  // out. Non-template so that C++20's rewritten candidates cannot recurse through them.
  friend bool operator==(std::string_view s, const TagValue& t) noexcept { return t == s; }
  friend bool operator==(const char* s, const TagValue& t) noexcept { return t == s; }
  friend bool operator==(std::nullptr_t, const TagValue& t) noexcept { return !t.value_; }
  friend bool operator!=(const TagValue& t, std::string_view s) noexcept { return !(t == s); }
  friend bool operator!=(const TagValue& t, const char* s) noexcept { return !(t == s); }
  friend bool operator!=(const TagValue& t, std::nullptr_t) noexcept { return t.value_; }
  friend bool operator!=(std::string_view s, const TagValue& t) noexcept { return !(t == s); }
  friend bool operator!=(const char* s, const TagValue& t) noexcept { return !(t == s); }
  friend bool operator!=(std::nullptr_t, const TagValue& t) noexcept { return t.value_; }
  friend bool operator!=(const TagValue& a, const TagValue& b) noexcept { return !(a == b); }
#endif

 private:
  const std::string* value_ = nullptr;
};

struct Event {
  EventType type = EventType::custom;
  std::string custom_type;  // the name when type == custom
  Timestamp timestamp{};
  EventId id{};
  std::shared_ptr<const EventContext> context;  // may be null: all context fields empty
  Fields data;

  /// Captures the clock and a fresh id. `custom_name` must already be valid.
  static Event capture(EventType type, std::shared_ptr<const EventContext> context,
                       Fields data = {}, std::string_view custom_name = {}) {
    return capture_at(Clock::now(), type, std::move(context), std::move(data), custom_name);
  }
  /// The same with a timestamp the caller has (LlmCall derives its tokens' from the monotonic
  /// clock it reads for their timing anyway: one clock read a token, not two).
  static Event capture_at(Timestamp timestamp, EventType type,
                          std::shared_ptr<const EventContext> context, Fields data = {},
                          std::string_view custom_name = {}) {
    Event e;
    e.type = type;
    if (type == EventType::custom) e.custom_type = custom_name;
    e.timestamp = timestamp;
    e.id = EventId::generate();
    e.context = std::move(context);
    e.data = std::move(data);
    return e;
  }

  /// The wire name: a built-in name or the custom name.
  std::string_view type_name() const noexcept {
    return type == EventType::custom ? std::string_view(custom_type) : to_string(type);
  }
  const std::string& execution_id() const noexcept { return context_or_empty().execution_id; }
  const std::string& span_id() const noexcept { return context_or_empty().span_id; }
  const std::string& parent_span_id() const noexcept { return context_or_empty().parent_span_id; }
  const std::string& operation() const noexcept { return context_or_empty().operation; }
  const std::string& module_name() const noexcept { return context_or_empty().module_name; }
  const Tags& tags() const noexcept { return context_or_empty().tags; }
  /// The tag's value, or a TagValue that has none (equal to nullptr).
  TagValue tag(std::string_view key) const noexcept {
    for (const auto& [k, v] : tags()) {
      if (k == key) return TagValue(&v);
    }
    return TagValue();
  }

 private:
  const EventContext& context_or_empty() const noexcept {
    static const EventContext empty;
    return context ? *context : empty;
  }
};

// Printing, for test failures and debugging (src/event_print.cpp). An event prints as
//   Event{type: "llm_call", operation: "answer", execution_id: "exec_...", span_id: "...",
//         parent_span_id: "...", module_name: "...", tags: {...}, data: {...}}
// on one line, leaving out empty context fields, the event id and the timestamp. A tag prints
// as its quoted value, or `(no tag)`; an EventType as its name.
std::ostream& operator<<(std::ostream& out, EventType type);
std::ostream& operator<<(std::ostream& out, const TagValue& tag);
std::ostream& operator<<(std::ostream& out, const Event& event);

/// RFC 3339 UTC with microseconds: 2024-01-15T16:30:45.123456Z.
std::string format_timestamp(Timestamp t);
/// Parses what format_timestamp writes (fraction of 0 to 9 digits, `Z` or `+00:00`).
bool parse_timestamp(std::string_view text, Timestamp& out) noexcept;

/// Appends the event's compact JSON (the guide's schema) to `out`. Never throws and never
/// writes invalid JSON: invalid UTF-8 becomes U+FFFD, NaN and infinities become null, and raw
/// JSON fragments that do not parse are written as strings. Returns false only when memory ran
/// out, in which case `out` is restored to its previous length.
bool append_json(const Event& event, std::string& out) noexcept;
/// The event's compact JSON; empty only when memory ran out.
std::string to_json(const Event& event) noexcept;

/// Parses an event written by to_json (or by another streamll). Fields other than
/// `event_type` may be missing and take their empty defaults; an unknown event type becomes a
/// custom event. Returns false with a reason in `error` when the text is not a JSON object, a
/// known field has the wrong JSON type, event_id is not a UUID, timestamp is not RFC 3339 UTC,
/// or the document nests more than 258 levels deep. Nested data values come back as RawJson
/// (compact). Keys of `data` and `tags` come back in the document's order; a repeated key
/// keeps its first position and its last value, as in a JSON document. Linear time, also on
/// hostile input (a million keys).
bool parse_event_json(std::string_view json, Event& out, std::string* error = nullptr) noexcept;

}  // namespace streamll
