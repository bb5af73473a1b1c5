#pragma once
// Internal: the analytics over an existing connection, for the CLI (which reports connection
// problems itself) and for tests with a fake transport.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "redis/stream_entries.hpp"
#include "redis/transport.hpp"
#include "streamll/redis/analytics.hpp"

namespace streamll::redis {

/// A connected transport (throws IoError / AuthError / ReplyError like connect()).
std::unique_ptr<RedisTransport> connect_for_query(const RedisConnectionOptions& options);

/// The server's clock in milliseconds (TIME).
std::uint64_t server_time_ms(RedisTransport& t);

/// True when `stream` is a stream; false (or StreamNotFoundError when `missing_is_error`) when
/// the key does not exist; ReplyError (WRONGTYPE) when it holds something else.
bool require_stream(RedisTransport& t, const std::string& stream, bool missing_is_error);

/// Visits the entries of XRANGE stream start end, at most `limit` of them, `page_size` per
/// round trip (the next page starts after the last id seen). Returns the round trips made.
std::uint64_t scan_range(RedisTransport& t, const std::string& stream, std::string start,
                         const std::string& end, std::size_t page_size, std::uint64_t limit,
                         const std::function<void(const StreamEntry&)>& visit);

UsageStats analyze_usage(RedisTransport& t, const std::string& stream, const UsageQuery& query);
HealthReport check_health(RedisTransport& t, const std::string& stream, const HealthThresholds& thresholds);
std::vector<GroupInfo> read_groups(RedisTransport& t, const std::string& stream, bool with_consumers);

}  // namespace streamll::redis
