// XaddEncoder's XADD commands, byte for byte, against hiredis's formatter given the arguments
// the command stands for: XADD <key> [MAXLEN [~] <n>] * event <json> [event_type <t>
// operation <o> execution_id <x>], the JSON from append_json. Covers both forms a buffered
// event takes (the Event, and its whole command encoded by compact), token events routed to a
// token_stream_key with its own MAXLEN, every JSON length
// whose digit count changes (where 4600163 fixed a corrupt length), bytes JSON must escape or
// replace, hundreds of fields, every head shape, and a seeded random sweep.

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "hiredis_format.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/command_buffer.hpp"
#include "streamll/streamll.hpp"

namespace {

using streamll::Event;
using streamll::EventContext;
using streamll::EventType;
using streamll::Fields;
using streamll::RawJson;
using streamll::RedisSinkOptions;
using streamll::Value;
using streamll::redis::BufferedEvent;
using streamll::redis::CommandBuffer;
using streamll::redis::XaddEncoder;
using streamll_test::byte_mismatch;
using streamll_test::hiredis_format;
using streamll_test::xadd_argv;

RedisSinkOptions sink_options(std::string key, std::optional<std::size_t> max_length,
                              bool approximate, bool index_fields) {
  RedisSinkOptions o;
  o.stream_key = std::move(key);
  o.max_stream_length = max_length;
  o.approximate_trimming = approximate;
  o.index_fields = index_fields;
  o.max_event_bytes = 0;  // byte-exact encoding here; cutting has its own tests
  return o;
}

// The head shapes: trimming exact, approximate or off, index fields on and off.
std::vector<RedisSinkOptions> head_variants(const std::string& key) {
  return {sink_options(key, 1000000, true, false), sink_options(key, 1000000, false, true),
          sink_options(key, std::nullopt, true, true), sink_options(key, 7, false, false)};
}

struct Checked {
  std::string json;  // the event's JSON, for further checks
  bool compacted;    // compact() replaced the event by its encoded command
};

// Encodes `event` after a PING (so the XADD does not start at offset 0) in every buffered form:
// as captured, as compact() leaves it, and as a command held already. Each must be hiredis's
// bytes for the same arguments; append_fields' bytes must be the command's end.
Checked check_against_hiredis(const RedisSinkOptions& options, const Event& event) {
  std::string json;
  REQUIRE(streamll::append_json(event, json));
  const std::string expected = hiredis_format(xadd_argv(options, event, json));
  const XaddEncoder encoder(options);

  std::string fields;
  REQUIRE(encoder.append_fields(event, fields) == streamll::redis::EncodeResult::ok);
  REQUIRE(fields.size() < expected.size());
  CHECK(expected.compare(expected.size() - fields.size(), fields.size(), fields) == 0);
  BufferedEvent compacted = event;
  std::string scratch;
  encoder.compact(compacted, scratch);

  CommandBuffer commands;
  commands.append({"PING"});
  REQUIRE(encoder.append_command(BufferedEvent{event}, commands) ==
          streamll::redis::EncodeResult::ok);
  REQUIRE(encoder.append_command(BufferedEvent{expected}, commands) ==
          streamll::redis::EncodeResult::ok);
  REQUIRE(encoder.append_command(compacted, commands) == streamll::redis::EncodeResult::ok);
  CHECK(commands.command_count() == 4);
  CHECK(commands.complete());
  const std::string ping = hiredis_format({"PING"});
  CHECK(byte_mismatch(commands.bytes(), ping + expected + expected + expected).empty());
  return {std::move(json), std::holds_alternative<std::string>(compacted)};
}

std::shared_ptr<const EventContext> context(std::string execution_id, std::string operation) {
  return std::make_shared<EventContext>(EventContext{std::move(execution_id),
                                                     "8877665544332211",
                                                     "1122334455667788",
                                                     std::move(operation),
                                                     "rag",
                                                     {{"environment", "production"}}});
}

std::shared_ptr<const EventContext> usual_context() {
  return context("exec_0123456789abcdef", "answer_generation");
}

// An event whose JSON is exactly `length` bytes: a string field of `filler` repeated, topped
// up with ASCII. `filler` may be anything (escaped, replaced, multi-byte): its written size is
// measured, not assumed.
Event event_with_json_length(std::size_t length, const std::string& filler) {
  Event e = Event::capture(EventType::custom, usual_context(), {{"pad", ""}}, "padded");
  const std::size_t base = streamll::to_json(e).size();
  e.data.set("pad", filler);
  const std::size_t unit = streamll::to_json(e).size() - base;
  REQUIRE(length >= base);
  REQUIRE(unit > 0);
  const std::size_t repeats = (length - base) / unit;
  std::string pad;
  pad.reserve(repeats * filler.size() + unit);
  for (std::size_t i = 0; i < repeats; ++i) pad += filler;
  pad.append(length - base - repeats * unit, 'x');
  e.data.set("pad", std::move(pad));
  return e;
}

constexpr std::size_t kMiB = 1024 * 1024;
const std::vector<std::size_t> kDigitBoundaries = {9, 10, 99, 100, 999, 1000, 9999, 10000};

}  // namespace

