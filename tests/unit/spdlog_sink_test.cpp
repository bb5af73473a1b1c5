// The spdlog sink (streamll/integrations/spdlog_sink.hpp): a log record becomes a `log` event
// in the thread's current span with the record's fields and time, the level filter, what
// happens outside any span, lines from many threads under one span, sampling, and that it
// never recurses or throws into the logging call. The JSON is checked with nlohmann's parser.

#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <streamll/integrations/spdlog_sink.hpp>
#include <streamll/streamll.hpp>

namespace {

using streamll::Event;

struct Logged {
  std::shared_ptr<streamll::MemorySink> memory = std::make_shared<streamll::MemorySink>();
  std::shared_ptr<streamll::Instrumentor> instrumentor;
  std::shared_ptr<streamll::SpdlogSink> sink;
  std::shared_ptr<spdlog::logger> logger;

  explicit Logged(streamll::SpdlogSinkOptions options = {},
                  std::optional<double> sample_rate = std::nullopt,
                  std::string logger_name = "app") {
    streamll::InstrumentorOptions instrumentor_options;
    instrumentor_options.sinks = {memory};
    instrumentor_options.tags = {{"environment", "test"}};
    instrumentor_options.sample_rate = sample_rate;
    instrumentor = std::make_shared<streamll::Instrumentor>(std::move(instrumentor_options));
    sink = std::make_shared<streamll::SpdlogSink>(options);
    // Not registered in spdlog's registry: each test has its own logger.
    logger = std::make_shared<spdlog::logger>(std::move(logger_name), sink);
    logger->set_level(spdlog::level::trace);  // the sink's level is the one under test
  }
  std::vector<Event> logs() const { return memory->events_of_type("log"); }
};

const std::string& text(const Event& e, const char* key) {
  const auto* v = e.data.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_string());
  return v->as_string();
}

}  // namespace

TEST_CASE("spdlog sink: a record in a span becomes a log event of that span") {
  Logged t;
  streamll::Span outer(t.instrumentor, "request");
  streamll::Span span("retrieve");
  const auto at = std::chrono::system_clock::now() - std::chrono::hours(1);
  t.logger->log(at, spdlog::source_loc{"retriever.cpp", 42, "lookup"}, spdlog::level::warn,
                "cache miss for q:rag");

  const auto logs = t.logs();
  REQUIRE(logs.size() == 1);
  const Event& e = logs.front();
  CHECK(e.type == streamll::EventType::custom);
  CHECK(e.type_name() == "log");
  CHECK(e.span_id() == span.span_id());
  CHECK(e.execution_id() == span.execution_id());
  CHECK(e.parent_span_id() == outer.span_id());
  CHECK(e.operation() == "retrieve");
  CHECK(e.tag("environment") == "test");
  CHECK(e.timestamp == at);  // the record's time, not the time it reached the sink
  CHECK(text(e, "level") == "warn");
  CHECK(text(e, "logger") == "app");
  CHECK(text(e, "message") == "cache miss for q:rag");
  CHECK(text(e, "source_file") == "retriever.cpp");
  CHECK(e.data.find("source_line")->as_int() == 42);
  CHECK(text(e, "source_function") == "lookup");
  CHECK(t.sink->forwarded() == 1);

  // As a sink writes it, read by an independent parser.
  const auto json = nlohmann::json::parse(streamll::to_json(e));
  CHECK(json.at("event_type") == "log");
  CHECK(json.at("span_id") == span.span_id());
  CHECK(json.at("parent_span_id") == outer.span_id());
  CHECK(json.at("data") == nlohmann::json{{"level", "warn"},
                                          {"logger", "app"},
                                          {"message", "cache miss for q:rag"},
                                          {"source_file", "retriever.cpp"},
                                          {"source_line", 42},
                                          {"source_function", "lookup"}});
}

TEST_CASE("spdlog sink: a record without a source location has no source fields") {
  Logged t;
  streamll::Span span(t.instrumentor, "request");
  t.logger->info("plain");
  const auto logs = t.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs.front().data.size() == 3);
  CHECK_FALSE(logs.front().data.contains("source_file"));
  CHECK_FALSE(logs.front().data.contains("source_line"));
  CHECK_FALSE(logs.front().data.contains("source_function"));
}

