// Rendering of events for terminals, shared by TerminalSink and the `streamll tail` command.
// Everything user-controlled (operations, ids, data, tokens) passes through append_visible()
// before reaching the output, so no event can move the cursor, change colors or retitle the
// terminal.

#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <initializer_list>
#include <iterator>
#include <string_view>

#include "fork_safe_time.hpp"
#include "hex.hpp"
#include "json_writer.hpp"
#include "streamll/sinks/terminal_sink.hpp"

namespace streamll {
namespace {

constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kDim = "\x1b[2m";
constexpr std::string_view kRed = "\x1b[31m";
constexpr std::string_view kBoldRed = "\x1b[1;31m";
constexpr std::string_view kGreen = "\x1b[32m";
constexpr std::string_view kYellow = "\x1b[33m";
constexpr std::string_view kBlue = "\x1b[34m";
constexpr std::string_view kMagenta = "\x1b[35m";
constexpr std::string_view kCyan = "\x1b[36m";

enum class TextMode {
  single_line,   // every control character visible: the text stays on its line
  quoted,        // single_line, plus `"` and `\` escaped: the inside of a quoted string
  token_stream,  // newlines and tabs kept, CRLF folded to LF
  raw_json,      // JSON whitespace (newline, CR, tab) becomes a space
};

void append_hex_byte(std::string& out, unsigned char b) { streamll::detail::append_hex(out, b, 2); }

void append_visible(std::string& out, std::string_view text, TextMode mode) {
  const std::string clean = detail::sanitize_utf8(text);
  for (std::size_t i = 0; i < clean.size(); ++i) {
    const auto c = static_cast<unsigned char>(clean[i]);
    // After sanitize_utf8, 0xC2 always leads a two-byte sequence; C2 80..C2 9F are the C1
    // controls (U+0080..U+009F), which some terminals obey like ESC sequences (0x9B is CSI).
    if (c == 0xC2 && i + 1 < clean.size() && static_cast<unsigned char>(clean[i + 1]) <= 0x9F) {
      out.append("\\u00");
      append_hex_byte(out, static_cast<unsigned char>(clean[i + 1]));
      ++i;
      continue;
    }
    if (c >= 0x20 && c != 0x7F) {
      if (mode == TextMode::quoted && (c == '"' || c == '\\')) out.push_back('\\');
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (mode == TextMode::token_stream) {
      if (c == '\n' || c == '\t') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (c == '\r' && i + 1 < clean.size() && clean[i + 1] == '\n') continue;
    }
    if (mode == TextMode::raw_json && (c == '\n' || c == '\r' || c == '\t')) {
      out.push_back(' ');
      continue;
    }
    switch (c) {
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append("\\x");
        append_hex_byte(out, c);
    }
  }
}

// Appends `text` wrapped in `color` ... reset when colors are on.
void paint(std::string& out, const TerminalFormat& format, std::string_view color,
           std::string_view text) {
  if (format.color) out.append(color);
  out.append(text);
  if (format.color) out.append(kReset);
}

void append_clock(std::string& out, Timestamp t, bool utc) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms / 1000);
  auto millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  if (!detail::calendar_time(secs, utc, tm)) {
    out.append("[??:??:??.???]");
    return;
  }
  fmt::format_to(std::back_inserter(out), "[{:02}:{:02}:{:02}.{:03}]", tm.tm_hour, tm.tm_min,
                 tm.tm_sec, millis);
}

bool finite_number(const Value* v) { return v && v->is_number() && std::isfinite(v->as_double()); }

// 850us below a millisecond (a fast model's time per output token), 45.2ms below a second,
// 1.23s above.
std::string format_duration(double ms) {
  // Compared once scaled: 0.9995 itself scales to 999.5, which would print "1000us".
  if (const double us = ms * 1000.0; std::fabs(us) < 999.5) return fmt::format("{:.0f}us", us);
  if (std::fabs(ms) < 999.95) return fmt::format("{:.1f}ms", ms);  // at most 999.9ms
  return fmt::format("{:.2f}s", ms / 1000.0);
}

// Dollars with up to six decimals and no trailing zeros: $0.0045, $1.5, $0.000012.
std::string format_cost(double usd) {
  std::string s = fmt::format("{:.6f}", usd);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return "$" + s;
}

void append_value(std::string& out, const Value& value) {
  struct Visitor {
    std::string& out;
    void operator()(std::monostate) const { out.append("null"); }
    void operator()(bool b) const { out.append(b ? "true" : "false"); }
    void operator()(std::int64_t i) const { fmt::format_to(std::back_inserter(out), "{}", i); }
    void operator()(double d) const { fmt::format_to(std::back_inserter(out), "{:.6g}", d); }
    void operator()(const std::string& s) const {
      out.push_back('"');
      append_visible(out, s, TextMode::quoted);
      out.push_back('"');
    }
    void operator()(const RawJson& j) const { append_visible(out, j.text, TextMode::raw_json); }
  };
  std::visit(Visitor{out}, value.storage());
}

// " {key=value, ...}" with the fields for which `skip(key)` is false; nothing when none are
// left or data is switched off.
template <typename SkipFn>
void append_data_if(std::string& out, const Event& event, const TerminalFormat& format,
                    SkipFn skip) {
  if (!format.show_data) return;
  bool first = true;
  for (const auto& field : event.data) {
    if (skip(std::string_view(field.key))) continue;
    out.append(first ? " {" : ", ");
    first = false;
    append_visible(out, field.key, TextMode::single_line);
    out.push_back('=');
    append_value(out, field.value);
  }
  if (!first) out.push_back('}');
}

void append_data(std::string& out, const Event& event, const TerminalFormat& format,
                 std::initializer_list<std::string_view> skip = {}) {
  append_data_if(out, event, format, [skip](std::string_view key) {
    for (auto k : skip) {
      if (k == key) return true;
    }
    return false;
  });
}

// The first eight characters of the span id (of the execution id when there is no span).
std::string_view short_id(const Event& event) {
  std::string_view id = event.span_id();
  if (id.empty()) {
    id = event.execution_id();
    if (id.substr(0, 5) == "exec_") id.remove_prefix(5);
  }
  return id.substr(0, 8);
}

// "[16:31:42.156] ▶ operation (a1b2c3d4)"
void append_header(std::string& out, const Event& event, const TerminalFormat& format,
                   std::string_view marker, std::string_view marker_color) {
  std::string clock;
  append_clock(clock, event.timestamp, format.utc);
  paint(out, format, kDim, clock);
  out.push_back(' ');
  paint(out, format, marker_color, marker);
  if (!event.operation().empty()) {
    std::string operation;
    append_visible(operation, event.operation(), TextMode::single_line);
    out.push_back(' ');
    paint(out, format, kBold, operation);
  }
  const std::string_view id = short_id(event);
  if (!id.empty()) {
    std::string text = "(";
    append_visible(text, id, TextMode::single_line);
    text.push_back(')');
    out.push_back(' ');
    paint(out, format, kDim, text);
  }
}

const std::string* string_field(const Event& event, std::string_view key) {
  const Value* v = event.data.find(key);
  return v && v->is_string() ? &v->as_string() : nullptr;
}

void append_duration_field(std::string& out, const Event& event) {
  const Value* duration = event.data.find("duration_ms");
  if (finite_number(duration)) {
    out.push_back(' ');
    out.append(format_duration(duration->as_double()));
  }
}

void render_error(std::string& out, const Event& event, const TerminalFormat& format) {
  append_header(out, event, format, "\xE2\x9C\x96", kBoldRed);  // ✖
  append_duration_field(out, event);
  const std::string* type = string_field(event, "error_type");
  const std::string* message = string_field(event, "error_message");
  std::string text;
  if (type && !type->empty()) append_visible(text, *type, TextMode::single_line);
  if (message && !message->empty()) {
    if (!text.empty()) text.append(": ");
    append_visible(text, *message, TextMode::single_line);
  }
  if (text.empty()) text = "error";
  out.push_back(' ');
  paint(out, format, kRed, text);
  append_data(out, event, format, {"error_type", "error_message", "duration_ms"});
}

void render_llm_call(std::string& out, const Event& event, const TerminalFormat& format) {
  append_header(out, event, format, "\xE2\x97\x86", kMagenta);  // ◆
  std::string summary;
  auto part = [&summary](std::string_view text) {
    if (!summary.empty()) summary.append(" \xC2\xB7 ");  // " · "
    summary.append(text);
  };
  if (const std::string* model = string_field(event, "model")) {
    std::string text;
    append_visible(text, *model, TextMode::single_line);
    part(text);
  }
  if (const Value* tokens = event.data.find("tokens_used"); tokens && tokens->is_number()) {
    const auto n = tokens->as_int();
    part(fmt::format("{} {}", n, n == 1 ? "token" : "tokens"));
  }
  if (const Value* cost = event.data.find("cost_usd"); finite_number(cost)) {
    part(format_cost(cost->as_double()));
  }
  if (const Value* rt = event.data.find("response_time_ms"); finite_number(rt)) {
    part(format_duration(rt->as_double()));
  }
  if (const Value* ttft = event.data.find("ttft_ms"); finite_number(ttft)) {
    part("ttft " + format_duration(ttft->as_double()));
  }
  if (const Value* tpot = event.data.find("time_per_output_token_ms"); finite_number(tpot)) {
    part("tpot " + format_duration(tpot->as_double()));
  }
  if (!summary.empty()) out.append(" ").append(summary);

  const Value* success = event.data.find("success");
  const bool failed = success && success->is_bool() && !success->as_bool();
  std::string_view reason_key;
  if (failed) {
    std::string text = "failed";
    for (std::string_view key : {"error_type", "finish_reason"}) {
      const std::string* reason = string_field(event, key);
      if (reason && !reason->empty()) {
        text.append(": ");
        append_visible(text, *reason, TextMode::single_line);
        reason_key = key;
        break;
      }
    }
    out.append(summary.empty() ? " " : " \xC2\xB7 ");
    paint(out, format, kRed, text);
  }
  append_data_if(out, event, format, [reason_key](std::string_view key) {
    for (std::string_view shown : {"model", "tokens_used", "cost_usd", "response_time_ms",
                                   "ttft_ms", "time_per_output_token_ms", "success"}) {
      if (key == shown) return true;
    }
    return !reason_key.empty() && key == reason_key;
  });
}

// The token's text: the string, or how another value would be shown.
std::string token_text(const Event& event) {
  const Value* token = event.data.find("token");
  if (!token) return {};
  if (token->is_string()) return token->as_string();
  std::string text;
  append_value(text, *token);
  return text;
}

// "[time] » operation (id) [field] " — the text follows.
void append_token_header(std::string& out, const Event& event, const TerminalFormat& format) {
  append_header(out, event, format, "\xC2\xBB", kYellow);  // »
  if (const std::string* field = string_field(event, "field"); field && !field->empty()) {
    out.append(" [");
    append_visible(out, *field, TextMode::single_line);
    out.push_back(']');
  }
  out.push_back(' ');
}

}  // namespace

