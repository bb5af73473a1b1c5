#pragma once
// Internal: one RESP2 reply as a plain value, so nothing above the transport sees hiredis types.

#include <string>
#include <utility>
#include <vector>

namespace streamll::redis {

enum class ReplyType { nil, status, error, integer, string, array };

/// A RESP2 reply. `text` holds status, error and bulk-string payloads (binary-safe); `integer`
/// the integer reply; `elements` the array members. Nil arrays are `nil`.
struct RedisReply {
  ReplyType type = ReplyType::nil;
  std::string text;
  long long integer = 0;
  std::vector<RedisReply> elements;

  static RedisReply make_nil() { return {}; }
  static RedisReply make_status(std::string s) { return {ReplyType::status, std::move(s), 0, {}}; }
  static RedisReply make_error(std::string s) { return {ReplyType::error, std::move(s), 0, {}}; }
  static RedisReply make_integer(long long v) { return {ReplyType::integer, {}, v, {}}; }
  static RedisReply make_string(std::string s) { return {ReplyType::string, std::move(s), 0, {}}; }
  static RedisReply make_array(std::vector<RedisReply> e) {
    return {ReplyType::array, {}, 0, std::move(e)};
  }

  bool is_nil() const noexcept { return type == ReplyType::nil; }
  bool is_error() const noexcept { return type == ReplyType::error; }
  bool is_status() const noexcept { return type == ReplyType::status; }
  bool is_string() const noexcept { return type == ReplyType::string; }
  bool is_integer() const noexcept { return type == ReplyType::integer; }
  bool is_array() const noexcept { return type == ReplyType::array; }

  /// For error replies: the leading code ("WRONGTYPE", "NOPERM", ...), else "".
  std::string error_prefix() const;

  /// Debug form, redis-cli style: "(error) WRONGTYPE ...", "(integer) 3", "\"abc\"", arrays
  /// as "[...]". Not for secrets (no command is ever echoed here, only replies).
  std::string to_debug_string() const;
};

/// Throws ReplyError (AuthError for WRONGPASS/NOAUTH) when `reply` is an error reply, with
/// `context` (e.g. "XGROUP CREATE") in front of the server's message. Otherwise does nothing.
void throw_if_error(const RedisReply& reply, const std::string& context = {});

}  // namespace streamll::redis
