// Placeholder until the socket transport lands: the API compiles and links.
#include "redis/connection_target.hpp"
#include "redis/transport.hpp"

namespace streamll::redis {

std::unique_ptr<RedisTransport> make_socket_transport(const RedisConnectionOptions& options) {
  (void)resolve_connection(options);
  throw IoError("socket transport not implemented yet");
}

}  // namespace streamll::redis
