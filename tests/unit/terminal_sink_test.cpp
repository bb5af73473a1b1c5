#include <streamll/sinks/terminal_sink.hpp>

#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stalling_output.hpp"

namespace {

using streamll::ColorMode;
using streamll::Event;
using streamll::EventType;
using streamll::Fields;
using streamll::TerminalFormat;
using streamll::TerminalSinkOptions;
using streamll::testing::finishes_within;
using streamll::testing::GateStreambuf;
using streamll::testing::kPatience;

constexpr std::chrono::milliseconds kShortTimeout{50};

const TerminalFormat kPlain{/*color=*/false, /*show_data=*/true, /*utc=*/true};

streamll::Timestamp at(const char* rfc3339) {
  streamll::Timestamp t;
  REQUIRE(streamll::parse_timestamp(rfc3339, t));
  return t;
}

std::shared_ptr<const streamll::EventContext> context(std::string operation, std::string span_id) {
  auto ctx = std::make_shared<streamll::EventContext>();
  ctx->execution_id = "exec_0123456789abcdef";
  ctx->span_id = std::move(span_id);
  ctx->operation = std::move(operation);
  return ctx;
}

Event make_event(EventType type, Fields data, const char* time = "2024-01-15T16:31:42.156789Z",
                 std::string operation = "document_retrieval",
                 std::string span_id = "a1b2c3d4e5f60718") {
  Event e;
  e.type = type;
  e.timestamp = at(time);
  e.context = context(std::move(operation), std::move(span_id));
  e.data = std::move(data);
  return e;
}

Event make_token(std::string text, std::string span_id = "e5f6a7b8a9b0c1d2") {
  return make_event(EventType::token, {{"token", std::move(text)}, {"index", 0}},
                    "2024-01-15T16:31:42.205000Z", "answer_generation", std::move(span_id));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
      had_ = true;
    }
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE("terminal: start line shows time, marker, operation, short span id and data", "[sinks]") {
  const Event e = make_event(EventType::start, {{"query", "what is rag"}, {"top_k", 5}});
  CHECK(
      streamll::format_event_line(e, kPlain) ==
      "[16:31:42.156] \xE2\x96\xB6 document_retrieval (a1b2c3d4) {query=\"what is rag\", top_k=5}");
  const Event bare = make_event(EventType::start, {});
  CHECK(streamll::format_event_line(bare, kPlain) ==
        "[16:31:42.156] \xE2\x96\xB6 document_retrieval (a1b2c3d4)");
}

TEST_CASE("terminal: end line shows the duration and the remaining data", "[sinks]") {
  const Event e = make_event(EventType::end, {{"documents", 5}, {"duration_ms", 45.23}},
                             "2024-01-15T16:31:42.201Z");
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:42.201] \xE2\x96\xA0 document_retrieval (a1b2c3d4) 45.2ms {documents=5}");
  const Event slow = make_event(EventType::end, {{"duration_ms", 1234.5}});
  CHECK(streamll::format_event_line(slow, kPlain) ==
        "[16:31:42.156] \xE2\x96\xA0 document_retrieval (a1b2c3d4) 1.23s");
  // Below a millisecond in whole microseconds (a fast model's tpot would read 0.0ms), never
  // "1000us" or "1000.0ms".
  const std::pair<double, const char*> cases[] = {
      {0.0, "0us"},      {0.0404, "40us"},    {0.9994, "999us"}, {0.9995, "1.0ms"},
      {0.9996, "1.0ms"}, {999.94, "999.9ms"}, {999.96, "1.00s"}};
  for (const auto& [ms, shown] : cases) {
    CAPTURE(ms);
    CHECK(streamll::format_event_line(make_event(EventType::end, {{"duration_ms", ms}}), kPlain) ==
          std::string("[16:31:42.156] \xE2\x96\xA0 document_retrieval (a1b2c3d4) ") + shown);
  }
}

TEST_CASE("terminal: error line marks the error with type, message and duration", "[sinks]") {
  const Event e = make_event(EventType::error, {{"error_type", "std::runtime_error"},
                                                {"error_message", "index unavailable"},
                                                {"duration_ms", 12.0},
                                                {"model", "gpt-4o"}});
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:42.156] \xE2\x9C\x96 document_retrieval (a1b2c3d4) 12.0ms std::runtime_error: "
        "index unavailable {model=\"gpt-4o\"}");
  const Event empty = make_event(EventType::error, {});
  CHECK(streamll::format_event_line(empty, kPlain) ==
        "[16:31:42.156] \xE2\x9C\x96 document_retrieval (a1b2c3d4) error");
}

