#pragma once
// Internal: the RedisSink's XADD commands, serialized straight into the pipeline's bytes.
//
// A command starts with one of two heads (XADD <key> [MAXLEN [~] <n>] *), built once: the
// stream_key's, or the token_stream_key's for token events when that is set. Each event adds
// its entry's fields: `event` <json> [event_type <t> operation <o> execution_id <x>]. The
// whole command, RESP-encoded, is also the compact form a buffered event can take while Redis
// cannot be written to (about its wire size; an llm_call event as captured takes two to three
// times that): ids and timestamps were fixed at capture, so a later send carries the same
// bytes, to the same stream.

#include <string>
#include <variant>

#include "redis/transport/command_buffer.hpp"
#include "streamll/event.hpp"
#include "streamll/redis/options.hpp"

namespace streamll::redis {

/// What the RedisSink's buffer holds: an event as captured, or its whole XADD command already
/// encoded (XaddEncoder::append_command's bytes for it).
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
  /// When truncated and `truncated_command` is given, the encoded command is also stored there
  /// (left empty if memory ran out): held in that form, the event is neither cut nor counted
  /// again when encoded again. Never throws.
  EncodeResult append_command(const BufferedEvent& item, CommandBuffer& commands,
                              std::string* truncated_command = nullptr) const noexcept;

  /// Replaces a captured event by its encoded command, sized exactly, when that takes less
  /// memory than the event as captured (an llm_call's ten fields do; a streamed token sharing
  /// its context with a hundred others does not). `scratch` is reused between calls. Leaves
  /// `item` as it was otherwise, or when memory ran out. An event cut to max_event_bytes is
  /// always replaced (so the cut happens, and is counted, once): then returns truncated. An
  /// event too large is left as captured, to fail when sent.
  EncodeResult compact(BufferedEvent& item, std::string& scratch) const noexcept;

 private:
  const std::string& head_for(const Event& event) const noexcept {
    return event.type == EventType::token ? token_head_ : head_;
  }

  bool index_fields_;
  std::size_t max_event_bytes_;  // 0: no limit
  std::string head_;             // "*<argc>\r\n$4\r\nXADD\r\n$<n>\r\n<key>\r\n...$1\r\n*\r\n"
  std::string token_head_;       // token events': head_ itself without a token_stream_key
};

}  // namespace streamll::redis