TEST_CASE("XADD matches hiredis at every JSON length whose digit count changes",
          "[xadd_encoder][oracle]") {
  // The smallest event's JSON is already past 100 bytes, so the length lines of 1 and 2
  // digits cannot occur for the JSON; they are covered by the other arguments below.
  const std::size_t smallest = streamll::to_json(Event::capture(EventType::end, nullptr)).size();
  CHECK(smallest >= 100);
  const std::vector<std::size_t> lengths = {smallest, 999,    1000,   1001,    9999,   10000,
                                            99999,    100000, 999999, 1000000, 1000001};
  for (const std::size_t length : lengths) {
    CAPTURE(length);
    const Event event = length == smallest ? Event::capture(EventType::end, nullptr)
                                           : event_with_json_length(length, "x");
    const std::string json = check_against_hiredis(head_variants("ml_events")[0], event).json;
    REQUIRE(json.size() == length);  // the boundary was hit exactly
    CHECK_NOTHROW(nlohmann::json::parse(json));
  }
}

TEST_CASE("XADD matches hiredis at digit boundaries with escaped and multi-byte text",
          "[xadd_encoder][oracle]") {
  const std::vector<std::string> fillers = {
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",  // é € 😀: written as is
      std::string("\0\x01\x1f\"\\\n\r\t", 8),  // escaped: \u0000 \u0001 \u001f \" \\ \n \r \t
      "\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80",  // invalid UTF-8: one U+FFFD per byte
  };
  const std::vector<std::size_t> lengths = {999, 1000, 9999, 10000, 99999, 100000, 999999, 1000000};
  for (const std::string& filler : fillers) {
    for (const std::size_t length : lengths) {
      CAPTURE(filler, length);
      const Event event = event_with_json_length(length, filler);
      for (const RedisSinkOptions& options : head_variants("streamll:events:{3}")) {
        CAPTURE(options.max_stream_length.has_value(), options.approximate_trimming,
                options.index_fields);
        REQUIRE(check_against_hiredis(options, event).json.size() == length);
      }
      CHECK_NOTHROW(nlohmann::json::parse(streamll::to_json(event)));
    }
  }
}

TEST_CASE("XADD matches hiredis for JSON of 4 MiB", "[xadd_encoder][oracle]") {
  // One case: each costs about 0.4 s in the plain build.
  const Event event = event_with_json_length(4 * kMiB, "\xe2\x82\xac");
  const std::string json = check_against_hiredis(head_variants("ml_events")[1], event).json;
  REQUIRE(json.size() == 4 * kMiB);
  CHECK_NOTHROW(nlohmann::json::parse(json));
}

TEST_CASE("XADD matches hiredis for every head of key and MAXLEN and index fields",
          "[xadd_encoder][oracle]") {
  std::vector<std::string> keys = {"k", "ml_events", "streamll:events:{3}", "streamll:events:{12}",
                                   std::string("bin\0\r\n\xff", 7)};
  for (const std::size_t length : kDigitBoundaries) {
    keys.push_back(std::string(length, 'k'));
  }
  const std::vector<std::optional<std::size_t>> max_lengths = {
      std::nullopt, 1, 9, 10, 1000000, std::numeric_limits<std::size_t>::max()};
  const Event event = event_with_json_length(1000, "x");
  for (const std::string& key : keys) {
    for (const auto& max_length : max_lengths) {
      for (const bool approximate : {false, true}) {
        for (const bool index_fields : {false, true}) {
          CAPTURE(key.size(), max_length.value_or(0), approximate, index_fields);
          check_against_hiredis(sink_options(key, max_length, approximate, index_fields), event);
        }
      }
    }
  }
}