TEST_CASE("terminal: llm_call line shows model, tokens, cost, response time, ttft and tpot",
          "[sinks]") {
  const Event e = make_event(EventType::llm_call,
                             {{"model", "gpt-4o-mini"},
                              {"provider", "openai"},
                              {"tokens_used", 150},
                              {"input_tokens", 100},
                              {"output_tokens", 50},
                              {"cost_usd", 0.0045},
                              {"response_time_ms", 1210.0},
                              {"ttft_ms", 120.0},
                              {"tokens_per_second", 41.32231404958678},
                              {"finish_reason", "stop"},
                              {"success", true}},
                             "2024-01-15T16:31:43.410Z", "answer_generation", "e5f6a7b8a9b0c1d2");
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:43.410] \xE2\x97\x86 answer_generation (e5f6a7b8) gpt-4o-mini \xC2\xB7 150 tokens "
        "\xC2\xB7 $0.0045 \xC2\xB7 1.21s \xC2\xB7 ttft 120.0ms {provider=\"openai\", "
        "input_tokens=100, output_tokens=50, tokens_per_second=41.3223, finish_reason=\"stop\"}");

  // A streamed call: time per output token joins the summary; the other figures stay in data.
  const Event streamed =
      make_event(EventType::llm_call,
                 {{"model", "gpt-4o-mini"},
                  {"response_time_ms", 1210.0},
                  {"ttft_ms", 120.0},
                  {"time_per_output_token_ms", 22.4},
                  {"inter_token_ms_p95", 31.5},
                  {"success", true}},
                 "2024-01-15T16:31:43.410Z", "answer_generation", "e5f6a7b8a9b0c1d2");
  CHECK(streamll::format_event_line(streamed, kPlain) ==
        "[16:31:43.410] \xE2\x97\x86 answer_generation (e5f6a7b8) gpt-4o-mini \xC2\xB7 1.21s "
        "\xC2\xB7 ttft 120.0ms \xC2\xB7 tpot 22.4ms {inter_token_ms_p95=31.5}");

  const Event failed =
      make_event(EventType::llm_call,
                 {{"model", "gpt-4o"},
                  {"tokens_used", 1},
                  {"response_time_ms", 30000.0},
                  {"success", false},
                  {"error_type", "TimeoutError"}},
                 "2024-01-15T16:31:43.410Z", "answer_generation", "e5f6a7b8a9b0c1d2");
  CHECK(streamll::format_event_line(failed, kPlain) ==
        "[16:31:43.410] \xE2\x97\x86 answer_generation (e5f6a7b8) gpt-4o \xC2\xB7 1 token \xC2\xB7 "
        "30.00s \xC2\xB7 failed: TimeoutError");
}

TEST_CASE("terminal: custom event line shows its name and compact data", "[sinks]") {
  Event e = make_event(EventType::custom, {{"count", 3},
                                           {"score", 0.875},
                                           {"cached", false},
                                           {"note", nullptr},
                                           {"ids", streamll::RawJson{"[1,\n 2]"}}});
  e.custom_type = "retrieved_docs";
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:42.156] \xE2\x97\x8F document_retrieval (a1b2c3d4) retrieved_docs {count=3, "
        "score=0.875, cached=false, note=null, ids=[1,  2]}");

  // Outside any span: no operation and no id.
  Event loose;
  loose.type = EventType::custom;
  loose.custom_type = "cache_miss";
  loose.timestamp = at("2024-01-15T16:31:42.156Z");
  CHECK(streamll::format_event_line(loose, kPlain) == "[16:31:42.156] \xE2\x97\x8F cache_miss");
}

TEST_CASE("terminal: show_data off leaves only the summary", "[sinks]") {
  TerminalFormat quiet = kPlain;
  quiet.show_data = false;
  const Event e = make_event(EventType::end, {{"documents", 5}, {"duration_ms", 45.23}});
  CHECK(streamll::format_event_line(e, quiet) ==
        "[16:31:42.156] \xE2\x96\xA0 document_retrieval (a1b2c3d4) 45.2ms");
}

