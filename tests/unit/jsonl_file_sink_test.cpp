#include <streamll/sinks/jsonl_file_sink.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "stalling_output.hpp"

namespace fs = std::filesystem;

namespace {

using streamll::Event;
using streamll::EventType;
using streamll::JsonlFileSink;
using streamll::JsonlFileSinkOptions;
using streamll::JsonlFlushPolicy;
using streamll::testing::eventually;
using streamll::testing::finishes_within;
using streamll::testing::kPatience;

constexpr std::chrono::milliseconds kShortTimeout{50};

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("streamll-jsonl-test-" + std::to_string(::getpid()) + "-" + streamll::new_span_id());
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

JsonlFileSinkOptions options_for(const std::string& path,
                                 JsonlFlushPolicy policy = JsonlFlushPolicy::every_event) {
  JsonlFileSinkOptions o;
  o.path = path;
  o.flush_policy = policy;
  return o;
}

Event custom_event(int thread, int i) {
  auto ctx = std::make_shared<streamll::EventContext>();
  ctx->execution_id = "exec_00000000000000" + std::to_string(10 + thread);
  ctx->operation = "worker";
  return Event::capture(EventType::custom, ctx, {{"thread", thread}, {"i", i}}, "tick");
}

// Runs a small pipeline that produces every built-in event type plus a custom one.
void run_pipeline(streamll::Instrumentor& instrumentor) {
  streamll::Span outer(instrumentor, "rag",
                       {"retriever", {{"tenant", "acme"}}, {}, {{"q", "why?"}}});
  outer.emit("retrieved_docs", {{"count", 2}, {"ids", streamll::RawJson{"[1,2]"}}});
  {
    streamll::LlmCall call(instrumentor, "tiny-model", {"local", {}, {}});
    call.token("Hel");
    call.token("lo \xFF\n");  // invalid UTF-8 and a newline must not break the line
    streamll::LlmUsage usage;
    usage.input_tokens = 7;
    usage.output_tokens = 2;
    usage.cost_usd = 0.00012;
    usage.finish_reason = "stop";
    call.finish(usage);
  }
  try {
    streamll::Span inner(instrumentor, "rerank");
    throw std::runtime_error("reranker down");
  } catch (const std::runtime_error&) {
  }
  outer.set("answer_chars", 5);
}

// Same keys with equal values, in any order.
bool same_fields(const streamll::Fields& a, const streamll::Fields& b) {
  if (a.size() != b.size()) return false;
  for (const auto& field : a) {
    const streamll::Value* other = b.find(field.key);
    if (!other || *other != field.value) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("jsonl: each line is exactly to_json(event) and round-trips", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("events.jsonl");
  auto memory = std::make_shared<streamll::MemorySink>();
  auto jsonl = std::make_shared<JsonlFileSink>(options_for(path));
  {
    streamll::Instrumentor instrumentor(streamll::InstrumentorOptions{{memory, jsonl}, {}, {}});
    run_pipeline(instrumentor);
    CHECK(instrumentor.shutdown(std::chrono::seconds(1)));
  }
  const auto events = memory->events();
  CHECK(memory->type_names() == std::vector<std::string>{"start", "retrieved_docs", "token",
                                                         "token", "llm_call", "start", "error",
                                                         "end"});
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == events.size());
  CHECK(jsonl->written() == events.size());
  CHECK(jsonl->write_errors() == 0);
  CHECK(jsonl->dropped() == 0);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO("line " << i << ": " << lines[i]);
    CHECK(lines[i] == streamll::to_json(events[i]));
    const auto doc = nlohmann::json::parse(lines[i]);  // throws (fails the test) if invalid
    CHECK(doc.at("event_type") == std::string(events[i].type_name()));
    Event parsed;
    std::string error;
    REQUIRE(streamll::parse_event_json(lines[i], parsed, &error));
    CHECK(parsed.id == events[i].id);
    CHECK(parsed.type == events[i].type);
    CHECK(parsed.type_name() == events[i].type_name());
    // parse_event_json does not keep the order of data keys, so compare as JSON objects.
    CHECK(nlohmann::json::parse(streamll::to_json(parsed)) == doc);
    // Line 3's token had invalid UTF-8, which the JSON carries as U+FFFD (checked below).
    if (i != 3) CHECK(same_fields(parsed.data, events[i].data));
    CHECK(parsed.execution_id() == events[i].execution_id());
    CHECK(parsed.span_id() == events[i].span_id());
  }
  CHECK(nlohmann::json::parse(lines[3]).at("data").at("token") == "lo \xEF\xBF\xBD\n");
}

TEST_CASE("jsonl: append keeps earlier lines, truncate replaces them", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("events.jsonl");
  {
    std::ofstream existing(path);
    existing << "{\"earlier\":true}\n";
  }
  {
    JsonlFileSink sink(options_for(path));
    sink.handle(custom_event(0, 1));
  }
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "{\"earlier\":true}");