TEST_CASE("XADD matches hiredis for index fields of every length and any bytes",
          "[xadd_encoder][oracle]") {
  // The index fields carry the raw bytes (the JSON carries them escaped or replaced).
  const std::vector<std::string> texts = {"", std::string("a\0b", 3), "\xff\xfe", "\r\n",
                                          "\xc3\xa9t\xc3\xa9"};
  std::vector<std::string> values = texts;
  for (const std::size_t length : kDigitBoundaries) {
    values.push_back(std::string(length, 'o'));
  }
  const auto options = sink_options("streamll:events:{0}", 1000, true, true);
  for (const std::string& operation : values) {
    for (const std::string& execution_id : {std::string("exec_0123456789abcdef"), operation}) {
      CAPTURE(operation.size(), execution_id.size());
      const Event event = Event::capture(EventType::llm_call, context(execution_id, operation),
                                         {{"model", "gpt-4"}, {"tokens", 42}});
      check_against_hiredis(options, event);
    }
  }
  for (const std::string& name : {std::string("x"), std::string(64, 'n'), std::string("a~b!")}) {
    CAPTURE(name);
    check_against_hiredis(options, Event::capture(EventType::custom, nullptr, {}, name));
  }
  for (const EventType type : {EventType::start, EventType::end, EventType::token,
                               EventType::llm_call, EventType::error}) {
    check_against_hiredis(options, Event::capture(type, usual_context()));
  }
}

TEST_CASE("XADD matches hiredis for hundreds of fields and long keys and all value types",
          "[xadd_encoder][oracle]") {
  Fields data;
  for (int i = 0; i < 600; ++i) {
    const std::string key = "field_" + std::to_string(i);
    switch (i % 8) {
      case 0:
        data.set(key, i);
        break;
      case 1:
        data.set(key, -0.5 * i);
        break;
      case 2:
        data.set(key, i % 3 == 0);
        break;
      case 3:
        data.set(key, nullptr);
        break;
      case 4:
        data.set(key, std::string(static_cast<std::size_t>(i), '\x01'));
        break;
      case 5:
        data.set(key, RawJson{"{\"a\": [1, 2, {\"b\": null}]}"});
        break;
      case 6:
        data.set(key, RawJson{"not json"});
        break;
      default:
        data.set(key, std::numeric_limits<double>::quiet_NaN());
        break;
    }
  }
  data.set(std::string(10000, 'K'), "long key");
  data.set(std::string("k\0\xff\"", 4), std::numeric_limits<std::int64_t>::min());
  data.set("inf", std::numeric_limits<double>::infinity());
  const Event event = Event::capture(EventType::llm_call, usual_context(), data);
  for (const RedisSinkOptions& options : head_variants("streamll:events:{7}")) {
    const std::string json = check_against_hiredis(options, event).json;
    CHECK(nlohmann::json::parse(json).at("data").size() == 603);
  }
}

namespace {

// Random text: mostly short, now and then thousands of bytes, from an alphabet chosen per
// string (ASCII, any byte, multi-byte UTF-8 pieces, control characters).
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                                  "\xff",     "\xc0",         std::string(1, '\0'),
                                                  "\"",       "\\",           "\n"};
  const int magnitude = std::uniform_int_distribution<int>(0, 4)(rng);
  std::size_t length = std::uniform_int_distribution<std::size_t>(0, 5)(rng);
  for (int i = 0; i < magnitude; ++i) length *= 5;
  std::string s;
  const int alphabet = std::uniform_int_distribution<int>(0, 3)(rng);
  while (s.size() < length) {
    switch (alphabet) {
      case 0:
        s += static_cast<char>(std::uniform_int_distribution<int>('a', 'z')(rng));
        break;
      case 1:
        s += static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
        break;
      case 2:
        s += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
        break;
      default:
        s += static_cast<char>(std::uniform_int_distribution<int>(0, 0x20)(rng));
        break;
    }
  }
  return s;
}