TEST_CASE("terminal: token as a single line names its field and escapes newlines", "[sinks]") {
  Event e = make_token("Hello\nworld");
  e.data.set("field", "answer");
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) [answer] Hello\\nworld");
}

TEST_CASE("terminal: a chunk of tokens shows its text and none of its bookkeeping", "[sinks]") {
  Event e = make_token("Retrieval-augmented generation");
  e.data.set("count", 3);
  e.data.set("offsets_us", streamll::RawJson{"[0,15000,30000]"});
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) Retrieval-augmented generation");
}

TEST_CASE("terminal: consecutive tokens of one span stream inline on one line", "[sinks]") {
  streamll::TerminalRenderer renderer(kPlain);
  std::string out;
  renderer.render(make_event(EventType::start, {}, "2024-01-15T16:31:42.200Z", "answer_generation",
                             "e5f6a7b8a9b0c1d2"),
                  out);
  renderer.render(make_token("Retrieval"), out);
  renderer.render(make_token("-augmented"), out);
  renderer.render(make_token(" generation"), out);
  CHECK(renderer.streaming());
  renderer.render(make_event(EventType::end, {{"duration_ms", 5.0}}, "2024-01-15T16:31:42.300Z",
                             "answer_generation", "e5f6a7b8a9b0c1d2"),
                  out);
  CHECK_FALSE(renderer.streaming());
  CHECK(out ==
        "[16:31:42.200] \xE2\x96\xB6 answer_generation (e5f6a7b8)\n"
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) Retrieval-augmented generation\n"
        "[16:31:42.300] \xE2\x96\xA0 answer_generation (e5f6a7b8) 5.0ms\n");
}

TEST_CASE("terminal: another span's token or another field starts a new token line", "[sinks]") {
  streamll::TerminalRenderer renderer(kPlain);
  std::string out;
  renderer.render(make_token("a1", "1111111111111111"), out);
  renderer.render(make_token("b1", "2222222222222222"), out);
  renderer.render(make_token("b2", "2222222222222222"), out);
  Event field_token = make_token("x", "2222222222222222");
  field_token.data.set("field", "reasoning");
  renderer.render(field_token, out);
  renderer.end_line(out);
  renderer.end_line(out);  // nothing open: no blank line
  CHECK(out ==
        "[16:31:42.205] \xC2\xBB answer_generation (11111111) a1\n"
        "[16:31:42.205] \xC2\xBB answer_generation (22222222) b1b2\n"
        "[16:31:42.205] \xC2\xBB answer_generation (22222222) [reasoning] x\n");
}

TEST_CASE("terminal: streamed newlines are kept and never doubled when the line ends", "[sinks]") {
  streamll::TerminalRenderer renderer(kPlain);
  std::string out;
  renderer.render(make_token("line one\r\n"), out);
  renderer.render(make_token("\tline two\n"), out);
  renderer.render(make_event(EventType::end, {}), out);
  CHECK(out ==
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) line one\n"
        "\tline two\n"
        "[16:31:42.156] \xE2\x96\xA0 document_retrieval (a1b2c3d4)\n");
}