  JsonlFileSinkOptions truncate = options_for(path);
  truncate.append = false;
  const Event e = custom_event(0, 2);
  {
    JsonlFileSink sink(truncate);
    sink.handle(e);
  }
  lines = read_lines(path);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == streamll::to_json(e));
}

TEST_CASE("jsonl: buffered policy writes on flush, on a full buffer and on shutdown", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("buffered.jsonl");
  JsonlFileSinkOptions options = options_for(path, JsonlFlushPolicy::buffered);
  options.fsync = true;
  JsonlFileSink sink(options);
  for (int i = 0; i < 3; ++i) sink.handle(custom_event(0, i));
  CHECK(read_lines(path).empty());
  CHECK(sink.written() == 0);
  CHECK(sink.flush(kPatience));
  CHECK(read_lines(path).size() == 3);
  CHECK(sink.written() == 3);

  sink.handle(custom_event(0, 3));
  CHECK(read_lines(path).size() == 3);
  CHECK(sink.shutdown(kPatience));
  CHECK(read_lines(path).size() == 4);
  CHECK(sink.written() == 4);

  // A buffer smaller than one line is written out by the event that fills it, without a flush.
  const std::string small_path = dir.file("small.jsonl");
  JsonlFileSinkOptions small = options_for(small_path, JsonlFlushPolicy::buffered);
  small.buffer_bytes = 1;
  JsonlFileSink small_sink(small);
  small_sink.handle(custom_event(0, 0));
  CHECK(eventually([&] { return small_sink.written() == 1; }, kPatience));
  CHECK(read_lines(small_path).size() == 1);
}

// written() once derived "delivered minus buffered" from two counters that move at different
// moments, so a reader racing the flusher saw buffered lines counted as written.
TEST_CASE("jsonl: written() never counts a line still in the buffer", "[sinks]") {
  TempDir dir;
  JsonlFileSinkOptions options = options_for(dir.file("racing.jsonl"), JsonlFlushPolicy::buffered);
  options.buffer_bytes = std::size_t{1} << 30;  // never fills: nothing reaches the file
  constexpr int kEvents = 20000;
  options.queue_size = kEvents;  // none dropped
  JsonlFileSink sink(options);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < kEvents; ++i) sink.handle(custom_event(0, i));
    done.store(true);
  });
  std::uint64_t most = 0;
  std::uint64_t reads = 0;
  while (!done.load() || reads == 0) {
    most = std::max(most, sink.written());
    ++reads;
  }
  producer.join();
  CHECK(most == 0);
  CHECK(sink.flush(kPatience));
  CHECK(sink.written() == kEvents);
}

TEST_CASE("jsonl: every_event writes each event without being asked to", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("every.jsonl");
  JsonlFileSink sink(options_for(path));
  const Event e = custom_event(0, 0);
  sink.handle(e);
  REQUIRE(eventually([&] { return sink.written() == 1; }, kPatience));
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == streamll::to_json(e));
}

TEST_CASE("jsonl: the destructor writes what is still buffered", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("destructor.jsonl");
  {
    JsonlFileSink sink(options_for(path, JsonlFlushPolicy::buffered));
    for (int i = 0; i < 5; ++i) sink.handle(custom_event(0, i));
  }
  CHECK(read_lines(path).size() == 5);
}

TEST_CASE("jsonl: four threads write whole lines, exactly as many as were sent", "[sinks]") {
  const auto policy = GENERATE(JsonlFlushPolicy::every_event, JsonlFlushPolicy::buffered);
  TempDir dir;
  const std::string path = dir.file("concurrent.jsonl");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  {
    JsonlFileSinkOptions options = options_for(path, policy);
    options.buffer_bytes = 4096;  // many write-outs while threads are still handing events over
    JsonlFileSink sink(options);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&sink, t] {
        for (int i = 0; i < kPerThread; ++i) sink.handle(custom_event(t, i));
      });
    }
    for (auto& th : threads) th.join();
    CHECK(sink.shutdown(kPatience));
    CHECK(sink.written() == kThreads * kPerThread);
    CHECK(sink.dropped() == 0);
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == static_cast<std::size_t>(kThreads * kPerThread));
  std::vector<int> next(kThreads, 0);
  std::set<std::string> ids;
  for (const auto& line : lines) {
    Event e;
    REQUIRE(streamll::parse_event_json(line, e));
    const auto t = static_cast<std::size_t>(e.data["thread"].as_int());
    REQUIRE(t < next.size());
    // One thread's events keep their order in the file.
    CHECK(e.data["i"].as_int() == next[t]++);
    ids.insert(e.id.to_string());
  }
  CHECK(ids.size() == lines.size());
}

