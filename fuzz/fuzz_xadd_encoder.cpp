// Fuzzes the RedisSink's hand-written XADD encoding (src/redis/sink/xadd_encoder.cpp) against
// hiredis's redisFormatCommandArgv on an argv built independently from the same event, and the
// event's JSON against nlohmann's parser: whatever bytes the event holds, the command must be
// well-formed RESP and the JSON valid, with invalid UTF-8 written as U+FFFD (json_writer.hpp).

#include <fuzzer/FuzzedDataProvider.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hiredis_format.hpp"
#include "json_writer.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/command_buffer.hpp"
#include "streamll/event.hpp"

namespace {

using nlohmann::json;
using streamll::Event;
using streamll::Value;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_xadd_encoder: %s\n", what);
  std::abort();
}

// Strings up to a few hundred bytes, so that JSON lengths cross the 3-digit boundary the
// encoder guesses (and 4600163 fixed) often.
std::string bytes(FuzzedDataProvider& in) { return in.ConsumeRandomLengthString(400); }

Value value(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
      return Value{};
    case 1:
      return Value(in.ConsumeBool());
    case 2:
      return Value(in.ConsumeIntegral<std::int64_t>());
    case 3: {
      // Raw bits: NaN, infinities, subnormals and negative zero included.
      const auto bits = in.ConsumeIntegral<std::uint64_t>();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return Value(d);
    }
    case 4:
      return Value(bytes(in));
    default:
      return Value(streamll::RawJson{bytes(in)});
  }
}

Event event(FuzzedDataProvider& in) {
  Event e;
  e.type = static_cast<streamll::EventType>(in.ConsumeIntegralInRange<int>(0, 5));
  e.custom_type = in.ConsumeRandomLengthString(80);
  e.timestamp = streamll::Timestamp(streamll::Clock::duration(in.ConsumeIntegral<std::int64_t>()));
  e.id.high = in.ConsumeIntegral<std::uint64_t>();
  e.id.low = in.ConsumeIntegral<std::uint64_t>();
  if (in.ConsumeBool()) {
    auto c = std::make_shared<streamll::EventContext>();
    c->execution_id = bytes(in);
    c->span_id = bytes(in);
    c->parent_span_id = bytes(in);
    c->operation = bytes(in);
    c->module_name = bytes(in);
    for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n) {
      std::string key = bytes(in);
      c->tags.emplace_back(std::move(key), bytes(in));
    }
    e.context = std::move(c);
  }
  for (int n = in.ConsumeIntegralInRange<int>(0, 8); n > 0; --n) {
    std::string key = bytes(in);
    e.data.set(key, value(in));
  }
  return e;
}

// What nlohmann must read back for `v` (json_writer.hpp's documented rules).
json expected_value(const Value& v) {
  const auto& s = v.storage();
  if (v.is_null()) return nullptr;
  if (v.is_bool()) return v.as_bool();
  if (v.is_int()) return v.as_int();
  if (v.is_double()) {
    const double d = std::get<double>(s);
    return std::isfinite(d) ? json(d) : json(nullptr);
  }
  if (v.is_string()) return streamll::detail::sanitize_utf8(v.as_string());
  const std::string& raw = v.as_string();
  // nlohmann stops at a NUL as at the end of input, so text holding one is checked here: it
  // is not JSON, whatever precedes the NUL.
  if (!raw.empty() && raw.find('\0') == std::string::npos &&
      streamll::detail::json_nesting_depth(raw) <= streamll::detail::max_json_nesting &&
      json::accept(raw)) {
    return json::parse(raw);
  }
  return streamll::detail::sanitize_utf8(raw);
}