TEST_CASE("terminal: invalid UTF-8 and control characters in tokens are made harmless", "[sinks]") {
  // 0xFF is never valid UTF-8; ESC [31m would turn the terminal red; BEL rings; C2 9B is the
  // C1 control CSI; a lone CR would overwrite the line.
  const std::string nasty = "ok\xFF\x1b[31mred\x07\xC2\x9B\rend";
  streamll::TerminalRenderer renderer(kPlain);
  std::string out;
  renderer.render(make_token(nasty), out);
  renderer.end_line(out);
  CHECK(out ==
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) ok\xEF\xBF\xBD\\x1b[31mred"
        "\\x07\\u009b\\rend\n");
  CHECK(streamll::format_event_line(make_token(nasty), kPlain) ==
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) ok\xEF\xBF\xBD\\x1b[31mred"
        "\\x07\\u009b\\rend");
  // Truncated multi-byte sequence at the end of a token, then a valid one (é, ✓).
  CHECK(streamll::format_event_line(make_token("caf\xC3\xA9 \xE2\x9C\x93 \xE2\x9C"), kPlain) ==
        "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) caf\xC3\xA9 \xE2\x9C\x93 "
        "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("terminal: operation names, ids and data strings cannot inject escapes", "[sinks]") {
  Event e = make_event(EventType::start, {{"q", "say \"hi\"\n\x1b]0;title\x07"}},
                       "2024-01-15T16:31:42.156Z", "op\x1b[2J", "\x1b[Hdeadbeefcafe");
  CHECK(streamll::format_event_line(e, kPlain) ==
        "[16:31:42.156] \xE2\x96\xB6 op\\x1b[2J (\\x1b[Hdeadb) {q=\"say "
        "\\\"hi\\\"\\n\\x1b]0;title\\x07\"}");
}

TEST_CASE("terminal: colors on wrap markers in ANSI codes, colors off emits none", "[sinks]") {
  const Event e = make_event(EventType::start, {});
  TerminalFormat colored = kPlain;
  colored.color = true;
  CHECK(streamll::format_event_line(e, colored) ==
        "\x1b[2m[16:31:42.156]\x1b[0m \x1b[32m\xE2\x96\xB6\x1b[0m \x1b[1mdocument_retrieval\x1b[0m "
        "\x1b[2m(a1b2c3d4)\x1b[0m");

  const Event error = make_event(EventType::error, {{"error_type", "E"}, {"error_message", "m"}});
  CHECK(streamll::format_event_line(error, colored).find("\x1b[31mE: m\x1b[0m") !=
        std::string::npos);

  std::ostringstream always_out, never_out;
  {
    streamll::TerminalSink always({&always_out, ColorMode::always});
    streamll::TerminalSink never({&never_out, ColorMode::never});
    CHECK(always.colors_enabled());
    CHECK_FALSE(never.colors_enabled());
    for (EventType type : {EventType::start, EventType::token, EventType::llm_call,
                           EventType::error, EventType::end}) {
      Event ev = make_event(type, {{"token", "t"}, {"error_type", "E"}, {"model", "m"}});
      always.handle(ev);
      never.handle(ev);
    }
    CHECK(always.shutdown(kPatience));
    CHECK(never.shutdown(kPatience));
  }
  CHECK(always_out.str().find("\x1b[") != std::string::npos);
  CHECK(never_out.str().find('\x1b') == std::string::npos);
  CHECK(lines_of(never_out.str()).size() == 5);
}

TEST_CASE("terminal: automatic color needs a terminal and respects NO_COLOR", "[sinks]") {
  ScopedEnv term("TERM", "xterm-256color");
  {
    ScopedEnv no_color("NO_COLOR", nullptr);
    CHECK(streamll::should_use_color(ColorMode::automatic, true));
    CHECK_FALSE(streamll::should_use_color(ColorMode::automatic, false));
    CHECK(streamll::should_use_color(ColorMode::always, false));
    CHECK_FALSE(streamll::should_use_color(ColorMode::never, true));
  }
  {
    ScopedEnv no_color("NO_COLOR", "1");
    CHECK_FALSE(streamll::should_use_color(ColorMode::automatic, true));
    CHECK(streamll::should_use_color(ColorMode::always, true));  // an explicit choice wins
  }
  {
    ScopedEnv no_color("NO_COLOR", "");  // set but empty: ignored, as no-color.org says
    CHECK(streamll::should_use_color(ColorMode::automatic, true));
  }
  {
    ScopedEnv no_color("NO_COLOR", nullptr);
    ScopedEnv dumb("TERM", "dumb");  // a terminal that cannot show escapes
    CHECK_FALSE(streamll::should_use_color(ColorMode::automatic, true));
  }
  // A string stream is never a terminal, so automatic mode writes no escapes to it.
  std::ostringstream out;
  CHECK_FALSE(streamll::is_terminal(out));
  streamll::TerminalSink sink({&out, ColorMode::automatic});
  CHECK_FALSE(sink.colors_enabled());
}

TEST_CASE("terminal: timestamps in local time or UTC", "[sinks]") {
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  ::setenv("TZ", "XYZ-2", 1);  // POSIX TZ: two hours east of UTC, no DST
  ::tzset();
  const Event e = make_event(EventType::start, {});
  TerminalFormat local = kPlain;
  local.utc = false;
  const std::string local_line = streamll::format_event_line(e, local);
  const std::string utc_line = streamll::format_event_line(e, kPlain);
  if (old_tz) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
  CHECK(local_line.rfind("[18:31:42.156] ", 0) == 0);
  CHECK(utc_line.rfind("[16:31:42.156] ", 0) == 0);
}

TEST_CASE("terminal sink: a real span and LLM call, tokens inline, line ended at shutdown",
          "[sinks]") {
  std::ostringstream out;
  auto sink = std::make_shared<streamll::TerminalSink>(
      streamll::TerminalSinkOptions{&out, ColorMode::never, true, true});
  streamll::Instrumentor instrumentor(streamll::InstrumentorOptions{{sink}, {}, {}});
  std::string span_id, call_span_id;
  {
    streamll::Span span(instrumentor, "answer_generation");
    span_id = span.span_id();
    streamll::LlmCall call(instrumentor, "tiny-model");
    call_span_id = call.context()->span_id;
    call.token("Hello");
    call.token(", world");
    call.finish({});
  }
  CHECK(sink->shutdown(kPatience));
  CHECK(sink->written() == 5);
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].find("\xE2\x96\xB6 answer_generation (" + span_id.substr(0, 8) + ")") !=
        std::string::npos);
  CHECK(lines[1].find("\xC2\xBB answer_generation (" + call_span_id.substr(0, 8) +
                      ") Hello, world") != std::string::npos);
  CHECK(lines[2].find("\xE2\x97\x86 answer_generation (" + call_span_id.substr(0, 8) +
                      ") tiny-model \xC2\xB7 2 tokens") != std::string::npos);
  CHECK(lines[3].find("\xE2\x96\xA0 answer_generation (" + span_id.substr(0, 8) + ") ") !=
        std::string::npos);
}

