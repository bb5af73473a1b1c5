#pragma once
// Seeded random events across the input space of the event JSON: every event type (custom
// names with quotes and backslashes), every Value type and its extremes, strings from empty to
// 256 KiB with multi-byte UTF-8, NUL, control characters, quotes, backslashes and (in some
// events) invalid UTF-8, valid and invalid RawJson, 0 to 200 fields, tags. sized() builds an
// event whose JSON is exactly a given number of bytes, to put it on a length-digit boundary.

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <streamll/event.hpp>

namespace streamll::property {

struct GeneratedEvent {
  Event event;
  /// False when some string of the event (key, value, tag, context) holds invalid UTF-8: the
  /// writer then substitutes U+FFFD, so only the JSON's syntax can be checked, not its values.
  bool valid_utf8 = true;
  /// The exact JSON size sized() aimed at; 0 for other events.
  std::size_t target_json_bytes = 0;
};

inline const std::vector<std::string>& valid_raw_json_samples() {
  static const std::vector<std::string> samples = {
      R"({"a":[1,2,{"b":null}],"c":"\u00e9"})",
      "[]",
      "{}",
      "  { \"spaced\" : [ 1 , 2 ] }  ",
      R"("just a string")",
      "-1.5e-3",
      "true",
      "null",
      "[[[[[]]]]]",
      "0",
      R"({"nested":{"deep":{"x":"ü✓ 😀"}}})",
      R"("esc \" \\ \n \t \u0001")",
      R"([1.7976931348623157e308,-9223372036854775808,18446744073709551615])"};
  return samples;
}

inline const std::vector<std::string>& invalid_raw_json_samples() {
  static const std::vector<std::string> samples = {
      "{",        R"({"a":})",        "[1,2,]",   "nope",
      "",         R"({"a":1}})",      "'single'", "01",
      "[1 2]",    R"("unterminated)", "NaN",      R"({"a" 1})",
      "[1]\n[2]", "{\"tab\":\"\t\"}"};
  return samples;
}

class EventGenerator {
 public:
  explicit EventGenerator(std::uint32_t seed) : rng_(seed) {}

  /// A random event.
  GeneratedEvent next() {
    GeneratedEvent out;
    valid_ = true;
    out.event = skeleton(/*small=*/false);
    const std::size_t fields = field_count();
    const std::size_t big = below(fields + 1);  // which field (if any) gets the large string
    for (std::size_t i = 0; i < fields; ++i) {
      std::string key = "k" + std::to_string(i) + "_" + text(below(12), allow_invalid());
      if (i == big) {
        out.event.data.set(key, text(large_size(), allow_invalid()));
      } else {
        out.event.data.set(key, value());
      }
    }
    out.valid_utf8 = valid_;
    return out;
  }

  /// A small valid-UTF-8 event padded with ASCII so that its JSON is exactly `json_bytes` long
  /// (its JSON grows by one byte per padding byte). `json_bytes` must exceed the small event.
  GeneratedEvent sized(std::size_t json_bytes) {
    GeneratedEvent out;
    valid_ = true;
    out.event = skeleton(/*small=*/true);
    out.event.data.set("pad", std::string());
    const std::size_t base = to_json(out.event).size();
    if (json_bytes > base) out.event.data.set("pad", std::string(json_bytes - base, 'x'));
    out.target_json_bytes = json_bytes;
    return out;
  }