std::string format_event_line(const Event& event, const TerminalFormat& format) {
  std::string out;
  switch (event.type) {
    case EventType::start:
      append_header(out, event, format, "\xE2\x96\xB6", kGreen);  // ▶
      append_data(out, event, format);
      break;
    case EventType::end:
      append_header(out, event, format, "\xE2\x96\xA0", kBlue);  // ■
      append_duration_field(out, event);
      append_data(out, event, format, {"duration_ms"});
      break;
    case EventType::error:
      render_error(out, event, format);
      break;
    case EventType::llm_call:
      render_llm_call(out, event, format);
      break;
    case EventType::token:
      append_token_header(out, event, format);
      append_visible(out, token_text(event), TextMode::single_line);
      append_data(out, event, format, {"token", "index", "field", "count", "offsets_us"});
      break;
    case EventType::custom: {
      append_header(out, event, format, "\xE2\x97\x8F", kCyan);  // ●
      std::string name;
      append_visible(name, event.type_name(), TextMode::single_line);
      out.push_back(' ');
      paint(out, format, kCyan, name);
      append_data(out, event, format);
      break;
    }
  }
  return out;
}

void TerminalRenderer::render(const Event& event, std::string& out) {
  if (event.type != EventType::token) {
    end_line(out);
    out.append(format_event_line(event, format_));
    out.push_back('\n');
    return;
  }
  const std::string* field_value = string_field(event, "field");
  const std::string_view field = field_value ? std::string_view(*field_value) : std::string_view();
  if (!streaming_ || event.span_id() != stream_span_id_ || field != stream_field_) {
    end_line(out);
    append_token_header(out, event, format_);
    streaming_ = true;
    at_line_start_ = false;
    stream_span_id_ = event.span_id();
    stream_field_ = field;
  }
  const std::size_t before = out.size();
  append_visible(out, token_text(event), TextMode::token_stream);
  if (out.size() > before) at_line_start_ = out.back() == '\n';
}

void TerminalRenderer::end_line(std::string& out) {
  if (!streaming_) return;
  if (!at_line_start_) out.push_back('\n');
  streaming_ = false;
  at_line_start_ = true;
  stream_span_id_.clear();
  stream_field_.clear();
}

}  // namespace streamll