TEST_CASE("jsonl: an unopenable path throws ConfigError naming path and reason", "[sinks]") {
  TempDir dir;
  auto expect_config_error = [](const std::string& path, const std::string& reason) {
    try {
      JsonlFileSink sink(options_for(path));
      FAIL("no exception for " << path);
    } catch (const streamll::ConfigError& e) {
      CHECK(e.option() == "path");
      CHECK_THAT(e.what(), Catch::Contains(reason));
      if (!path.empty()) CHECK_THAT(e.what(), Catch::Contains(path));
    }
  };
  expect_config_error(dir.file("missing-dir/events.jsonl"), "No such file or directory");
  expect_config_error(dir.path().string(), "Is a directory");
  expect_config_error("", "empty");
}

TEST_CASE("jsonl: a full disk counts write errors and never throws", "[sinks]") {
  if (::access("/dev/full", W_OK) != 0) {
    WARN("/dev/full is not writable here; skipped");
    return;
  }
  SECTION("every event") {
    JsonlFileSink sink(options_for("/dev/full"));
    for (int i = 0; i < 3; ++i) CHECK_NOTHROW(sink.handle(custom_event(0, i)));
    CHECK_FALSE(sink.flush(kPatience));  // the writes failed
    CHECK(sink.write_errors() == 3);
    CHECK(sink.written() == 0);
    CHECK(sink.is_running());
    CHECK(sink.flush(kPatience));  // nothing lost since the previous flush
  }
  SECTION("buffered") {
    JsonlFileSink sink(options_for("/dev/full", JsonlFlushPolicy::buffered));
    for (int i = 0; i < 3; ++i) CHECK_NOTHROW(sink.handle(custom_event(0, i)));
    CHECK(sink.write_errors() == 0);
    CHECK_FALSE(sink.flush(kPatience));
    CHECK(sink.write_errors() == 3);
    CHECK(sink.written() == 0);
    // The lost batch is not retried forever: the next flush has nothing to write.
    CHECK(sink.flush(kPatience));
  }
}

TEST_CASE("jsonl: a write cut short leaves one broken line, the next starts afresh", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("cut.jsonl");
  const Event a = custom_event(0, 0), b = custom_event(0, 1), c = custom_event(0, 2),
              d = custom_event(0, 3);
  const auto line_size = [](const Event& e) { return streamll::to_json(e).size() + 1; };
  const rlim_t limit = line_size(a) + line_size(b) + line_size(c) / 2;

  JsonlFileSink sink(options_for(path, JsonlFlushPolicy::buffered));
  sink.handle(a);
  sink.handle(b);
  sink.handle(c);
  // The kernel writes up to the file size limit, then fails with EFBIG (SIGXFSZ ignored).
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit capped = saved;
  capped.rlim_cur = limit;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &capped) == 0);
  const bool flushed = sink.flush(kPatience);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  CHECK_FALSE(flushed);
  CHECK(sink.written() == 2);
  CHECK(sink.write_errors() == 1);
  sink.handle(d);
  CHECK(sink.shutdown(kPatience));  // d was written; c's loss was the flush's to report
  CHECK(sink.written() == 3);

  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == streamll::to_json(a));
  CHECK(lines[1] == streamll::to_json(b));
  CHECK(lines[2] == streamll::to_json(c).substr(0, line_size(c) / 2));
  CHECK(lines[3] == streamll::to_json(d));
}

TEST_CASE("jsonl: events after shutdown are dropped, not written", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("shutdown.jsonl");
  JsonlFileSink sink(options_for(path));
  sink.handle(custom_event(0, 0));
  CHECK(sink.is_running());
  CHECK(sink.shutdown(kPatience));
  CHECK_FALSE(sink.is_running());
  sink.handle(custom_event(0, 1));
  sink.handle(custom_event(0, 2));
  CHECK(sink.dropped() == 2);
  CHECK(sink.written() == 1);
  CHECK(sink.shutdown(kPatience));  // twice is fine
  CHECK(sink.flush(kPatience));     // after shutdown: shutdown's answer
  CHECK(read_lines(path).size() == 1);
  CHECK(sink.path() == path);
  CHECK(sink.name() == "jsonl");
}

