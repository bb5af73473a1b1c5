// A sink that drops every event: what a benchmark of the application thread's cost needs, so
// no sink's work is in the figure.
#pragma once

#include <string>

#include "streamll/sink.hpp"

namespace streamll::bench {

class NoopSink final : public Sink {
 public:
  void handle(const Event&) override {}
  void handle_owned(Event&&) override {}
  std::string name() const override { return "noop"; }
};

}  // namespace streamll::bench
