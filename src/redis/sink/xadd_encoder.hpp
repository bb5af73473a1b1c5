#pragma once
// Internal: the RedisSink's XADD commands, serialized straight into the pipeline's bytes.
//
// Every command of one sink has the same head (XADD <key> [MAXLEN [~] <n>] *), built once; each
// event adds its entry's fields: `event` <json> [event_type <t> operation <o> execution_id <x>].
// Those fields, RESP-encoded, are also the compact form a buffered event can take while Redis
// cannot be written to (about its wire size; an llm_call event as captured takes two to three
// times that): ids and timestamps were fixed at capture, so a later send carries the same
// bytes.

#include <string>
#include <variant>

#include "redis/transport/command_buffer.hpp"
#include "streamll/event.hpp"
#include "streamll/redis/options.hpp"

namespace streamll::redis {

/// What the RedisSink's buffer holds: an event as captured, or its entry's fields already
/// encoded by XaddEncoder::append_fields.
using BufferedEvent = std::variant<Event, std::string>;

/// How an event was encoded. truncated: over max_event_bytes, its longest string values were
/// cut to fit (see redis/sink/event_truncation.hpp). too_large: no cut makes it fit; nothing was
/// appended. out_of_memory: nothing was appended.
enum class EncodeResult { ok, truncated, too_large, out_of_memory };

class XaddEncoder {
 public:
  explicit XaddEncoder(const RedisSinkOptions& options);

  /// Appends the entry's fields of `event` as RESP bulk strings, the JSON written in place
  /// and cut to max_event_bytes when longer. Unless ok or truncated, `out` is as it was.
  /// Never throws.
  EncodeResult append_fields(const Event& event, std::string& out) const noexcept;

  /// Appends one complete XADD for `item` to `commands` (unless ok or truncated, nothing).
  /// When truncated and `truncated_fields` is given, the encoded fields are also stored there
  /// (left empty if memory ran out): held in that form, the event is neither cut nor counted
  /// again when encoded again. Never throws.
  EncodeResult append_command(const BufferedEvent& item, CommandBuffer& commands,
                              std::string* truncated_fields = nullptr) const noexcept;

  /// Replaces a captured event by its encoded fields, sized exactly, when they take less
  /// memory than the event as captured (an llm_call's ten fields do; a streamed token sharing
  /// its context with a hundred others does not). `scratch` is reused between calls. Leaves
  /// `item` as it was otherwise, or when memory ran out. An event cut to max_event_bytes is
  /// always replaced (so the cut happens, and is counted, once): then returns truncated. An
  /// event too large is left as captured, to fail when sent.
  EncodeResult compact(BufferedEvent& item, std::string& scratch) const noexcept;

 private:
  bool index_fields_;
  std::size_t max_event_bytes_;  // 0: no limit
  std::string head_;             // "*<argc>\r\n$4\r\nXADD\r\n$<n>\r\n<key>\r\n...$1\r\n*\r\n"
};

}  // namespace streamll::redis
