#pragma once
// A small in-memory model of one Redis stream with consumer groups, behind the RedisTransport
// interface, for unit-testing the consumers without a server or sleeping: XADD, XGROUP CREATE,
// XREADGROUP (">" and own pending ids), XACK, XAUTOCLAIM (idle time from a ManualClock),
// XREAD, XREVRANGE ... COUNT 1, and for the analytics TYPE, TIME (just after the newest entry),
// XLEN, XRANGE and XINFO GROUPS; plus outages, failed exchanges, scripted replies (a MOVED, a
// READONLY) and blocking reads that only an interrupt (or their real-time deadline) ends. Not a
// Redis: just what the consumers and the analytics send.

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fake_redis.hpp"
#include "manual_clock.hpp"
#include "redis/consumer/stream_entries.hpp"

namespace streamll::testing {

class FakeStreamRedis {
 public:
  explicit FakeStreamRedis(const ManualClock& clock, std::string key = "ml_events")
      : clock_(clock), key_(std::move(key)) {}

  /// Appends an entry; returns its id ("1-0", "2-0", ...).
  std::string add(std::vector<std::pair<std::string, std::string>> fields) {
    std::lock_guard<std::mutex> lock(mutex_);
    redis::StreamEntry e;
    e.id = std::to_string(++last_ms_) + "-0";
    e.fields = std::move(fields);
    entries_.push_back(e);
    exists_ = true;
    changed_.notify_all();
    return e.id;
  }
  std::string add_event(const std::string& json) { return add({{"event", json}}); }

