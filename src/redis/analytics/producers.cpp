// The live producers of a stream, from their heartbeats (streamll/redis/producers.hpp).

#include "streamll/redis/producers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <tuple>

#include "json_writer.hpp"
#include "redis/analytics/analytics_internal.hpp"
#include "redis/analytics/producers_internal.hpp"
#include "redis/routing/query_connection.hpp"
#include "redis/transport/command_buffer.hpp"
#include "streamll/redis/errors.hpp"
#include "streamll/redis/heartbeats.hpp"

namespace streamll {
namespace {

std::int64_t to_int(const std::map<std::string, std::string>& f, const char* name) {
  const auto it = f.find(name);
  if (it == f.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return 0;
  }
}

std::string text(const std::map<std::string, std::string>& f, const char* name) {
  const auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

ProducerInfo producer_from(std::map<std::string, std::string> f, std::size_t shard) {
  ProducerInfo p;
  const auto u = [&f](const char* name) { return static_cast<std::uint64_t>(to_int(f, name)); };
  p.id = text(f, "id");
  p.service = text(f, "service");
  p.host = text(f, "host");
  p.pid = to_int(f, "pid");
  p.version = text(f, "version");
  p.stream = text(f, "stream");
  p.token_stream = text(f, "token_stream");
  p.started_at_ms = to_int(f, "started_at");
  p.updated_at_ms = to_int(f, "updated_at");
  p.interval_ms = to_int(f, "interval_ms");
  p.ttl_ms = to_int(f, "ttl_ms");
  p.delivered = u("delivered");
  p.failed = u("failed");
  p.truncated = u("truncated");
  p.dropped = u("dropped");
  for (const char* reason : {"oldest", "newest", "raise_error", "on_shutdown", "after_fork"}) {
    p.dropped_by_reason[reason] = u(("dropped_" + std::string(reason)).c_str());
  }
  p.dropped_at_ms = to_int(f, "dropped_at");
  p.buffered = u("buffered");
  if (f.count("breaker")) p.breaker = f["breaker"];
  p.transport_errors = u("transport_errors");
  p.last_error = text(f, "last_error");
  p.last_error_at_ms = to_int(f, "last_error_at");
  p.heartbeats_failed = u("heartbeats_failed");
  p.shard = shard;
  p.fields = std::move(f);
  return p;
}

void run(redis::RedisTransport& t, redis::CommandBuffer& commands,
         std::vector<redis::RedisReply>& replies) {
  t.execute(commands, replies, std::chrono::steady_clock::now() + t.socket_timeout());
  commands.clear();
}

// A heartbeat older than this behind the server's clock is a hash that lost its TTL (its first
// PEXPIRE never arrived): gone, not live. One TTL of margin for the producer's clock skew.
// Fields and scores are whatever was written: bounded before any arithmetic on them.
constexpr std::int64_t kMaxTimeMs = std::int64_t(1) << 53;

bool stale(const ProducerInfo& p, std::int64_t server_now_ms) {
  if (p.ttl_ms <= 0 || p.ttl_ms > kMaxTimeMs || server_now_ms <= 0 || p.updated_at_ms < 0)
    return false;
  return server_now_ms - p.updated_at_ms > 2 * p.ttl_ms;
}

std::int64_t score_ms(const std::string& score) {
  try {
    const double ms = std::stod(score);  // "inf" included
    if (!(ms > -double(kMaxTimeMs) && ms < double(kMaxTimeMs))) return ms > 0 ? kMaxTimeMs : 0;
    return static_cast<std::int64_t>(ms);
  } catch (const std::exception&) {
    return 0;
  }
}

// One shard: TIME and the index, the latest expiries first, then every listed producer's hash.
// Members whose hash is gone are reported, never removed: pruning is the writers' job, so a
// reader needs no write permission and cannot hide a producer.
void read_producers(redis::RedisTransport& t, const std::string& stream, std::size_t shard,
                    std::size_t max_members, ProducersReport& out) {
  const std::string index = producers_index_key(stream);
  redis::CommandBuffer commands;
  std::vector<redis::RedisReply> replies;
  commands.append({"TIME"});
  // One more than the cap says whether there were more (ZREVRANGE: Redis 5 has no ZRANGE REV).
  commands.begin_command(5)
      .arg("ZREVRANGE")
      .arg(index)
      .arg(0LL)
      .arg(static_cast<long long>(max_members))
      .arg("WITHSCORES");
  run(t, commands, replies);
  if (replies.size() != 2) throw IoError("TIME and ZREVRANGE: missing replies");
  for (const auto& r : replies) redis::throw_if_error(r, "reading " + index);
  std::int64_t now_ms = 0;
  if (replies[0].elements.size() == 2) {
    now_ms = std::stoll(replies[0].elements[0].text) * 1000 +
             std::stoll(replies[0].elements[1].text) / 1000;
    out.server_time_ms = std::max(out.server_time_ms, now_ms);
  }
  std::vector<GoneProducer> listed;
  const auto& e = replies[1].elements;
  for (std::size_t k = 0; k + 1 < e.size(); k += 2) {
    listed.push_back(GoneProducer{e[k].text, stream, shard, score_ms(e[k + 1].text)});
  }
  if (listed.size() > max_members) {
    listed.resize(max_members);
    out.truncated = true;
  }
  if (listed.empty()) return;
  for (const auto& member : listed) {
    commands.begin_command(2).arg("HGETALL").arg(producer_heartbeat_key(stream, member.id));
  }
  run(t, commands, replies);
  for (std::size_t i = 0; i < listed.size() && i < replies.size(); ++i) {
    redis::throw_if_error(replies[i], "HGETALL " + producer_heartbeat_key(stream, listed[i].id));
    std::map<std::string, std::string> fields;
    const auto& h = replies[i].elements;
    // Heartbeats are not authenticated (docs/security.md): what a report carries is made valid
    // UTF-8 here, once, for every reader (a JSON writer refuses anything else).
    for (std::size_t k = 0; k + 1 < h.size(); k += 2) {
      fields[detail::sanitize_utf8(h[k].text)] = detail::sanitize_utf8(h[k + 1].text);
    }
    if (!fields.empty()) {
      ProducerInfo p = producer_from(std::move(fields), shard);
      if (!stale(p, now_ms)) {
        out.producers.push_back(std::move(p));
        continue;
      }
    }
    listed[i].id = detail::sanitize_utf8(listed[i].id);  // its raw bytes named its hash
    out.gone.push_back(std::move(listed[i]));
  }
}

}  // namespace

namespace redis {

ProducersReport list_producers(const ShardedStream& source, const ShardTransportMaker& make,
                               std::size_t max_per_shard) {
  ProducersReport out;
  out.stream = source.stream;
  std::exception_ptr first_error;
  bool any_read = false;
  for (const ShardSource& s : shard_sources(source)) {
    ShardStatus status;
    status.shard = s.index;
    status.stream = s.stream;
    status.server = redact_redis_url(s.connection.url);
    const std::size_t producers_before = out.producers.size();
    const std::size_t gone_before = out.gone.size();
    const bool truncated_before = out.truncated;
    read_shard(status, first_error, [&] {
      run_query(
          s.connection, producers_index_key(s.stream),
          [&](RedisTransport& t) {
            // run_query() runs this again after a MOVED: keep only the last run's.
            out.producers.resize(producers_before);
            out.gone.resize(gone_before);
            out.truncated = truncated_before;
            status.server = t.describe();
            read_producers(t, s.stream, s.index, max_per_shard, out);
          },
          make ? make(s.index) : TransportMaker{});
      any_read = true;
    });
    if (!status.ok) {
      // What a failed read left half done is not this shard's answer.
      out.producers.resize(producers_before);
      out.gone.resize(gone_before);
      out.truncated = truncated_before;
    }
    out.shards.push_back(std::move(status));
  }
  if (!any_read && first_error) std::rethrow_exception(first_error);
  std::sort(
      out.producers.begin(), out.producers.end(), [](const ProducerInfo& a, const ProducerInfo& b) {
        return std::tie(a.service, a.host, a.pid, a.id) < std::tie(b.service, b.host, b.pid, b.id);
      });
  std::sort(out.gone.begin(), out.gone.end(), [](const GoneProducer& a, const GoneProducer& b) {
    return std::tie(b.expired_at_ms, a.shard, a.id) < std::tie(a.expired_at_ms, b.shard, b.id);
  });
  return out;
}

}  // namespace redis

ProducersReport list_producers(const ShardedStream& source) {
  return redis::list_producers(source, {});
}

std::vector<std::string> producer_problems(const ProducerInfo& p, std::int64_t now_ms,
                                           std::chrono::milliseconds window) {
  std::vector<std::string> out;
  const std::string who = fmt::format("producer {} ({} on {}, pid {}, stream '{}')", p.id,
                                      p.service, p.host, p.pid, p.stream);
  if (p.breaker != "closed") {
    out.push_back(fmt::format("{}: circuit breaker {}{}", who, p.breaker,
                              p.last_error.empty() ? "" : " (last error: " + p.last_error + ")"));
  }
  if (p.dropped_at_ms > 0 && now_ms - p.dropped_at_ms <= window.count()) {
    out.push_back(fmt::format("{}: dropping events ({} dropped in all, the latest within {} s)",
                              who, p.dropped, window.count() / 1000));
  }
  return out;
}

std::vector<std::string> producer_problems(const GoneProducer& p, std::int64_t now_ms,
                                           std::chrono::milliseconds window) {
  // A future expiry (the producer's clock ahead of the server's) is recent too.
  if (now_ms - p.expired_at_ms > window.count()) return {};
  return {
      fmt::format("producer {} (stream '{}'): stopped reporting, its last heartbeat expired "
                  "{} s ago",
                  p.id, p.stream, std::max<std::int64_t>(0, now_ms - p.expired_at_ms) / 1000)};
}

}  // namespace streamll
