#pragma once
// Internal: the RedisSink's size policy for one event (RedisSinkOptions::max_event_bytes).
//
// An event whose JSON is too long has its longest string values cut, longest first, each
// ending in a visible marker, until the JSON fits; every key stays and the JSON stays valid.
// Only events over the limit come here: the normal path pays one comparison.

#include <cstddef>
#include <string>
#include <string_view>

#include "streamll/event.hpp"

namespace streamll::redis {

/// What ends a cut value: "...[truncated <bytes cut> bytes]".
inline constexpr std::string_view kTruncationMarkerPrefix = "...[truncated ";
inline constexpr std::string_view kTruncationMarkerSuffix = " bytes]";

/// Appends the JSON of `event` with string values cut so that it takes at most `max_bytes`.
/// `json_bytes` is the length of its full JSON (> max_bytes). Cut are data values that are
/// strings or raw JSON (written as a string once cut) and tag values; keys and the envelope
/// never are. Returns false, `out` as it was, when no cut makes it fit (e.g. thousands of
/// short fields). Throws std::bad_alloc only, `out` then as it was.
bool append_truncated_json(const Event& event, std::size_t json_bytes, std::size_t max_bytes,
                           std::string& out);

}  // namespace streamll::redis
