#pragma once
// The events `streamll emit` generates: a RAG pipeline's worth per run (query and retrieval
// spans, an answer span whose model call streams tokens and reports usage), with an occasional
// failed retrieval, so that dashboards and `streamll stats` see realistic data.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "streamll/event.hpp"
#include "streamll/token_mode.hpp"

namespace streamll::cli {

/// How the mix's model calls stream: in which TokenMode (with `chunked`, cut as an LlmCall
/// cuts them), how many tokens a call streams (0: 3 to 12, varying) and how far apart (unset:
/// 10 to 60 ms, varying per call).
struct TokenShape {
  TokenMode mode = TokenMode::each;
  TokenChunking chunking = {};
  int tokens_per_call = 0;
  std::optional<double> token_interval_ms = {};
};

class EventMix {
 public:
  /// `seed` varies the models, token counts and timings per generator (one per thread).
  explicit EventMix(std::uint64_t seed, TokenShape tokens = {})
      : shape_(tokens), state_(seed * 0x9E3779B97F4A7C15ULL + 1) {}

  /// The next event of the current run (a new run starts when one ends).
  Event next();

 private:
  std::uint64_t random();
  void start_run();
  Event next_chunk();
  double time_per_output_token_ms();

  TokenShape shape_;
  std::uint64_t state_;
  std::uint64_t runs_ = 0;
  int step_ = 0;
  int tokens_ = 0;
  int token_index_ = 0;
  bool fail_retrieval_ = false;
  std::optional<double> tpot_ms_;  // drawn for the first chunk, else with the llm_call
  std::shared_ptr<const EventContext> query_, retrieval_, answer_, call_;
};

}  // namespace streamll::cli
