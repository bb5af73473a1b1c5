#pragma once
// How an LlmCall reports its streamed tokens. A server with 1,000 streams at 50 tokens/s writes
// 50,000 token events a second in `each` mode, which pushes everything else out of a stream
// trimmed to a million entries within seconds; the other modes trade token detail for history.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace streamll {

enum class TokenMode {
  /// One `token` event per token() call.
  each,
  /// One `token` event per chunk of tokens: their text, the first one's index, their count and
  /// each one's arrival time (TokenChunking).
  chunked,
  /// No `token` events; the llm_call event still carries the token count and the streaming
  /// figures (ttft_ms, time_per_output_token_ms, inter_token_ms_*).
  summary,
  /// token() does nothing: no events, no count, no timings (the llm_call event has no ttft_ms
  /// nor streaming figures, and tokens_used comes from LlmUsage only: 0 when it gives none).
  off,
};

/// When `chunked` mode emits a chunk: once it holds `max_tokens` tokens, or once a token comes
/// `max_interval` or more after the chunk's first (zero: no time limit). A chunk is only ever
/// emitted from token() or as the call ends (finish, fail, destruction): no timer runs, so a
/// stream that stalls keeps its pending chunk until its next token or its end.
struct TokenChunking {
  /// Counted as 1 below 1, as kMaxChunkTokens above it.
  std::int32_t max_tokens = 32;
  /// Counted as 0 below 0, as kMaxChunkInterval above it.
  std::chrono::milliseconds max_interval{250};
};

/// Bounds a chunk's per-token arrival times, kept in the chunk until it is emitted.
inline constexpr std::int32_t kMaxChunkTokens = 1024;
/// A day, in milliseconds: longer limits count as this.
inline constexpr std::int64_t kMaxChunkInterval = 24LL * 60 * 60 * 1000;

/// "each", "chunked", "summary", "off".
constexpr std::string_view token_mode_name(TokenMode mode) noexcept {
  switch (mode) {
    case TokenMode::each:
      return "each";
    case TokenMode::chunked:
      return "chunked";
    case TokenMode::summary:
      return "summary";
    case TokenMode::off:
      return "off";
  }
  return "each";
}

/// The mode named `name` (exactly a name token_mode_name() gives), or nullopt.
constexpr std::optional<TokenMode> parse_token_mode(std::string_view name) noexcept {
  for (auto mode : {TokenMode::each, TokenMode::chunked, TokenMode::summary, TokenMode::off}) {
    if (token_mode_name(mode) == name) return mode;
  }
  return std::nullopt;
}

}  // namespace streamll