void check_json(const Event& e, const std::string& text) {
  // Depth: at most 256 levels of raw JSON inside data inside the event.
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    const std::size_t at = e.byte > 40 ? e.byte - 40 : 0;
    std::string near = text.substr(at, 80);
    std::fprintf(stderr, "%s\nnear: ", e.what());
    for (unsigned char c : near) std::fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    std::fprintf(stderr, "\n");
    fail("append_json wrote text nlohmann cannot parse");
  }
  using streamll::detail::sanitize_utf8;
  if (doc["event_type"] != sanitize_utf8(e.type_name())) fail("event_type differs");
  if (doc["event_id"] != e.id.to_string()) fail("event_id differs");
  if (doc["timestamp"] != streamll::format_timestamp(e.timestamp)) fail("timestamp differs");
  if (doc["execution_id"] != sanitize_utf8(e.execution_id())) fail("execution_id differs");
  if (doc["operation"] != sanitize_utf8(e.operation())) fail("operation differs");
  if (doc["span_id"] != sanitize_utf8(e.span_id())) fail("span_id differs");
  const json parent =
      e.parent_span_id().empty() ? json(nullptr) : json(sanitize_utf8(e.parent_span_id()));
  if (doc["parent_span_id"] != parent) fail("parent_span_id differs");
  if (e.module_name().empty() ? doc.contains("module_name")
                              : doc["module_name"] != sanitize_utf8(e.module_name())) {
    fail("module_name differs");
  }
  // Distinct keys can meet as one after U+FFFD replacement: the last one written wins, as in
  // nlohmann's parse.
  json data = json::object(), tags = json::object();
  for (const auto& field : e.data) data[sanitize_utf8(field.key)] = expected_value(field.value);
  for (const auto& [key, value] : e.tags()) tags[sanitize_utf8(key)] = sanitize_utf8(value);
  if (doc["data"] != data) fail("data differs");
  if (doc["tags"] != tags) fail("tags differs");
  if (doc.size() != (e.module_name().empty() ? 9u : 10u)) fail("unexpected top-level keys");
}

std::string encode(const streamll::redis::XaddEncoder& encoder,
                   const streamll::redis::BufferedEvent& item) {
  streamll::redis::CommandBuffer commands;
  // Twice: the second command must land after the first, not over it.
  if (encoder.append_command(item, commands) != streamll::redis::EncodeResult::ok ||
      encoder.append_command(item, commands) != streamll::redis::EncodeResult::ok) {
    fail("append_command failed");
  }
  if (commands.command_count() != 2 || !commands.complete()) fail("command count");
  const std::string& all = commands.bytes();
  if (all.size() % 2 != 0 || all.substr(0, all.size() / 2) != all.substr(all.size() / 2)) {
    fail("the second command differs from the first");
  }
  return all.substr(0, all.size() / 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  streamll::RedisSinkOptions options;
  options.stream_key = in.ConsumeRandomLengthString(64);
  options.max_event_bytes = 0;  // byte-exact encoding here; cutting is tested by unit tests
  options.index_fields = in.ConsumeBool();
  options.approximate_trimming = in.ConsumeBool();
  if (in.ConsumeBool()) {
    options.max_stream_length = in.ConsumeIntegral<std::size_t>();
  } else {
    options.max_stream_length.reset();
  }
  if (in.ConsumeBool()) {  // token events to a stream of their own (empty: none)
    options.token_stream_key = in.ConsumeRandomLengthString(64);
    if (in.ConsumeBool()) {
      options.token_max_stream_length = in.ConsumeIntegral<std::size_t>();
    } else {
      options.token_max_stream_length.reset();
    }
  }
  const Event e = event(in);

  std::string text;
  if (!streamll::append_json(e, text)) fail("append_json failed");
  check_json(e, text);

  const std::string expected =
      streamll_test::hiredis_format(streamll_test::xadd_argv(options, e, text));

  const streamll::redis::XaddEncoder encoder(options);
  if (encode(encoder, e) != expected) fail("XADD bytes of the Event differ from hiredis's");

  std::string fields = "prefix";  // appended to, not overwritten
  if (encoder.append_fields(e, fields) != streamll::redis::EncodeResult::ok ||
      fields.compare(0, 6, "prefix") != 0) {
    fail("append_fields failed");
  }
  // The fields end the command, after its head.
  const std::string own = fields.substr(6);
  if (own.size() > expected.size() ||
      expected.compare(expected.size() - own.size(), own.size(), own) != 0) {
    fail("append_fields' bytes are not the end of hiredis's command");
  }

  // compact() may swap the event for its encoded command; the command must not change.
  streamll::redis::BufferedEvent item = e;
  std::string scratch;
  encoder.compact(item, scratch);
  if (encode(encoder, item) != expected) fail("XADD bytes after compact() differ from hiredis's");
  return 0;
}
