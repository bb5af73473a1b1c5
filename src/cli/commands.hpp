#pragma once
// The subcommands: each takes the whole argv and the index of its first own argument, and
// returns the process exit code.

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "streamll/redis/consumer.hpp"

namespace streamll::cli {

int run_tail(int argc, char** argv, int first);
int run_stats(int argc, char** argv, int first);
int run_health(int argc, char** argv, int first);
int run_groups(int argc, char** argv, int first);
int run_producers(int argc, char** argv, int first);
int run_consume(int argc, char** argv, int first);
int run_emit(int argc, char** argv, int first);
int run_exporter(int argc, char** argv, int first);

/// Prints skipped entries on stderr ("streamll tail: skipped entry 1-0: malformed_json: ..."),
/// the first `limit` of them; the rest are only counted (the summary shows them).
class SkippedEntryReporter {
 public:
  SkippedEntryReporter(std::string command, std::size_t limit = 20)
      : command_(std::move(command)), limit_(limit) {}
  void operator()(const DecodeFailure& failure);

 private:
  std::string command_;
  std::size_t limit_;
  std::size_t printed_ = 0;
};

/// "3 entries were not streamll events (1 without an event field, 1 malformed JSON, 1 invalid
/// event)", or "" when there were none.
std::string describe_undecodable(const DecodeFailureCounts& counts);

/// Polls `consumer` without blocking until a read comes back empty (everything present was
/// handled) or it is stopped; waits out reconnect delays.
template <typename Consumer>
void drain(Consumer& consumer) {
  while (!consumer.stopping()) {
    const PollResult r = consumer.poll(std::chrono::milliseconds(0));
    if (r.connected && r.entries == 0) break;
    if (!r.connected)
      std::this_thread::sleep_for(std::max(r.backoff, std::chrono::milliseconds(10)));
  }
}

}  // namespace streamll::cli
