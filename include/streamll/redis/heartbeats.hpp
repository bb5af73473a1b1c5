#pragma once
// Where producer heartbeats live in Redis (docs/monitoring.md): shared by RedisSink, which
// writes them, and the readers (list_producers(), `streamll producers`, `streamll health`), so
// both sides agree on the layout.
//
//   producers_index_key("ml_events")            == "{ml_events}:producers"
//   producer_heartbeat_key("ml_events", "h:1:1") == "{ml_events}:producer:h:1:1"
//
// The stream key is the keys' hash tag (or its own tag when it has one, "{llm}events" ->
// "{llm}events:producers"), so on a Redis Cluster a sink's heartbeat keys live in its stream's
// slot and go over the connection that writes its events.

#include <string>
#include <string_view>

namespace streamll {

/// The sorted set listing a stream's producers: member the producer id, score the time (Unix
/// ms, the producer's clock) its heartbeat expires.
std::string producers_index_key(std::string_view stream_key);

/// The hash holding one producer's latest heartbeat; it expires after 3 heartbeat intervals.
std::string producer_heartbeat_key(std::string_view stream_key, std::string_view producer_id);

}  // namespace streamll
