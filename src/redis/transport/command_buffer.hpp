#pragma once
// Internal: RESP2 commands appended into one reusable byte string, sent as one pipelined write.

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace streamll::redis {

/// Commands queued for one RedisTransport::execute(). clear() keeps the capacity, so a flusher
/// reusing one buffer allocates nothing per batch once it has grown. Not thread-safe.
///
///   buf.begin_command(5).arg("XADD").arg(key).arg("*").arg("event").arg(json);
///   buf.append({"PING"});
class CommandBuffer {
 public:
  /// Starts a command of exactly `argc` arguments; follow with `argc` arg() calls.
  CommandBuffer& begin_command(std::size_t argc);
  CommandBuffer& arg(std::string_view value);
  CommandBuffer& arg(long long value);

  /// A whole command at once.
  CommandBuffer& append(std::initializer_list<std::string_view> args);

  /// For encoders that write whole RESP commands themselves (the RedisSink's XADD, serialized
  /// straight into the pipeline): `write(std::string& bytes)` appends exactly one complete
  /// command and returns true, or appends nothing and returns false. Returns what it returned.
  template <typename Write>
  bool append_encoded(Write&& write) {
    if (!write(bytes_)) return false;
    ++commands_;
    return true;
  }

  /// Commands appended since the last clear(); execute() reads exactly this many replies.
  std::size_t command_count() const noexcept { return commands_; }
  bool empty() const noexcept { return commands_ == 0; }
  /// The RESP bytes to send.
  const std::string& bytes() const noexcept { return bytes_; }
  void clear() noexcept {
    bytes_.clear();
    commands_ = 0;
    pending_args_ = 0;
  }
  void reserve(std::size_t bytes) { bytes_.reserve(bytes); }

  /// True when every begin_command() got its arguments (execute() refuses a half command).
  bool complete() const noexcept { return pending_args_ == 0; }

 private:
  void append_length_line(char type, std::size_t n);

  std::string bytes_;
  std::size_t commands_ = 0;
  std::size_t pending_args_ = 0;
};

}  // namespace streamll::redis
