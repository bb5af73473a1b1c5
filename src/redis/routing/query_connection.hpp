#pragma once
// Internal: a short-lived connection for one-off queries (the analytics, the CLI's checks),
// opened through the Connector like the sink's and the consumers' (one server, an endpoint
// provider, the master Sentinel names with ROLE checked, the Redis Cluster master of the key's
// slot), so every reader reaches the same server for the same options.

#include <functional>
#include <string>

#include "redis/transport/transport.hpp"

namespace streamll::redis {

/// Connects to the server holding `key` and runs `query` on it. When the query throws a
/// ReplyError carrying a MOVED redirection (the key's slot has a new master), the connector
/// learns it and the query runs again from the start on the new owner, up to 5 times.
/// Connecting is bounded by connect_timeout, each command by socket_timeout. Throws what
/// connecting and the query throw. `make` substitutes the transports (tests).
void run_query(const RedisConnectionOptions& options, const std::string& key,
               const std::function<void(RedisTransport&)>& query, const TransportMaker& make = {});

}  // namespace streamll::redis