  void set_down(bool down) {
    std::lock_guard<std::mutex> lock(mutex_);
    down_ = down;
  }
  /// A host that does not answer (a network partition): connects throw TimeoutError at once
  /// (time_out), or wait until the mode changes or the connect is interrupted (hang; what they
  /// then do follows the new mode), as a connect waiting out its timeout would.
  enum class ConnectMode { answer, time_out, hang };
  void set_connect_mode(ConnectMode mode) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      connect_mode_ = mode;
    }
    changed_.notify_all();
  }
  /// Connect attempts waiting in hang mode right now.
  int hanging_connects() const { return hanging_connects_.load(); }
  /// The next entry ids start after `ms` ("<ms+1>-0", ...), so entries look recent to TIME.
  void start_ids_at(std::uint64_t ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_ms_ = ms;
  }
  /// Consulted before the model for every command: a reply replaces the model's (the command is
  /// still logged).
  using Override = std::function<std::optional<redis::RedisReply>(const Command&)>;
  void set_override(Override override_reply) {
    std::lock_guard<std::mutex> lock(mutex_);
    override_ = std::move(override_reply);
  }
  void fail_next_executes(int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_executes_ = n;
  }
  /// Blocking reads with nothing to return wait (in real time) until an entry is added, the
  /// transport is interrupted or the deadline passes, like BLOCK on a server.
  void set_blocking(bool blocking) {
    std::lock_guard<std::mutex> lock(mutex_);
    blocking_ = blocking;
  }

  std::vector<std::string> pending_ids(const std::string& group) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    auto g = groups_.find(group);
    if (g == groups_.end()) return out;
    for (const auto& [id, p] : g->second.pending) out.push_back(id.to_string());
    return out;
  }
  std::string pending_owner(const std::string& group, const std::string& id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return groups_.at(group).pending.at(*redis::EntryId::parse(id)).consumer;
  }
  std::vector<Command> commands() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return commands_;
  }
  int count_of(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(
        std::count_if(commands_.begin(), commands_.end(),
                      [&](const Command& c) { return !c.empty() && c[0] == name; }));
  }
  int connects() const { return connects_.load(); }
  int connect_attempts() const { return connect_attempts_.load(); }
  int blocked_reads() const { return blocked_reads_.load(); }

  // --- transport side ---
  void on_connect(const std::atomic<bool>& interrupted) {
    ++connect_attempts_;
    std::unique_lock<std::mutex> lock(mutex_);
    if (connect_mode_ == ConnectMode::hang) {
      ++hanging_connects_;
      changed_.wait(lock, [&] { return interrupted || connect_mode_ != ConnectMode::hang; });
      --hanging_connects_;
    }
    if (interrupted) throw ClosedError("interrupted");
    if (connect_mode_ == ConnectMode::time_out) throw TimeoutError("connect to fake timed out");
    if (down_) throw IoError("connect to fake failed: Connection refused");
    ++connects_;
  }

  void on_execute(const redis::CommandBuffer& buffer, std::vector<redis::RedisReply>& replies,
                  std::chrono::steady_clock::time_point deadline,
                  const std::atomic<bool>& interrupted) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (interrupted) throw ClosedError("interrupted");
    if (down_) throw IoError("connection reset by peer");
    if (fail_executes_ > 0) {
      --fail_executes_;
      throw IoError("connection reset by peer");
    }
    replies.clear();
    for (auto& command : parse_resp_commands(buffer.bytes())) {
      commands_.push_back(command);
      if (override_) {
        if (auto reply = override_(command)) {
          replies.push_back(std::move(*reply));
          continue;
        }
      }
      replies.push_back(run(command, lock, deadline, interrupted));
    }
  }

  const std::string& key() const noexcept { return key_; }

  void notify_interrupt() {
    // Through the mutex: a reader that just found no interrupt is then already waiting.
    { std::lock_guard<std::mutex> lock(mutex_); }
    changed_.notify_all();
  }

 private:
  using Id = redis::EntryId;
  struct Pending {
    std::string consumer;
    std::chrono::steady_clock::time_point delivered;
  };
  struct Group {
    Id last_delivered;
    std::map<Id, Pending> pending;
    std::set<std::string> consumers;
  };

  static redis::RedisReply entry_reply(const redis::StreamEntry& e) {
    std::vector<redis::RedisReply> fields;
    for (const auto& [k, v] : e.fields) {
      fields.push_back(redis::RedisReply::make_string(k));
      fields.push_back(redis::RedisReply::make_string(v));
    }
    return redis::RedisReply::make_array(
        {redis::RedisReply::make_string(e.id), redis::RedisReply::make_array(std::move(fields))});
  }
  redis::RedisReply read_reply(std::vector<redis::RedisReply> entries) const {
    if (entries.empty()) return redis::RedisReply::make_nil();
    return redis::RedisReply::make_array(
        {redis::RedisReply::make_array({redis::RedisReply::make_string(key_),
                                        redis::RedisReply::make_array(std::move(entries))})});
  }
  static std::size_t option(const Command& c, const std::string& name, std::size_t fallback) {
    for (std::size_t i = 0; i + 1 < c.size(); ++i) {
      if (c[i] == name) return std::stoul(c[i + 1]);
    }
    return fallback;
  }
  static redis::EntryId range_end(const std::string& text) {
    if (text.find('-') != std::string::npos) return *redis::EntryId::parse(text);
    return redis::EntryId{std::stoull(text), UINT64_MAX};
  }
  static bool has(const Command& c, const std::string& name) {
    return std::find(c.begin(), c.end(), name) != c.end();
  }
  // Real-time wait for new entries, as BLOCK does; false when nothing came.
  bool wait_for_entries(std::unique_lock<std::mutex>& lock, std::size_t known,
                        std::chrono::steady_clock::time_point deadline,
                        const std::atomic<bool>& interrupted) {
    ++blocked_reads_;
    changed_.wait_until(lock, deadline, [&] { return interrupted || entries_.size() > known; });
    if (interrupted) throw ClosedError("interrupted while blocked");
    return entries_.size() > known;
  }

  redis::RedisReply run(const Command& c, std::unique_lock<std::mutex>& lock,
                        std::chrono::steady_clock::time_point deadline,
                        const std::atomic<bool>& interrupted) {
    using R = redis::RedisReply;
    const std::string& name = c[0];
    if (name == "XGROUP") {  // XGROUP CREATE key group id MKSTREAM
      if (groups_.count(c[3])) return R::make_error("BUSYGROUP Consumer Group name already exists");
      exists_ = true;
      Group g;
      g.last_delivered = c[4] == "$" ? Id{last_ms_, 0} : (c[4] == "0" ? Id{} : *Id::parse(c[4]));
      groups_[c[3]] = g;
      return R::make_status("OK");
    }
    if (name == "TYPE") return R::make_status(exists_ && c[1] == key_ ? "stream" : "none");
    if (name == "TIME") {
      const std::uint64_t now = last_ms_ + 1;
      return R::make_array({R::make_string(std::to_string(now / 1000)),
                            R::make_string(std::to_string(now % 1000 * 1000))});
    }
    if (name == "XLEN") return R::make_integer(static_cast<long long>(entries_.size()));
    if (name == "XRANGE") {  // XRANGE key start end COUNT n
      const bool exclusive = c[2].front() == '(';
      const std::string from = exclusive ? c[2].substr(1) : c[2];
      const Id start = from == "-" ? Id{} : *Id::parse(from);
      const Id end = c[3] == "+" ? Id{UINT64_MAX, UINT64_MAX} : range_end(c[3]);
      const std::size_t count = option(c, "COUNT", SIZE_MAX);
      std::vector<R> out;
      for (const auto& e : entries_) {
        const Id id = *Id::parse(e.id);
        if ((exclusive ? !(start < id) : id < start) || end < id || out.size() >= count) continue;
        out.push_back(entry_reply(e));
      }
      return R::make_array(std::move(out));
    }
    if (name == "XINFO" && c[1] == "GROUPS") {
      std::vector<R> out;
      for (const auto& [group_name, g] : groups_) {
        long long read = 0;
        long long lag = 0;
        for (const auto& e : entries_)
          (*Id::parse(e.id) < g.last_delivered || *Id::parse(e.id) == g.last_delivered ? read
                                                                                       : lag) += 1;
        out.push_back(R::make_array(
            {R::make_string("name"), R::make_string(group_name), R::make_string("consumers"),
             R::make_integer(static_cast<long long>(g.consumers.size())), R::make_string("pending"),
             R::make_integer(static_cast<long long>(g.pending.size())),
             R::make_string("last-delivered-id"), R::make_string(g.last_delivered.to_string()),
             R::make_string("entries-read"), R::make_integer(read), R::make_string("lag"),
             R::make_integer(lag)}));
      }
      return R::make_array(std::move(out));
    }
    if (name == "XINFO" && c[1] == "CONSUMERS") {
      std::vector<R> out;
      const Group& g = groups_.at(c[3]);
      for (const auto& consumer : g.consumers) {
        long long pending = 0;
        for (const auto& [id, p] : g.pending) pending += p.consumer == consumer;
        out.push_back(R::make_array({R::make_string("name"), R::make_string(consumer),
                                     R::make_string("pending"), R::make_integer(pending),
                                     R::make_string("idle"), R::make_integer(0)}));
      }
      return R::make_array(std::move(out));
    }
    if (name == "XREVRANGE") {
      if (entries_.empty()) return R::make_array({});
      return R::make_array({entry_reply(entries_.back())});
    }
    if (name == "XREAD") {  // XREAD COUNT n [BLOCK ms] STREAMS key id
      const std::size_t count = option(c, "COUNT", 100);
      const Id after = *Id::parse(c.back());
      auto collect = [&] {
        std::vector<R> out;
        for (const auto& e : entries_) {
          if (after < *Id::parse(e.id) && out.size() < count) out.push_back(entry_reply(e));
        }
        return out;
      };
      auto out = collect();
      if (out.empty() && has(c, "BLOCK") && blocking_ &&
          wait_for_entries(lock, entries_.size(), deadline, interrupted))
        out = collect();
      return read_reply(std::move(out));
    }
    if (name == "XREADGROUP") {  // XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS key id
      auto git = groups_.find(c[2]);
      if (git == groups_.end()) return R::make_error("NOGROUP No such key or consumer group");
      Group& g = git->second;
      const std::string& consumer = c[3];
      g.consumers.insert(consumer);
      const std::size_t count = option(c, "COUNT", 100);
      if (c.back() != ">") {  // own pending entries after the id
        const Id after = c.back() == "0" ? Id{} : *Id::parse(c.back());
        std::vector<R> out;
        for (const auto& [id, p] : g.pending) {
          if (p.consumer != consumer || !(after < id) || out.size() >= count) continue;
          auto e = std::find_if(entries_.begin(), entries_.end(),
                                [&id = id](const auto& x) { return *Id::parse(x.id) == id; });
          out.push_back(e == entries_.end()
                            ? R::make_array({R::make_string(id.to_string()), R::make_nil()})
                            : entry_reply(*e));
        }
        return read_reply(std::move(out));
      }
      auto deliver = [&] {
        std::vector<R> out;
        for (const auto& e : entries_) {
          const Id id = *Id::parse(e.id);
          if (!(g.last_delivered < id) || out.size() >= count) continue;
          g.last_delivered = id;
          g.pending[id] = Pending{consumer, clock_.steady_now()};
          out.push_back(entry_reply(e));
        }
        return out;
      };
      auto out = deliver();
      if (out.empty() && has(c, "BLOCK") && blocking_ &&
          wait_for_entries(lock, entries_.size(), deadline, interrupted))
        out = deliver();
      return read_reply(std::move(out));
    }
    if (name == "XACK") {
      Group& g = groups_[c[2]];
      long long n = 0;
      for (std::size_t i = 3; i < c.size(); ++i)
        n += static_cast<long long>(g.pending.erase(*Id::parse(c[i])));
      return R::make_integer(n);
    }
    if (name == "XAUTOCLAIM") {  // XAUTOCLAIM key group consumer min-idle start COUNT n
      Group& g = groups_[c[2]];
      const auto min_idle = std::chrono::milliseconds(std::stoll(c[4]));
      const Id start = *Id::parse(c[5]);
      const std::size_t count = option(c, "COUNT", 100);
      std::vector<R> out;
      std::string next = "0-0";
      for (auto& [id, p] : g.pending) {
        if (id < start) continue;
        if (out.size() >= count) {
          next = id.to_string();
          break;
        }
        if (clock_.steady_now() - p.delivered < min_idle) continue;
        p = Pending{c[3], clock_.steady_now()};
        auto e = std::find_if(entries_.begin(), entries_.end(),
                              [&id = id](const auto& x) { return *Id::parse(x.id) == id; });
        out.push_back(entry_reply(*e));
      }
      return R::make_array(
          {R::make_string(next), R::make_array(std::move(out)), R::make_array({})});
    }
    return R::make_status("OK");
  }

  const ManualClock& clock_;
  std::string key_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<redis::StreamEntry> entries_;
  std::uint64_t last_ms_ = 0;
  bool exists_ = false;
  std::map<std::string, Group> groups_;
  bool down_ = false;
  bool blocking_ = false;
  int fail_executes_ = 0;
  Override override_;
  std::vector<Command> commands_;
  std::atomic<int> connects_{0};
  std::atomic<int> connect_attempts_{0};
  std::atomic<int> hanging_connects_{0};
  ConnectMode connect_mode_ = ConnectMode::answer;
  std::atomic<int> blocked_reads_{0};
};

class FakeStreamTransport final : public FakeServerTransport<FakeStreamRedis> {
 public:
  explicit FakeStreamTransport(const std::shared_ptr<FakeStreamRedis>& server)
      : FakeServerTransport(server, "fake://" + server->key()) {}
};

inline std::function<std::unique_ptr<redis::RedisTransport>()> fake_stream_factory(
    std::shared_ptr<FakeStreamRedis> server) {
  return [server] { return std::make_unique<FakeStreamTransport>(server); };
}

}  // namespace streamll::testing
