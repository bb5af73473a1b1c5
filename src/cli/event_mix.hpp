#pragma once
// The events `streamll emit` generates: a RAG pipeline's worth per run (query and retrieval
// spans, an answer span whose model call streams tokens and reports usage), with an occasional
// failed retrieval, so that dashboards and `streamll stats` see realistic data.

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "streamll/event.hpp"

namespace streamll::cli {

class EventMix {
 public:
  /// `seed` varies the models, token counts and timings per generator (one per thread).
  explicit EventMix(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 1) {}

  /// The next event of the current run (a new run starts when one ends).
  Event next();

 private:
  std::uint64_t random();
  void start_run();

  std::uint64_t state_;
  std::uint64_t runs_ = 0;
  int step_ = 0;
  int tokens_ = 0;
  int token_index_ = 0;
  bool fail_retrieval_ = false;
  std::shared_ptr<const EventContext> query_, retrieval_, answer_, call_;
};

}  // namespace streamll::cli
