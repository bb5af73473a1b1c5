// A RedisSink's producer heartbeat: schedule and commands (see heartbeat.hpp).

#include "redis/sink/heartbeat.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <limits>

#include "streamll/redis/heartbeats.hpp"
#include "streamll/version.hpp"

namespace streamll::redis {
namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  std::string host(buf);
  // The id is "<host>:<pid>:<n>" inside key names: keep it to the characters host names use.
  for (char& c : host) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_';
    if (!plain) c = '_';
  }
  return host;
}

std::string program_name() {
#ifdef __GLIBC__
  if (program_invocation_short_name != nullptr && program_invocation_short_name[0] != '\0') {
    return program_invocation_short_name;
  }
#endif
  return "unknown";
}

// Sinks made by this process so far: tells apart the shards of a ShardedRedisSink and several
// sinks of one program.
std::atomic<std::uint64_t> sinks_made{0};

}  // namespace

Heartbeat::Heartbeat(const RedisSinkOptions& options, const detail::ClockSource& clock)
    : clock_(clock),
      interval_(options.heartbeat_interval),
      service_(options.consumer_name.empty() ? program_name() : options.consumer_name),
      host_(host_name()),
      pid_(std::to_string(static_cast<long long>(getpid()))),
      stream_(options.stream_key),
      token_stream_(options.token_stream_key),
      started_at_ms_(unix_ms(clock.system_now())),
      next_(clock.steady_now()) {
  id_ = host_ + ":" + pid_ + ":" + std::to_string(sinks_made.fetch_add(1) + 1);
  key_ = producer_heartbeat_key(stream_, id_);
  index_key_ = producers_index_key(stream_);
}

void Heartbeat::write(const RedisSinkStats& s, CommandBuffer& out) {
  next_ = clock_.steady_now() + interval_;
  const std::int64_t now_ms = unix_ms(clock_.system_now());
  const std::uint64_t dropped = s.dropped();
  if (dropped > dropped_seen_) {
    dropped_seen_ = dropped;
    dropped_at_ms_ = now_ms;
  }
  const std::string last_error_at =
      s.last_error_time ? std::to_string(unix_ms(*s.last_error_time)) : std::string("0");
  // Name and value pairs, in the order docs/monitoring.md lists them.
  const std::vector<std::pair<const char*, std::string>> fields = {
      {"id", id_},
      {"service", service_},
      {"host", host_},
      {"pid", pid_},
      {"version", streamll::version},
      {"stream", stream_},
      {"token_stream", token_stream_},
      {"started_at", std::to_string(started_at_ms_)},
      {"updated_at", std::to_string(now_ms)},
      {"interval_ms", std::to_string(interval_.count())},
      {"ttl_ms", std::to_string(ttl().count())},
      {"delivered", std::to_string(s.delivered)},
      {"failed", std::to_string(s.failed)},
      {"truncated", std::to_string(s.truncated)},
      {"dropped", std::to_string(dropped)},
      {"dropped_oldest", std::to_string(s.dropped_oldest)},
      {"dropped_newest", std::to_string(s.dropped_newest)},
      {"dropped_raise_error", std::to_string(s.dropped_raise_error)},
      {"dropped_on_shutdown", std::to_string(s.dropped_on_shutdown)},
      {"dropped_after_fork", std::to_string(s.dropped_after_fork)},
      {"dropped_at", std::to_string(dropped_at_ms_)},
      {"buffered", std::to_string(s.buffered)},
      {"breaker", std::string(to_string(s.breaker_state))},
      {"transport_errors", std::to_string(s.transport_errors)},
      {"last_error", s.last_error},
      {"last_error_at", last_error_at},
      {"heartbeats_failed", std::to_string(s.heartbeats_failed)},
  };
  const long long ttl_ms = ttl().count();
  out.clear();
  out.begin_command(2 + 2 * fields.size()).arg("HSET").arg(key_);
  for (const auto& [name, value] : fields) out.arg(name).arg(value);
  out.begin_command(3).arg("PEXPIRE").arg(key_).arg(ttl_ms);
  out.begin_command(4).arg("ZADD").arg(index_key_).arg(now_ms + ttl_ms).arg(id_);
  out.begin_command(4)
      .arg("ZREMRANGEBYSCORE")
      .arg(index_key_)
      .arg("-inf")
      .arg("(" + std::to_string(now_ms - ttl_ms));
  out.begin_command(3).arg("PEXPIRE").arg(index_key_).arg(ttl_ms);
}

std::string Heartbeat::refusal(const std::vector<RedisReply>& replies) {
  for (const RedisReply& r : replies) {
    if (r.is_error()) return r.text;
  }
  if (replies.size() < kCommands) {
    return std::to_string(replies.size()) + " of " + std::to_string(kCommands) + " replies";
  }
  return {};
}

}  // namespace streamll::redis
