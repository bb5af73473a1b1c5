#pragma once
// Redis Sentinel: the master's address comes from the sentinels, asked again on every
// (re)connect, so a sink or consumer follows a failover without the application doing anything.
//
//   o.connection.url = "redis+sentinel://:master-password@s1:26379,s2:26379/mymaster/0";
//   // or: o.connection.sentinels = {"s1:26379", "s2:26379"};
//   //     o.connection.sentinel_master = "mymaster";
//   o.connection.sentinel_password = sentinel_secret;  // when the sentinels require AUTH
//
// Setting the options is all a RedisSink needs; this header is for applications that want the
// provider itself (to wrap it, log its answers, or use it for their own connections).

#include "streamll/redis/endpoint.hpp"
#include "streamll/redis/options.hpp"

namespace streamll {

/// The EndpointProvider behind the Sentinel options: on each call it asks the sentinels in
/// turn (`SENTINEL get-master-addr-by-name <sentinel_master>`, each connect and reply bounded by
/// connect_timeout / socket_timeout and by the request's deadline), remembers which one
/// answered so the next call asks it first, and returns the master's address with
/// require_master set (the connection then checks ROLE). Throws IoError naming every sentinel
/// tried and why (refused, unknown master name, AUTH refused) when none answers.
/// Sentinel connections use sentinel_username/sentinel_password, no database, and the options'
/// TLS settings when TLS is on. Throws ConfigError when the options name no sentinels or no
/// master. Thread-safe.
EndpointProvider make_sentinel_endpoint_provider(const RedisConnectionOptions& options);

}  // namespace streamll