 private:
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }
  bool chance(unsigned percent) { return rng_() % 100 < percent; }
  std::uint64_t u64() { return (std::uint64_t{rng_()} << 32) | rng_(); }
  bool allow_invalid() { return chance(5); }

  std::size_t field_count() {
    const auto r = rng_() % 10;
    if (r < 6) return below(9);
    if (r < 9) return 8 + below(33);
    return 40 + below(161);
  }

  // Mostly small, with a tail up to 256 KiB (sometimes exactly).
  std::size_t large_size() {
    const auto r = rng_() % 100;
    if (r < 40) return below(17);
    if (r < 70) return 16 + below(1009);
    if (r < 90) return 1024 + below(15 * 1024);
    if (r < 98) return 16 * 1024 + below(112 * 1024);
    if (r < 99) return 256 * 1024;
    return 128 * 1024 + below(128 * 1024);
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // About `bytes` bytes (a multi-byte character may overshoot by up to three).
  std::string text(std::size_t bytes, bool invalid_allowed) {
    static const char* const invalid[] = {"\x80",         "\xE2\x82",         "\xFF", "\xC0\xAF",
                                          "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC3"};
    std::string out;
    out.reserve(bytes + 3);
    while (out.size() < bytes) {
      const auto r = rng_() % 100;
      if (r < 55) {
        out.push_back(static_cast<char>(0x20 + below(0x5F)));
      } else if (r < 62) {
        out.push_back(chance(50) ? '"' : '\\');
      } else if (r < 68) {
        out.push_back(chance(20) ? '\x7f' : static_cast<char>(1 + below(0x1F)));
      } else if (r < 71) {
        out.push_back('\0');
      } else if (r < 80) {
        append_utf8(out, static_cast<std::uint32_t>(0x80 + below(0x800 - 0x80)));
      } else if (r < 90) {
        auto cp = static_cast<std::uint32_t>(0x800 + below(0x10000 - 0x800));
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;  // not a surrogate
        append_utf8(out, cp);
      } else if (r < 97 || !invalid_allowed) {
        append_utf8(out, static_cast<std::uint32_t>(0x10000 + below(0x110000 - 0x10000)));
      } else {
        out += invalid[below(sizeof invalid / sizeof invalid[0])];
        valid_ = false;
      }
    }
    return out;
  }

  double any_double() {
    static const double specials[] = {0.0,
                                      -0.0,
                                      0.1 + 0.2,
                                      1e308,
                                      -1e-308,
                                      5e-324,
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::lowest(),
                                      9007199254740993.0,
                                      1e21,
                                      123456789.0,
                                      std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity()};
    if (chance(50)) return specials[below(sizeof specials / sizeof specials[0])];
    if (chance(50)) return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    // Any bit pattern: subnormals, huge exponents, NaNs with payloads.
    const std::uint64_t bits = u64();
    double d;
    static_assert(sizeof d == sizeof bits);
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  Value value() {
    static const std::int64_t ints[] = {0,
                                        1,
                                        -1,
                                        std::numeric_limits<std::int64_t>::min(),
                                        std::numeric_limits<std::int64_t>::max(),
                                        std::numeric_limits<std::int32_t>::min(),
                                        std::numeric_limits<std::int32_t>::max(),
                                        std::int64_t{1} << 53,
                                        -(std::int64_t{1} << 53) - 1};
    switch (rng_() % 8) {
      case 0:
        return nullptr;
      case 1:
        return chance(50);
      case 2:
        return chance(50) ? ints[below(sizeof ints / sizeof ints[0])]
                          : static_cast<std::int64_t>(u64());
      case 3:
        return any_double();
      case 4: {
        const auto& samples = valid_raw_json_samples();
        return RawJson{samples[below(samples.size())]};
      }
      case 5: {
        if (chance(50)) return RawJson{text(below(20), allow_invalid())};
        const auto& samples = invalid_raw_json_samples();
        return RawJson{samples[below(samples.size())]};
      }
      default:
        return text(below(25), allow_invalid());
    }
  }

  std::string custom_type_name() {
    std::string name(1 + below(64), ' ');
    for (char& c : name) c = static_cast<char>(0x21 + below(0x5E));
    return name;
  }

  Event skeleton(bool small) {
    Event e;
    e.type = static_cast<EventType>(below(6));
    if (e.type == EventType::custom) e.custom_type = custom_type_name();
    // 2000-01-01 to 2100-01-01, to the nanosecond (the JSON keeps microseconds).
    const auto nanos = static_cast<std::int64_t>(946684800ULL * 1000000000ULL +
                                                 u64() % (3155760000ULL * 1000000000ULL));
    e.timestamp =
        Timestamp(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos)));
    e.id.high = (u64() & ~0xF000ULL) | 0x4000ULL;
    e.id.low = (u64() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
    const bool bad = !small && allow_invalid();
    auto context = std::make_shared<EventContext>();
    context->execution_id = chance(90) ? new_execution_id() : text(below(30), bad);
    context->span_id = chance(90) ? new_span_id() : text(below(30), bad);
    if (chance(50)) context->parent_span_id = chance(90) ? new_span_id() : text(below(30), bad);
    context->operation = text(below(small ? 20 : 60), bad);
    if (chance(30)) context->module_name = text(below(30), bad);
    const std::size_t tags = below(small ? 3 : 8);
    for (std::size_t i = 0; i < tags; ++i) {
      context->tags.emplace_back("t" + std::to_string(i) + "_" + text(below(10), bad),
                                 text(below(small ? 20 : 40), bad));
    }
    e.context = std::move(context);
    if (small) {
      for (std::size_t i = below(4); i > 0; --i)
        e.data.set("s" + std::to_string(i), text(below(20), false));
    }
    return e;
  }

  std::mt19937 rng_;
  bool valid_ = true;  // no invalid UTF-8 generated since the last reset
};

}  // namespace streamll::property
