#pragma once
// What a bounded sink buffer does with a new event when it is full (the guide's
// `buffer_overflow_strategy`).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "streamll/errors.hpp"

namespace streamll {

/// - drop_oldest: make room by discarding the oldest event still waiting to be sent (never one
///   already being sent); the new event is kept. The default: the freshest data wins.
/// - drop_newest: discard the new event; what is buffered is kept.
/// - raise_error: discard the new event and throw BufferOverflowError to the emitting code.
/// Every discarded event is counted by the sink.
enum class OverflowStrategy : std::uint8_t { drop_oldest, drop_newest, raise_error };

/// "drop_oldest" | "drop_newest" | "raise_error".
constexpr std::string_view to_string(OverflowStrategy strategy) noexcept {
  switch (strategy) {
    case OverflowStrategy::drop_oldest:
      return "drop_oldest";
    case OverflowStrategy::drop_newest:
      return "drop_newest";
    case OverflowStrategy::raise_error:
      return "raise_error";
  }
  return "drop_oldest";
}

/// The strategy named `text` (ASCII case-insensitive, as environment variables are often
/// upper case), or nullopt.
constexpr std::optional<OverflowStrategy> try_parse_overflow_strategy(
    std::string_view text) noexcept {
  for (auto candidate : {OverflowStrategy::drop_oldest, OverflowStrategy::drop_newest,
                         OverflowStrategy::raise_error}) {
    const std::string_view name = to_string(candidate);
    if (name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == name[i];
    }
    if (same) return candidate;
  }
  return std::nullopt;
}

/// The strategy named `text`; throws ConfigError("buffer_overflow_strategy", ...) quoting the
/// rejected value (shortened to 64 characters) and the accepted ones.
inline OverflowStrategy parse_overflow_strategy(std::string_view text) {
  if (auto strategy = try_parse_overflow_strategy(text)) return *strategy;
  constexpr std::size_t max_quoted = 64;
  std::string quoted(text.substr(0, max_quoted));
  if (text.size() > max_quoted) quoted += "...";
  throw ConfigError(
      "buffer_overflow_strategy",
      "unknown value \"" + quoted + "\" (expected drop_oldest, drop_newest or raise_error)");
}

}  // namespace streamll