TEST_CASE("terminal sink: a chunked LLM call streams its text inline as each does", "[sinks]") {
  std::ostringstream out;
  auto sink = std::make_shared<streamll::TerminalSink>(
      streamll::TerminalSinkOptions{&out, ColorMode::never, true, true});
  streamll::InstrumentorOptions options{{sink}, {}, {}};
  options.token_mode = streamll::TokenMode::chunked;
  options.token_chunking = streamll::TokenChunking{2, std::chrono::milliseconds(0)};
  streamll::Instrumentor instrumentor(std::move(options));
  {
    streamll::LlmCall call(instrumentor, "tiny-model");
    for (const char* token : {"Hello", ",", " wor", "ld", "!"}) call.token(token);
    call.finish({});
  }
  CHECK(sink->shutdown(kPatience));
  CHECK(sink->written() == 4);  // three chunks and the llm_call
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(") Hello, world!") != std::string::npos);
  CHECK(lines[1].find("tiny-model \xC2\xB7 5 tokens") != std::string::npos);
}

TEST_CASE("terminal sink: shutdown ends an open token line, later events are dropped", "[sinks]") {
  std::ostringstream out;
  streamll::TerminalSink sink({&out, ColorMode::never, true, true});
  sink.handle(make_token("partial"));
  REQUIRE(sink.flush(kPatience));  // written on the sink's thread: wait for it
  CHECK(out.str() == "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) partial");
  CHECK(sink.is_running());
  CHECK(sink.shutdown(kPatience));
  CHECK_FALSE(sink.is_running());
  CHECK(out.str() == "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) partial\n");
  sink.handle(make_event(EventType::start, {}));
  sink.handle(make_token("more"));
  CHECK(sink.dropped() == 2);
  CHECK(sink.written() == 1);
  CHECK(sink.shutdown(kPatience));  // twice is fine
  CHECK(sink.flush(kPatience));     // after shutdown: shutdown's answer
  CHECK(out.str() == "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) partial\n");
}

// A stream buffer that refuses every byte, like a closed pipe.
class RefusingBuffer : public std::streambuf {
 protected:
  int_type overflow(int_type) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};

TEST_CASE("terminal sink: a failing stream is counted, never thrown", "[sinks]") {
  RefusingBuffer refusing;
  std::ostream broken(&refusing);
  streamll::TerminalSink sink({&broken, ColorMode::never});
  CHECK_NOTHROW(sink.handle(make_event(EventType::start, {})));
  CHECK_NOTHROW(sink.handle(make_event(EventType::end, {})));
  CHECK_FALSE(sink.flush(kPatience));  // events were lost since the last flush
  CHECK(sink.write_errors() == 2);
  CHECK(sink.written() == 0);
  CHECK(broken.good());          // cleared, so the next event tries again
  CHECK(sink.flush(kPatience));  // nothing lost since

  std::ostream throwing(&refusing);
  throwing.exceptions(std::ios::badbit | std::ios::failbit);
  streamll::TerminalSink throwing_sink({&throwing, ColorMode::never});
  CHECK_NOTHROW(throwing_sink.handle(make_event(EventType::start, {})));
  CHECK_FALSE(throwing_sink.flush(kPatience));
  CHECK(throwing_sink.write_errors() == 1);
}

