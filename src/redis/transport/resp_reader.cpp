// hiredis calls these C callbacks while parsing: each builds a RedisReply in place. Children are
// appended to their parent's `elements` as they arrive, so only the root is heap-allocated. An
// array's announced length only reserves room, and at most kMaxReservedElements: an 11-byte
// header like "*16777216\r\n" must not cost 1.2 GB before a single element has arrived.
// No exception may cross into hiredis: failures return nullptr, which hiredis reports as an error.

#include "redis/transport/resp_reader.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <new>

#include "streamll/redis/errors.hpp"

namespace streamll::redis {
namespace {

// A server announcing more elements than this is broken or hostile; refuse before allocating.
constexpr int kMaxArrayElements = 1 << 24;
constexpr std::size_t kMaxReservedElements = 1024;

RedisReply* slot_for(const redisReadTask* task) noexcept {
  if (task->parent == nullptr) return new (std::nothrow) RedisReply();
  // hiredis creates an array's children in order and keeps no pointer to a finished one, so
  // growing `elements` (which may move the earlier ones) is safe.
  auto* parent = static_cast<RedisReply*>(task->parent->obj);
  if (task->idx < 0 || static_cast<std::size_t>(task->idx) != parent->elements.size())
    return nullptr;
  try {
    return &parent->elements.emplace_back();
  } catch (...) {  // std::bad_alloc
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* data, size_t size) {
  try {
    RedisReply* reply = slot_for(task);
    if (reply == nullptr) return nullptr;
    reply->type = task->type == REDIS_REPLY_ERROR    ? ReplyType::error
                  : task->type == REDIS_REPLY_STATUS ? ReplyType::status
                                                     : ReplyType::string;
    reply->text.assign(data, size);
    return reply;
  } catch (...) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxArrayElements) return nullptr;
  try {
    RedisReply* reply = slot_for(task);
    if (reply == nullptr) return nullptr;
    reply->type = ReplyType::array;
    reply->elements.reserve(std::min(static_cast<std::size_t>(elements), kMaxReservedElements));
    return reply;
  } catch (...) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long value) {
  RedisReply* reply = slot_for(task);
  if (reply == nullptr) return nullptr;
  reply->type = ReplyType::integer;
  reply->integer = value;
  return reply;
}

void* create_nil(const redisReadTask* task) {
  RedisReply* reply = slot_for(task);
  if (reply == nullptr) return nullptr;
  reply->type = ReplyType::nil;
  return reply;
}

// hiredis frees only roots (children live inside them).
void free_object(void* reply) { delete static_cast<RedisReply*>(reply); }

redisReplyObjectFunctions g_functions = {create_string, create_array, create_integer, create_nil,
                                         free_object};

}  // namespace

struct RespReader::Impl {
  redisReader* reader = nullptr;
  Impl() {
    reader = redisReaderCreateWithFunctions(&g_functions);
    if (reader == nullptr) throw std::bad_alloc();
  }
  ~Impl() { redisReaderFree(reader); }
};

RespReader::RespReader() : impl_(std::make_unique<Impl>()) {}
RespReader::~RespReader() = default;

void RespReader::feed(const char* data, std::size_t size) {
  if (redisReaderFeed(impl_->reader, data, size) != REDIS_OK) {
    throw IoError(std::string("cannot buffer the server's reply: ") + impl_->reader->errstr);
  }
}

std::optional<RedisReply> RespReader::next() {
  void* raw = nullptr;
  if (redisReaderGetReply(impl_->reader, &raw) != REDIS_OK) {
    throw IoError(std::string("protocol error in the server's reply: ") + impl_->reader->errstr);
  }
  if (raw == nullptr) return std::nullopt;
  std::unique_ptr<RedisReply> reply(static_cast<RedisReply*>(raw));
  return std::move(*reply);
}

void RespReader::reset() { impl_ = std::make_unique<Impl>(); }

}  // namespace streamll::redis