TEST_CASE("spdlog sink: a source location from spdlog's macros is kept") {
  Logged t;
  streamll::Span span(t.instrumentor, "request");
  const int line = __LINE__ + 1;
  SPDLOG_LOGGER_ERROR(t.logger, "failed after {} tries", 3);
  const auto logs = t.logs();
  REQUIRE(logs.size() == 1);
  CHECK(text(logs.front(), "level") == "error");
  CHECK(text(logs.front(), "message") == "failed after 3 tries");
  CHECK(text(logs.front(), "source_file").find("spdlog_sink_test.cpp") != std::string::npos);
  CHECK(logs.front().data.find("source_line")->as_int() == line);
  CHECK_FALSE(text(logs.front(), "source_function").empty());
}

TEST_CASE("spdlog sink: a record follows the current span as spans open and end") {
  Logged t;
  streamll::Span outer(t.instrumentor, "request");
  {
    streamll::Span inner("generate");
    t.logger->info("inside");
    CHECK(t.logs().back().span_id() == inner.span_id());
  }
  t.logger->info("after");
  CHECK(t.logs().back().span_id() == outer.span_id());
  CHECK(t.logs().back().parent_span_id().empty());
}

TEST_CASE("spdlog sink: levels below the option's are not events (default info)") {
  SECTION("default: info and above, every level by its fixed name") {
    Logged t;
    streamll::Span span(t.instrumentor, "request");
    t.logger->trace("t");
    t.logger->debug("d");
    t.logger->info("i");
    t.logger->warn("w");
    t.logger->error("e");
    t.logger->critical("c");
    std::vector<std::string> levels;
    for (const auto& e : t.logs()) levels.push_back(text(e, "level"));
    CHECK(levels == std::vector<std::string>{"info", "warn", "error", "critical"});
    CHECK(t.sink->level() == spdlog::level::info);
  }
  SECTION("a level given, then changed through spdlog") {
    streamll::SpdlogSinkOptions options;
    options.level = spdlog::level::err;
    Logged t(options);
    streamll::Span span(t.instrumentor, "request");
    t.logger->warn("w");
    t.logger->error("e");
    CHECK(t.logs().size() == 1);
    t.sink->set_level(spdlog::level::trace);
    t.logger->trace("t");
    REQUIRE(t.logs().size() == 2);
    CHECK(text(t.logs().back(), "level") == "trace");
  }
  SECTION("off: nothing") {
    streamll::SpdlogSinkOptions options;
    options.level = spdlog::level::off;
    Logged t(options);
    streamll::Span span(t.instrumentor, "request");
    t.logger->critical("c");
    CHECK(t.logs().empty());
  }
}

TEST_CASE("spdlog sink: a record outside any span is dropped and counted by default") {
  Logged t;
  // The thread reports to this instrumentor but has no span.
  streamll::ContextScope scope(streamll::Context(t.instrumentor, nullptr));
  t.logger->info("starting up");
  t.logger->warn("still starting");
  CHECK(t.memory->size() == 0);
  CHECK(t.sink->dropped_outside_span() == 2);
  CHECK(t.sink->forwarded() == 0);
  // Below the level: filtered by spdlog before the sink, not counted.
  t.logger->debug("detail");
  CHECK(t.sink->dropped_outside_span() == 2);
}

TEST_CASE("spdlog sink: emit_outside_span emits with the root context") {
  streamll::SpdlogSinkOptions options;
  options.emit_outside_span = true;
  Logged t(options);
  streamll::ContextScope scope(streamll::Context(t.instrumentor, nullptr));
  t.logger->info("starting up");
  const auto logs = t.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs.front().execution_id().empty());
  CHECK(logs.front().span_id().empty());
  CHECK(logs.front().tag("environment") == "test");
  CHECK(text(logs.front(), "message") == "starting up");
  CHECK(t.sink->dropped_outside_span() == 0);
}

