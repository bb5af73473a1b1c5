#pragma once
// Internal: incremental RESP2 parsing with hiredis's redisReader, building RedisReply values
// directly (no hiredis reply objects, no second copy).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "redis/transport/reply.hpp"

namespace streamll::redis {

class RespReader {
 public:
  RespReader();
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  /// Appends received bytes. Throws IoError when hiredis cannot buffer them.
  void feed(const char* data, std::size_t size);
  /// The next complete reply, or nullopt when more bytes are needed. Throws IoError on a
  /// protocol error (the stream is then unusable).
  std::optional<RedisReply> next();
  /// Drops buffered bytes and any partial reply (for a new connection).
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamll::redis