TEST_CASE("jsonl: queue_size 0 is a configuration error, checked before the file is touched",
          "[sinks]") {
  TempDir dir;
  JsonlFileSinkOptions options = options_for(dir.file("never.jsonl"));
  options.queue_size = 0;
  try {
    JsonlFileSink sink(options);
    FAIL("no exception");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "queue_size");
  }
  CHECK_FALSE(fs::exists(dir.file("never.jsonl")));
}

// A FIFO with a reader that does not read until told to: writes to it block once its buffer
// (shrunk to one page) is full, like a consumer process that hangs.
class StalledFifo {
 public:
  explicit StalledFifo(const std::string& path) {
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    // Opened first, and nonblocking, so that the sink's blocking open for writing finds a
    // reader instead of waiting for one.
    read_fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(read_fd_ >= 0);
    ::fcntl(read_fd_, F_SETPIPE_SZ, 4096);
  }
  ~StalledFifo() { ::close(read_fd_); }
  StalledFifo(const StalledFifo&) = delete;
  StalledFifo& operator=(const StalledFifo&) = delete;

  /// Reads until every writer has closed the FIFO (true) or `timeout` passes (false).
  bool drain_until_closed(std::string& into, std::chrono::milliseconds timeout = kPatience) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[4096];
    while (true) {
      const ssize_t n = ::read(read_fd_, chunk, sizeof chunk);
      if (n > 0) {
        into.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) return true;  // no writer left
      if (errno != EAGAIN && errno != EINTR) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{read_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 100)));
    }
  }

 private:
  int read_fd_ = -1;
};

// Every line is the JSON of one of `events`, in their order (some may be missing).
void check_in_order(const std::vector<std::string>& lines, const std::vector<Event>& events) {
  std::size_t next = 0;
  for (const auto& line : lines) {
    while (next < events.size() && streamll::to_json(events[next]) != line) ++next;
    REQUIRE(next < events.size());  // not one of the events, or out of order
    ++next;
  }
}

std::vector<std::string> lines_in(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_CASE("jsonl: a FIFO nobody reads never blocks emitting and every event is accounted for",
          "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("events.fifo");
  StalledFifo fifo(path);
  JsonlFileSinkOptions options = options_for(path);
  options.queue_size = 64;
  JsonlFileSink sink(options);
  std::vector<Event> events;
  for (int i = 0; i < 500; ++i) events.push_back(custom_event(0, i));  // ~90 KB of JSON

  std::string received;
  const bool returned = finishes_within(
      kPatience,
      [&] {
        for (const Event& e : events) sink.handle(e);
      },
      [&] { fifo.drain_until_closed(received); });  // a failing test
  REQUIRE(returned);
  CHECK(sink.dropped() > 0);               // 4 KB of pipe and 64 queued events cannot hold 500
  CHECK_FALSE(sink.flush(kShortTimeout));  // stuck, and events were dropped: both reasons

  std::thread reader([&] { fifo.drain_until_closed(received); });
  // The drops were the previous call's to report, whether or not the writer had got past them
  // when the reader started.
  CHECK(sink.flush(kPatience));
  CHECK(sink.flush(kPatience));
  CHECK(sink.shutdown(kPatience));
  reader.join();
  CHECK(sink.write_errors() == 0);
  CHECK(sink.written() + sink.dropped() == events.size());
  const auto lines = lines_in(received);
  CHECK(lines.size() == sink.written());
  check_in_order(lines, events);
}

TEST_CASE("jsonl: shutdown gives up on a stuck write within its timeout", "[sinks]") {
  TempDir dir;
  const std::string path = dir.file("events.fifo");
  StalledFifo fifo(path);
  JsonlFileSinkOptions options = options_for(path);
  options.queue_size = 64;
  JsonlFileSink sink(options);
  std::vector<Event> events;
  for (int i = 0; i < 500; ++i) events.push_back(custom_event(0, i));
  for (const Event& e : events) sink.handle(e);

  std::string received;
  bool shut_down = true;
  const bool returned = finishes_within(
      kPatience, [&] { shut_down = sink.shutdown(kShortTimeout); },
      [&] { fifo.drain_until_closed(received); });  // a failing test
  REQUIRE(returned);
  CHECK_FALSE(shut_down);
  CHECK_FALSE(sink.is_running());
  sink.handle(custom_event(0, 500));

  // The stuck write completes once the FIFO is read; then the sink's thread writes nothing
  // more and closes the file, which the reader sees as the end.
  CHECK(fifo.drain_until_closed(received));
  CHECK_FALSE(sink.flush(kPatience));  // returns once the sink's thread is done
  CHECK(sink.write_errors() == 0);
  CHECK(sink.written() + sink.dropped() == events.size() + 1);
  const auto lines = lines_in(received);
  CHECK(lines.size() == sink.written());
  check_in_order(lines, events);
}
