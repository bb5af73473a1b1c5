// The live producers of a stream, from their heartbeats (streamll/redis/producers.hpp).

#include "streamll/redis/producers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <tuple>

#include "redis/analytics/analytics_internal.hpp"
#include "redis/routing/query_connection.hpp"
#include "redis/transport/command_buffer.hpp"
#include "streamll/redis/errors.hpp"
#include "streamll/redis/heartbeats.hpp"

namespace streamll {
namespace {

// Enough for any fleet one stream serves; a bound so that one read stays one read.
constexpr long long kMaxProducers = 10000;

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

// One shard: TIME and the index, then every listed producer's hash; members whose hash expired
// are removed from the index.
void read_producers(redis::RedisTransport& t, const std::string& stream, std::size_t shard,
                    ProducersReport& out) {
  const std::string index = producers_index_key(stream);
  redis::CommandBuffer commands;
  std::vector<redis::RedisReply> replies;
  commands.append({"TIME"});
  commands.begin_command(4).arg("ZRANGE").arg(index).arg(0LL).arg(kMaxProducers - 1);
  run(t, commands, replies);
  if (replies.size() != 2) throw IoError("TIME and ZRANGE: missing replies");
  for (const auto& r : replies) redis::throw_if_error(r, "reading " + index);
  if (replies[0].elements.size() == 2) {
    const std::int64_t ms = std::stoll(replies[0].elements[0].text) * 1000 +
                            std::stoll(replies[0].elements[1].text) / 1000;
    out.server_time_ms = std::max(out.server_time_ms, ms);
  }
  std::vector<std::string> ids;
  for (const auto& e : replies[1].elements) ids.push_back(e.text);
  if (ids.empty()) return;
  for (const auto& id : ids) {
    commands.begin_command(2).arg("HGETALL").arg(producer_heartbeat_key(stream, id));
  }
  run(t, commands, replies);
  std::vector<std::string> expired;
  for (std::size_t i = 0; i < ids.size() && i < replies.size(); ++i) {
    redis::throw_if_error(replies[i], "HGETALL " + producer_heartbeat_key(stream, ids[i]));
    std::map<std::string, std::string> fields;
    const auto& e = replies[i].elements;
    for (std::size_t k = 0; k + 1 < e.size(); k += 2) fields[e[k].text] = e[k + 1].text;
    if (fields.empty()) {
      expired.push_back(ids[i]);
    } else {
      out.producers.push_back(producer_from(std::move(fields), shard));
    }
  }
  if (expired.empty()) return;
  commands.begin_command(2 + expired.size()).arg("ZREM").arg(index);
  for (const auto& id : expired) commands.arg(id);
  run(t, commands, replies);  // a refusal (read-only user) leaves them for the writers to prune
}

}  // namespace

ProducersReport list_producers(const ShardedStream& source) {
  ProducersReport out;
  out.stream = source.stream;
  std::exception_ptr first_error;
  bool any_read = false;
  for (const redis::ShardSource& s : redis::shard_sources(source)) {
    ShardStatus status;
    status.shard = s.index;
    status.stream = s.stream;
    status.server = redact_redis_url(s.connection.url);
    const std::size_t before = out.producers.size();
    redis::read_shard(status, first_error, [&] {
      redis::run_query(s.connection, producers_index_key(s.stream), [&](redis::RedisTransport& t) {
        // run_query() runs this again after a MOVED: keep only the last run's.
        out.producers.resize(before);
        status.server = t.describe();
        read_producers(t, s.stream, s.index, out);
      });
      any_read = true;
    });
    out.shards.push_back(std::move(status));
  }
  if (!any_read && first_error) std::rethrow_exception(first_error);
  std::sort(
      out.producers.begin(), out.producers.end(), [](const ProducerInfo& a, const ProducerInfo& b) {
        return std::tie(a.service, a.host, a.pid, a.id) < std::tie(b.service, b.host, b.pid, b.id);
      });
  return out;
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

}  // namespace streamll
