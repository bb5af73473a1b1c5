#pragma once
// Support for the RedisSink integration tests: a direct hiredis connection to read back what
// the sink wrote (independent of streamll's own transport, so a transport bug cannot hide
// itself), numbered events whose producer and order can be checked after the trip, and sink
// options with timeouts small enough for the tests to take a few seconds at most.

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <streamll/event.hpp>
#include <streamll/sink.hpp>
#include <streamll/sinks/redis_sink.hpp>

#include "captured_log_text.hpp"

namespace streamll::sinkit {

using namespace std::chrono_literals;

/// Options for a sink that gives up, opens its breaker and probes again within a fraction of a
/// second, so fault tests take a few seconds rather than minutes.
inline RedisSinkOptions fast_options(const std::string& url) {
  RedisSinkOptions o;
  o.connection.url = url;
  o.stream_key = "ml_events";
  o.buffer_size = 20000;
  o.max_batch_size = 100;
  o.connection.connect_timeout = 500ms;
  o.connection.socket_timeout = 500ms;
  o.failure_threshold = 2;
  o.recovery_timeout = 200ms;
  o.flush_interval = 50ms;
  // Tests that leave events behind on purpose must not wait long in the destructor.
  o.shutdown_timeout = 200ms;
  return o;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

/// An EnvLookup over a fixed map, so tests never touch the process environment.
inline EnvLookup env_from(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> std::optional<std::string> {
    const auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

using testing::CapturedLog;

/// One stream entry as Redis returned it.
struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;

  const std::string* field(const std::string& name) const {
    for (const auto& [k, v] : fields) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  /// The millisecond part of the entry id (Redis's clock when it was added).
  std::uint64_t id_ms() const { return std::stoull(id.substr(0, id.find('-'))); }
};

/// A plain hiredis connection used by the tests to inspect Redis. Not thread-safe.
class DirectRedis {
 public:
  static DirectRedis tcp(int port, const std::string& password = {}, const std::string& user = {}) {
    DirectRedis r(redisConnectWithTimeout("127.0.0.1", port, timeval{2, 0}),
                  "127.0.0.1:" + std::to_string(port));
    r.authenticate(password, user);
    return r;
  }
  static DirectRedis unix_socket(const std::string& path) {
    return DirectRedis(redisConnectUnixWithTimeout(path.c_str(), timeval{2, 0}), path);
  }

  DirectRedis(DirectRedis&& other) noexcept
      : c_(std::exchange(other.c_, nullptr)), where_(std::move(other.where_)) {}
  DirectRedis& operator=(DirectRedis&&) = delete;
  DirectRedis(const DirectRedis&) = delete;
  ~DirectRedis() {
    if (c_) redisFree(c_);
  }

  /// Runs one command; throws std::runtime_error when the connection fails (an error reply is
  /// returned, not thrown).
  Reply command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (raw == nullptr)
      throw std::runtime_error("hiredis: " + std::string(c_->errstr) + " (" + where_ + ")");
    return Reply(raw);
  }

  /// A status, string, error or integer reply as text ("" for nil).
  std::string text(const std::vector<std::string>& args) {
    const Reply r = command(args);
    if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
    if (r->type == REDIS_REPLY_NIL) return {};
    return std::string(r->str, r->len);
  }
  long long integer(const std::vector<std::string>& args) {
    const Reply r = command(args);
    if (r->type != REDIS_REPLY_INTEGER) {
      throw std::runtime_error("expected an integer reply, got: " +
                               (r->str ? std::string(r->str, r->len) : std::string("?")));
    }
    return r->integer;
  }
  /// An `INFO <section>` value, e.g. info_field("memory", "used_memory").
  std::string info_field(const std::string& section, const std::string& name) {
    const std::string info = text({"INFO", section});
    const auto at = info.find("\n" + name + ":");
    if (at == std::string::npos) return {};
    const auto start = at + name.size() + 2;
    return info.substr(start, info.find_first_of("\r\n", start) - start);
  }

  /// How many clients the server has blocked in `command` (lower case, e.g. "xreadgroup"),
  /// from CLIENT LIST: the observable sign that a consumer is waiting in its blocking read.
  int blocked_in(const std::string& command) {
    std::istringstream clients(text({"CLIENT", "LIST"}));
    int blocked = 0;
    for (std::string line; std::getline(clients, line);) {
      // id=7 addr=... flags=b ... cmd=xreadgroup ...: flag b is "blocked in a command".
      const std::string fields = " " + line + " ";
      const auto flags = fields.find(" flags=");
      if (flags == std::string::npos) continue;
      const auto value = flags + std::string(" flags=").size();
      const bool is_blocked =
          fields.substr(value, fields.find(' ', value) - value).find('b') != std::string::npos;
      if (is_blocked && fields.find(" cmd=" + command + " ") != std::string::npos) ++blocked;
    }
    return blocked;
  }

  std::vector<StreamEntry> xrange(const std::string& key, const std::string& start = "-",
                                  const std::string& end = "+") {
    const Reply r = command({"XRANGE", key, start, end});
    if (r->type != REDIS_REPLY_ARRAY) {
      throw std::runtime_error("XRANGE " + key + ": " +
                               (r->str ? std::string(r->str, r->len) : std::string("?")));
    }
    std::vector<StreamEntry> out;
    out.reserve(r->elements);
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* entry = r->element[i];
      StreamEntry e;
      e.id.assign(entry->element[0]->str, entry->element[0]->len);
      const redisReply* fields = entry->element[1];
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        e.fields.emplace_back(
            std::string(fields->element[f]->str, fields->element[f]->len),
            std::string(fields->element[f + 1]->str, fields->element[f + 1]->len));
      }
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  DirectRedis(redisContext* c, std::string where) : c_(c), where_(std::move(where)) {
    if (c_ == nullptr || c_->err) {
      const std::string why = c_ ? c_->errstr : "out of memory";
      if (c_) redisFree(c_);
      c_ = nullptr;
      throw std::runtime_error("hiredis cannot connect to " + where_ + ": " + why);
    }
    redisSetTimeout(c_, timeval{5, 0});
  }

  void authenticate(const std::string& password, const std::string& user) {
    if (password.empty()) return;
    const std::string reply =
        user.empty() ? text({"AUTH", password}) : text({"AUTH", user, password});
    if (reply != "OK") throw std::runtime_error("AUTH refused: " + reply);
  }

  redisContext* c_ = nullptr;
  std::string where_;
};

/// Each entry's `event` field parsed back into an Event (a test failure when one does not parse).
inline std::vector<Event> events_in(const std::vector<StreamEntry>& entries) {
  std::vector<Event> out;
  out.reserve(entries.size());
  for (const auto& entry : entries) {
    const std::string* json = entry.field("event");
    REQUIRE(json != nullptr);
    Event e;
    std::string error;
    INFO(*json);
    REQUIRE(parse_event_json(*json, e, &error));
    out.push_back(std::move(e));
  }
  return out;
}

/// Delivery is at-least-once: a batch whose replies were lost comes again, with the same ids.
/// Keeps each event's first appearance, in stream order.
inline std::vector<Event> dedupe_by_id(std::vector<Event> events) {
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
  std::vector<Event> out;
  for (auto& e : events) {
    if (seen.insert({e.id.high, e.id.low}).second) out.push_back(std::move(e));
  }
  return out;
}

/// A token event tagged with who emitted it and its position in that producer's sequence.
inline Event numbered_event(int producer, int index) {
  static const auto context = std::make_shared<EventContext>(
      EventContext{"exec_integration", "span_numbered", "", "numbered", "", {}});
  Fields data;
  data.append_new("producer", producer);
  data.append_new("index", index);
  return Event::capture(EventType::token, context, std::move(data));
}

/// `producers` threads, each emitting numbered_event(p, 0), numbered_event(p, 1), ... into
/// `sink` every `period`, until stop() or destruction: the steady traffic of the fault tests.
class SteadyProducers {
 public:
  SteadyProducers(Sink& sink, int producers, std::chrono::microseconds period)
      : emitted_(producers) {
    for (int p = 0; p < producers; ++p) {
      threads_.emplace_back([this, &sink, p, period] {
        while (!stop_.load()) {
          sink.handle(numbered_event(p, emitted_[p].load()));
          emitted_[p].fetch_add(1);
          std::this_thread::sleep_for(period);  // the traffic's pace, not a wait for anything
        }
      });
    }
  }
  ~SteadyProducers() { stop(); }
  SteadyProducers(const SteadyProducers&) = delete;
  SteadyProducers& operator=(const SteadyProducers&) = delete;

  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  /// Events emitted so far, per producer.
  std::vector<int> emitted() const {
    std::vector<int> out;
    for (const auto& e : emitted_) out.push_back(e.load());
    return out;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::atomic<int>> emitted_;
  std::vector<std::thread> threads_;
};

/// A numbered event (producer 0) of its own execution: the sharded sinks route by execution id.
inline Event execution_event(const std::string& execution, int index) {
  auto context = std::make_shared<EventContext>(
      EventContext{execution, "span_" + execution, "", "sharded", "", {}});
  Fields data;
  data.append_new("producer", 0);
  data.append_new("index", index);
  return Event::capture(EventType::token, context, std::move(data));
}

/// The indices, per producer, of the numbered events in `events`, in the order given.
inline std::map<int, std::vector<int>> indices_by_producer(const std::vector<Event>& events) {
  std::map<int, std::vector<int>> out;
  for (const auto& e : events) {
    out[static_cast<int>(e.data["producer"].as_int(-1))].push_back(
        static_cast<int>(e.data["index"].as_int(-1)));
  }
  return out;
}

inline std::vector<int> iota_vector(int from, int to_exclusive) {
  std::vector<int> out;
  for (int i = from; i < to_exclusive; ++i) out.push_back(i);
  return out;
}

/// Numbered events of producer 0 read back from `key`, deduplicated: their indices in stream order.
inline std::vector<int> delivered_indices(DirectRedis& redis,
                                          const std::string& key = "ml_events") {
  return indices_by_producer(dedupe_by_id(events_in(redis.xrange(key))))[0];
}

}  // namespace streamll::sinkit