Value random_value(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
    case 0:
      return Value(nullptr);
    case 1:
      return Value(std::uniform_int_distribution<int>(0, 1)(rng) == 1);
    case 2:
      return Value(std::uniform_int_distribution<std::int64_t>(
          std::numeric_limits<std::int64_t>::min())(rng));
    case 3:
      return Value(std::uniform_real_distribution<double>(-1e300, 1e300)(rng));
    case 4:
      return Value(RawJson{random_text(rng)});  // rarely valid JSON: written as a string
    default:
      return Value(random_text(rng));
  }
}

Event random_event(std::mt19937& rng) {
  static const std::vector<EventType> types = {EventType::start, EventType::end,
                                               EventType::token, EventType::llm_call,
                                               EventType::error, EventType::custom};
  // One draw per statement: the order of draws must not depend on the compiler.
  const EventType type = types[rng() % types.size()];
  Fields data;
  const std::size_t count = rng() % 10 == 0 ? 300 : rng() % 13;
  for (std::size_t i = 0; i < count; ++i) {
    std::string key = std::to_string(i) + random_text(rng).substr(0, 40);
    data.set(key, random_value(rng));
  }
  std::shared_ptr<const EventContext> ctx;
  if (rng() % 8 != 0) {
    std::string execution_id = random_text(rng);
    ctx = context(std::move(execution_id), random_text(rng));
  }
  return Event::capture(type, ctx, std::move(data), "custom_event");
}

}  // namespace

TEST_CASE("XADD matches hiredis for seeded random events", "[xadd_encoder][oracle]") {
  constexpr std::uint32_t kSeed = 20261206;
  std::mt19937 rng(kSeed);
  const std::vector<std::string> keys = {"ml_events", "streamll:events:{3}", std::string(99, 's'),
                                         std::string(100, 's')};
  int compacted = 0;
  for (int i = 0; i < 300; ++i) {
    INFO("seed " << kSeed << ", event " << i);
    std::string key = keys[rng() % keys.size()];
    std::optional<std::size_t> max_length;
    if (rng() % 3 != 0) max_length = rng() % 2000000 + 1;
    const bool approximate = rng() % 2 == 0;
    const bool index_fields = rng() % 2 == 0;
    const Event event = random_event(rng);
    RedisSinkOptions options = sink_options(key, max_length, approximate, index_fields);
    if (rng() % 2 == 0) {
      options.token_stream_key = key + ":tokens";
      options.token_max_stream_length =
          rng() % 3 == 0 ? std::nullopt : std::optional<std::size_t>(rng() % 1000);
    }
    const Checked checked = check_against_hiredis(options, event);
    CHECK_NOTHROW(nlohmann::json::parse(checked.json));
    compacted += checked.compacted ? 1 : 0;
  }
  CHECK(compacted > 0);  // the compact form was among those compared
}

TEST_CASE("token events go to token_stream_key with its own MAXLEN in every buffered form",
          "[xadd_encoder][oracle]") {
  // A token whose fields take more memory as captured than encoded (many small numbers), so
  // that compact() holds it as its command: the stream must survive that.
  Fields fields = {{"token", "tok"}, {"index", 7}};
  for (int i = 0; i < 64; ++i) fields.set("n" + std::to_string(i), i);
  const Event token = Event::capture(EventType::token, usual_context(), std::move(fields));
  const Event llm_call = event_with_json_length(1000, "x");
  const std::vector<std::optional<std::size_t>> token_lengths = {std::nullopt, 1, 50000};
  for (const bool index_fields : {false, true}) {
    for (const auto& token_length : token_lengths) {
      CAPTURE(index_fields, token_length.value_or(0));
      RedisSinkOptions options = sink_options("{llm}events", 1000000, true, index_fields);
      options.token_stream_key = "{llm}tokens";
      options.token_max_stream_length = token_length;
      CHECK(check_against_hiredis(options, token).compacted);
      check_against_hiredis(options, llm_call);
      // The oracle's argv names the token stream: the check above compared against it.
      std::string json;
      REQUIRE(streamll::append_json(token, json));
      CHECK(xadd_argv(options, token, json)[1] == "{llm}tokens");
      CHECK(xadd_argv(options, llm_call, json)[1] == "{llm}events");
    }
  }
  // Without a token_stream_key, token events stay in stream_key.
  const RedisSinkOptions one_stream = sink_options("ml_events", 100, false, false);
  CHECK(check_against_hiredis(one_stream, token).compacted);
}