// Custom events numbered 0, 1, 2, ...: "[16:31:42.156] ● document_retrieval (a1b2c3d4) tick {i=N}".
std::vector<Event> numbered_events(int count) {
  std::vector<Event> events;
  for (int i = 0; i < count; ++i) {
    Event e = make_event(EventType::custom, {{"i", i}});
    e.custom_type = "tick";
    events.push_back(std::move(e));
  }
  return events;
}

std::string numbered_line(int i) {
  return "[16:31:42.156] \xE2\x97\x8F document_retrieval (a1b2c3d4) tick {i=" + std::to_string(i) +
         "}";
}

TEST_CASE("terminal sink: handle() returns at once while the output is stalled", "[sinks]") {
  GateStreambuf gate(/*open=*/false);  // a terminal paused with Ctrl-S
  std::ostream out(&gate);
  streamll::TerminalSink sink({&out, ColorMode::never, true, true});
  const auto events = numbered_events(1001);
  sink.handle(events[0]);
  REQUIRE(gate.wait_until_blocked());  // the sink's thread is stuck writing event 0

  // With the sink writing on the caller's thread the first call below would block for good;
  // run them elsewhere so that such a regression fails instead of hanging.
  const bool returned = finishes_within(
      kPatience,
      [&] {
        for (int i = 1; i <= 1000; ++i) sink.handle(events[i]);
      },
      [&] { gate.open_gate(); });
  REQUIRE(returned);
  CHECK(gate.blocked() == 1);  // still stuck: nothing above waited for it

  CHECK_FALSE(sink.flush(kShortTimeout));  // cannot finish while stalled
  gate.open_gate();
  CHECK(sink.flush(kPatience));
  CHECK(sink.written() == 1001);
  CHECK(sink.dropped() == 0);
  CHECK(sink.write_errors() == 0);
  const auto lines = lines_of(gate.str());
  REQUIRE(lines.size() == 1001);
  for (int i = 0; i <= 1000; ++i) CHECK(lines[i] == numbered_line(i));
}

TEST_CASE("terminal sink: a stalled output holds queue_size events and counts every drop",
          "[sinks]") {
  GateStreambuf gate(/*open=*/false);
  std::ostream out(&gate);
  TerminalSinkOptions options{&out, ColorMode::never, true, true};
  options.queue_size = 8;
  streamll::TerminalSink sink(options);
  const auto events = numbered_events(21);
  sink.handle(events[0]);
  REQUIRE(gate.wait_until_blocked());  // event 0 is being written: one of the 8 places
  for (int i = 1; i <= 20; ++i) sink.handle(events[i]);
  CHECK(sink.dropped() == 13);  // 7 more fit; drop_newest refuses the other 13 at once

  gate.open_gate();
  CHECK_FALSE(sink.flush(kPatience));  // written, but 13 were lost since the last flush
  CHECK(sink.written() == 8);
  CHECK(sink.dropped() == 13);
  CHECK(sink.write_errors() == 0);
  const auto lines = lines_of(gate.str());
  REQUIRE(lines.size() == 8);
  for (int i = 0; i < 8; ++i) CHECK(lines[i] == numbered_line(i));  // the oldest, in order
  CHECK(sink.flush(kPatience));  // nothing lost since the previous flush
}

TEST_CASE("terminal sink: queue_size 0 is a configuration error", "[sinks]") {
  std::ostringstream out;
  TerminalSinkOptions options{&out};
  options.queue_size = 0;
  try {
    streamll::TerminalSink sink(options);
    FAIL("no exception");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "queue_size");
  }
}

