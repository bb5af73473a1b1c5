#include "redis/transport/reply.hpp"

#include "streamll/redis/errors.hpp"

namespace streamll::redis {

std::string RedisReply::error_prefix() const {
  return is_error() ? ReplyError::prefix_of(text) : std::string{};
}

std::string RedisReply::to_debug_string() const {
  switch (type) {
    case ReplyType::nil:
      return "(nil)";
    case ReplyType::status:
      return text;
    case ReplyType::error:
      return "(error) " + text;
    case ReplyType::integer:
      return "(integer) " + std::to_string(integer);
    case ReplyType::string:
      return "\"" + text + "\"";
    case ReplyType::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ", ";
        out += elements[i].to_debug_string();
      }
      return out + "]";
    }
  }
  return "(unknown)";
}

void throw_if_error(const RedisReply& reply, const std::string& context) {
  if (!reply.is_error()) return;
  const std::string prefix = reply.error_prefix();
  if (prefix == "WRONGPASS" || prefix == "NOAUTH") throw AuthError(reply.text, context);
  throw ReplyError(reply.text, context);
}

}  // namespace streamll::redis
