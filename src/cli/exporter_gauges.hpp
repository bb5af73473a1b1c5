#pragma once
// What `streamll exporter` reads from Redis every --refresh rather than from the events: the
// producers' heartbeats (streamll::list_producers) and the consumer groups' lag and pending
// (streamll::list_groups), rendered once per refresh so that a scrape only copies text.

#include <cstdint>
#include <string>
#include <vector>

#include "streamll/redis/analytics.hpp"
#include "streamll/redis/producers.hpp"

namespace streamll::cli {

struct GaugeSnapshot {
  /// list_producers() of the events' stream; nullopt when it could not be read.
  std::optional<ProducersReport> producers;
  /// list_groups() of each stream read (the events', and the token events' when separate).
  std::vector<std::pair<std::string, GroupsReport>> groups;
  /// Why a read failed, one line each (empty: none).
  std::vector<std::string> errors;
  std::int64_t taken_at_ms = 0;  ///< Unix ms, this host's clock
};

/// Reads both; never throws for Redis' sake (a failure goes into `errors`).
GaugeSnapshot read_gauges(const ShardedStream& source, const std::string& token_stream);

/// The families of a snapshot, as Prometheus text, each with HELP and TYPE. `refresh_errors`:
/// failed refreshes so far (a counter).
std::string render_gauges(const GaugeSnapshot& snapshot, std::uint64_t refresh_errors);

}  // namespace streamll::cli
