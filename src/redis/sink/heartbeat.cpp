// A RedisSink's producer heartbeat: schedule and commands (see heartbeat.hpp).

#include "redis/sink/heartbeat.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
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
      next_(clock.steady_now()),
      jitter_(std::random_device{}()) {
  // The random suffix keeps apart replicas that share a host name and a pid (containers given
  // a fixed hostname, pid 1): they would overwrite each other's heartbeat.
  // 32 bits: among 1000 such replicas, two share a tag with a chance of about 1 in 9,000.
  std::uint32_t tag = static_cast<std::uint32_t>(std::random_device{}());
  char suffix[12];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(tag));
  id_ = host_ + ":" + pid_ + ":" + std::to_string(sinks_made.fetch_add(1) + 1) + ":" + suffix;
  key_ = producer_heartbeat_key(stream_, id_);
  index_key_ = producers_index_key(stream_);
}

std::chrono::steady_clock::duration Heartbeat::until_due() const noexcept {
  if (!enabled()) return std::chrono::steady_clock::duration::max();
  return std::max(next_ - clock_.steady_now(), std::chrono::steady_clock::duration::zero());
}

std::chrono::milliseconds Heartbeat::jittered(std::chrono::milliseconds delay) {
  const auto tenth = delay.count() / 10;
  if (tenth <= 0) return delay;
  return delay -
         std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, tenth)(jitter_));
}

std::chrono::milliseconds Heartbeat::postpone(std::chrono::milliseconds at_least) {
  backoff_ = backoff_.count() == 0 ? interval_ : std::min(backoff_ * 2, kMaxBackoff);
  backoff_ = std::max({backoff_, interval_, at_least});
  const auto delay = jittered(backoff_);
  next_ = clock_.steady_now() + delay;
  return delay;
}

void Heartbeat::succeeded() noexcept {
  backoff_ = std::chrono::milliseconds(0);
  accepted_ = true;
}

void Heartbeat::farewell(CommandBuffer& out) const {
  out.clear();
  out.begin_command(2).arg("DEL").arg(key_);
  out.begin_command(3).arg("ZREM").arg(index_key_).arg(id_);
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
  const long long index_ttl_ms = std::chrono::milliseconds(kIndexTtl).count();
  const long long prune_after_ms =
      std::max<long long>(10 * ttl_ms, std::chrono::milliseconds(kPruneAfter).count());
  out.clear();
  out.begin_command(2 + 2 * fields.size()).arg("HSET").arg(key_);
  for (const auto& [name, value] : fields) out.arg(name).arg(value);
  out.begin_command(3).arg("PEXPIRE").arg(key_).arg(ttl_ms);
  out.begin_command(4).arg("ZADD").arg(index_key_).arg(now_ms + ttl_ms).arg(id_);
  out.begin_command(4)
      .arg("ZREMRANGEBYSCORE")
      .arg(index_key_)
      .arg("-inf")
      .arg("(" + std::to_string(now_ms - prune_after_ms));
  out.begin_command(3).arg("PEXPIRE").arg(index_key_).arg(index_ttl_ms);
}

}  // namespace streamll::redis