TEST_CASE("spdlog sink: many threads log under one span") {
  Logged t;
  streamll::Span span(t.instrumentor, "request");
  constexpr int threads = 4;
  constexpr int lines = 250;
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back(streamll::bind_context([&t, w] {
      for (int i = 0; i < lines; ++i) t.logger->info("worker {} line {}", w, i);
    }));
  }
  // One more thread without the span's context: its lines have no span.
  workers.emplace_back([&t] { t.logger->info("unrelated"); });
  for (auto& worker : workers) worker.join();

  const auto logs = t.logs();
  REQUIRE(logs.size() == threads * lines);
  std::set<std::string> messages;
  for (const auto& e : logs) {
    CHECK(e.span_id() == span.span_id());
    CHECK(e.execution_id() == span.execution_id());
    messages.insert(text(e, "message"));
  }
  CHECK(messages.size() == threads * lines);
  CHECK(messages.count("worker 3 line 249") == 1);
  CHECK(t.sink->forwarded() == threads * lines);
  CHECK(t.sink->dropped_outside_span() == 1);
}

TEST_CASE("spdlog sink: in a sampled-out execution log lines are left out and counted") {
  Logged t({}, 0.0);
  {
    streamll::Span root(t.instrumentor, "request");
    REQUIRE_FALSE(root.sampled());
    const auto before = t.instrumentor->sampled_out_events();  // the root's start
    t.logger->info("one");
    {
      streamll::Span inner("generate");  // inside: the root stays current
      t.logger->error("two");            // an error-level line is still a log event: left out
    }
    CHECK(t.instrumentor->sampled_out_events() == before + 2);
    // The same rule as any custom event.
    streamll::emit("cache_miss");
    CHECK(t.instrumentor->sampled_out_events() == before + 3);
  }
  CHECK(t.memory->size() == 0);
  CHECK(t.sink->forwarded() == 0);
  CHECK(t.sink->dropped_outside_span() == 0);
  // Rate 1 keeps them.
  Logged kept({}, 1.0);
  streamll::Span root(kept.instrumentor, "request");
  kept.logger->info("one");
  CHECK(kept.logs().size() == 1);
}

namespace {
// A sink that logs through the application's logger while it handles an event: what a sink
// reporting its own trouble through spdlog would do.
class LoggingSink final : public streamll::Sink {
 public:
  explicit LoggingSink(std::shared_ptr<spdlog::logger>& logger) : logger_(logger) {}
  void handle(const Event& event) override {
    ++handled;
    if (logger_) logger_->warn("sink saw {}", event.type_name());
  }
  std::atomic<int> handled{0};

 private:
  std::shared_ptr<spdlog::logger>& logger_;
};
}  // namespace

TEST_CASE("spdlog sink: a line logged from inside the sink is dropped, not recursed into") {
  std::shared_ptr<spdlog::logger> logger;
  auto logging = std::make_shared<LoggingSink>(logger);
  auto memory = std::make_shared<streamll::MemorySink>();
  auto instrumentor =
      std::make_shared<streamll::Instrumentor>(streamll::InstrumentorOptions{{logging, memory}});
  auto sink = std::make_shared<streamll::SpdlogSink>();
  logger = std::make_shared<spdlog::logger>("app", sink);

  streamll::Span span(instrumentor, "request");
  logger->info("outer");
  CHECK(memory->events_of_type("log").size() == 1);
  CHECK(logging->handled == 2);  // the span's start and the outer line
  CHECK(sink->forwarded() == 1);
  CHECK(sink->dropped_recursive() == 1);
  logger.reset();
}

TEST_CASE("spdlog sink: records of streamll's own loggers are dropped") {
  for (const char* name : {"streamll", "streamll.sinks.redis", "streamll.sinks.jsonl"}) {
    Logged t({}, std::nullopt, name);
    streamll::Span span(t.instrumentor, "request");
    t.logger->warn("dropped 3 events");
    CHECK(t.logs().empty());
    CHECK(t.sink->dropped_recursive() == 1);
  }
  // Names that only look alike are the application's.
  for (const char* name : {"streamll_app", "streamllx", "app.streamll"}) {
    Logged t({}, std::nullopt, name);
    streamll::Span span(t.instrumentor, "request");
    t.logger->warn("kept");
    CHECK(t.logs().size() == 1);
  }
}