TEST_CASE("terminal sink: shutdown gives up on a stalled output within its timeout", "[sinks]") {
  GateStreambuf gate(/*open=*/false);
  std::ostream out(&gate);
  TerminalSinkOptions options{&out, ColorMode::never, true, true};
  options.queue_size = 8;
  streamll::TerminalSink sink(options);
  const auto events = numbered_events(6);
  sink.handle(make_token("open line"));  // the line shutdown would end
  REQUIRE(gate.wait_until_blocked());
  for (const Event& e : events) sink.handle(e);

  bool shut_down = true;
  const bool returned = finishes_within(
      kPatience, [&] { shut_down = sink.shutdown(kShortTimeout); }, [&] { gate.open_gate(); });
  REQUIRE(returned);
  CHECK_FALSE(shut_down);
  CHECK_FALSE(sink.is_running());
  sink.handle(events[0]);
  CHECK(sink.dropped() == 7);  // the 6 it gave up on, and the one after shutdown

  // The write it was stuck in completes when the output moves again; nothing follows it. A
  // flush after such a shutdown waits for that write, so the stream is ours again after it.
  gate.open_gate();
  CHECK_FALSE(sink.flush(kPatience));
  CHECK(sink.written() == 1);
  CHECK(sink.written() + sink.write_errors() + sink.dropped() == 8);
  CHECK(gate.str() == "[16:31:42.205] \xC2\xBB answer_generation (e5f6a7b8) open line");
}

TEST_CASE("terminal sink: a pipe nobody reads never blocks emitting", "[sinks]") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const std::size_t filler = streamll::testing::fill_pipe(fds[1]);
  streamll::testing::FdStreambuf pipe_buf(fds[1]);
  std::ostream out(&pipe_buf);
  const auto events = numbered_events(200);
  {
    auto sink = std::make_shared<streamll::TerminalSink>(
        TerminalSinkOptions{&out, ColorMode::never, true, true});
    streamll::Instrumentor instrumentor(streamll::InstrumentorOptions{{sink}, {}, {}});
    const bool returned = finishes_within(
        kPatience,
        [&] {
          for (const Event& e : events) instrumentor.emit(Event(e));
        },
        [&] {
          // A failing test: end the stuck write with EPIPE instead of hanging.
          std::signal(SIGPIPE, SIG_IGN);
          ::close(fds[0]);
        });
    REQUIRE(returned);  // (the read end is closed then, and this test ends here)
    CHECK_FALSE(sink->flush(kShortTimeout));  // the pipe is full: the write cannot finish

    // Now read it: everything arrives, in order, after the filler.
    std::string received;
    std::thread reader([&] {
      char chunk[4096];
      ssize_t n;
      while ((n = ::read(fds[0], chunk, sizeof chunk)) > 0)
        received.append(chunk, static_cast<std::size_t>(n));
    });
    CHECK(sink->flush(kPatience));
    CHECK(sink->shutdown(kPatience));
    ::close(fds[1]);  // end of file for the reader
    reader.join();
    CHECK(sink->written() == 200);
    CHECK(sink->dropped() == 0);
    REQUIRE(received.size() > filler);
    const auto lines = lines_of(received.substr(filler));
    REQUIRE(lines.size() == 200);
    for (int i = 0; i < 200; ++i) CHECK(lines[i] == numbered_line(i));
  }
  ::close(fds[0]);
}

TEST_CASE("terminal sink: concurrent threads write whole lines, none lost", "[sinks]") {
  std::ostringstream out;
  streamll::TerminalSink sink({&out, ColorMode::never, true, true});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  // Built up front: Catch2 assertions (used by make_event) are not thread-safe.
  std::vector<std::vector<Event>> events(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      Event e = make_event(EventType::custom, {{"thread", t}, {"i", i}});
      e.custom_type = "tick";
      events[t].push_back(std::move(e));
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&sink, &mine = events[t]] {
      for (const Event& e : mine) sink.handle(e);
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(sink.flush(kPatience));
  CHECK(sink.written() == kThreads * kPerThread);
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == static_cast<std::size_t>(kThreads * kPerThread));
  std::vector<int> per_thread(kThreads, 0);
  const std::string prefix =
      "[16:31:42.156] \xE2\x97\x8F document_retrieval (a1b2c3d4) tick {thread=";
  for (const auto& line : lines) {
    REQUIRE(line.rfind(prefix, 0) == 0);
    const int t = line[prefix.size()] - '0';
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    // Each thread's events keep the order it emitted them in.
    CHECK(line == prefix + std::to_string(t) + ", i=" + std::to_string(per_thread[t]) + "}");
    ++per_thread[t];
  }
}