namespace {
class RefusingSink final : public streamll::Sink {
 public:
  void handle(const Event& event) override {
    if (event.type_name() == "log") throw streamll::BufferOverflowError("buffer full");
  }
};
}  // namespace

TEST_CASE("spdlog sink: an event the instrumentor refuses never throws into the log call") {
  auto instrumentor = std::make_shared<streamll::Instrumentor>(
      streamll::InstrumentorOptions{{std::make_shared<RefusingSink>()}});
  auto sink = std::make_shared<streamll::SpdlogSink>();
  auto logger = std::make_shared<spdlog::logger>("app", sink);
  bool spdlog_error_handler_called = false;
  logger->set_error_handler([&](const std::string&) { spdlog_error_handler_called = true; });
  streamll::Span span(instrumentor, "request");
  CHECK_NOTHROW(logger->info("refused"));
  CHECK(sink->failed() == 1);
  CHECK(sink->forwarded() == 0);
  CHECK_FALSE(spdlog_error_handler_called);
  // The thread is not left marked as inside the sink.
  CHECK_FALSE(streamll::detail::inside_spdlog_sink());
}

TEST_CASE("spdlog sink: one sink serves several loggers and ignores patterns") {
  Logged t;
  auto other = std::make_shared<spdlog::logger>("db", t.sink);
  other->set_pattern("%v!!");  // the sink formats nothing: the payload is the message
  streamll::Span span(t.instrumentor, "request");
  t.logger->info("from app");
  other->info("from db");
  const auto logs = t.logs();
  REQUIRE(logs.size() == 2);
  CHECK(text(logs[0], "logger") == "app");
  CHECK(text(logs[1], "logger") == "db");
  CHECK(text(logs[1], "message") == "from db");
}

TEST_CASE("spdlog sink: with capture off a log line's message is removed and counted") {
  auto memory = std::make_shared<streamll::MemorySink>();
  streamll::InstrumentorOptions options;
  options.sinks = {memory};
  options.capture_content = false;
  auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  auto sink = std::make_shared<streamll::SpdlogSink>(streamll::SpdlogSinkOptions{});
  spdlog::logger logger("app", sink);
  {
    streamll::Span span(instrumentor, "request");
    logger.info("answering {}", "SECRET question");
    // A custom event of another name keeps a field called message: only log lines are text.
    streamll::emit("notice", {{"message", "kept"}});
  }
  const auto logs = memory->events_of_type("log");
  REQUIRE(logs.size() == 1);
  CHECK_FALSE(logs[0].data.contains("message"));
  CHECK(logs[0].data.get<std::string>("level") == "info");
  CHECK(logs[0].data.get<std::string>("logger") == "app");
  CHECK(streamll::to_json(logs[0]).find("SECRET") == std::string::npos);
  CHECK(instrumentor->content_fields_removed() == 1);
  const auto notices = memory->events_of_type("notice");
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].data.get<std::string>("message") == "kept");
}

TEST_CASE("spdlog sink: under a caller's trace context a line is an event of the caller's span") {
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-";
  Logged t;
  {
    const auto sampled = streamll::extract_trace_context(traceparent + "01", {}, t.instrumentor);
    REQUIRE(sampled.has_value());
    streamll::ContextScope scope(*sampled);
    t.logger->info("from the service");
  }
  const auto logs = t.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].context->execution_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(logs[0].context->span_id == "00f067aa0ba902b7");
  CHECK(logs[0].tag("environment") == "test");
  CHECK(t.sink->dropped_outside_span() == 0);

  // The caller's flag 00: left out and counted, as the caller decided.
  const auto before = t.instrumentor->sampled_out_events();
  {
    const auto unsampled = streamll::extract_trace_context(traceparent + "00", {}, t.instrumentor);
    REQUIRE(unsampled.has_value());
    streamll::ContextScope scope(*unsampled);
    t.logger->info("not kept");
  }
  CHECK(t.logs().size() == 1);
  CHECK(t.instrumentor->sampled_out_events() == before + 1);
}
