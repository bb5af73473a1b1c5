#include "streamll/event.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "calendar.hpp"
#include "hex.hpp"
#include "json_writer.hpp"

namespace streamll {
namespace {

using detail::civil_from_days;
using detail::days_from_civil;
using detail::days_in_month;

using detail::append_hex;
using detail::hex_value;
constexpr const char* kHex = detail::kLowerHexDigits;

// 8-4-4-4-12 lowercase hex digits.
std::string_view format_event_id(const EventId& id, char (&text)[36]) noexcept {
  char* p = text;
  auto put = [&p](std::uint64_t v, int digits) {
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) *p++ = kHex[(v >> shift) & 0xF];
  };
  put(id.high >> 32, 8);
  *p++ = '-';
  put((id.high >> 16) & 0xFFFF, 4);
  *p++ = '-';
  put(id.high & 0xFFFF, 4);
  *p++ = '-';
  put(id.low >> 48, 4);
  *p++ = '-';
  put(id.low & 0xFFFFFFFFFFFFULL, 12);
  return std::string_view(text, sizeof text);
}

// RFC 3339 UTC with microseconds, formatted by hand (snprintf was a sixth of the flusher's
// serialization time).
std::string_view format_timestamp_into(Timestamp t, char (&text)[27]) noexcept {
  // floor, not duration_cast: before 1970 truncation toward zero would round up.
  const auto us = std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::int64_t secs = us / 1000000;
  std::int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t year;
  unsigned month, day;
  civil_from_days(days, year, month, day);  // 1677..2262: the clock's 64-bit nanoseconds
  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  auto put = [&text](int at, std::int64_t value, int digits) {
    for (int i = at + digits - 1; i >= at; --i) {
      text[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, year, 4);
  text[4] = '-';
  put(5, month, 2);
  text[7] = '-';
  put(8, day, 2);
  text[10] = 'T';
  put(11, rem / 3600, 2);
  text[13] = ':';
  put(14, rem % 3600 / 60, 2);
  text[16] = ':';
  put(17, rem % 60, 2);
  text[19] = '.';
  put(20, frac, 6);
  text[26] = 'Z';
  return std::string_view(text, sizeof text);
}

void write_field_value(detail::JsonOut& out, const Value& value) {
  struct Visitor {
    detail::JsonOut& out;
    void operator()(std::monostate) const { out.raw("null"); }
    void operator()(bool b) const { out.raw(b ? "true" : "false"); }
    void operator()(std::int64_t i) const { out.number(static_cast<long long>(i)); }
    void operator()(double d) const { out.number(d); }
    void operator()(const std::string& s) const { out.string(s); }
    void operator()(const RawJson& j) const {
      // Compacted so the event stays on one line (JSONL, terminals), in the user's key order.
      // A repeated key inside it is merged (first position, last value), as for data keys.
      if (!j.text.empty() && detail::json_nesting_depth(j.text) <= detail::max_json_nesting) {
        std::string compact;
        if (detail::append_normalized_json(compact, j.text)) {
          out.raw(compact);
          return;
        }
      }
      out.string(j.text);
    }
  };
  std::visit(Visitor{out}, value.storage());
}

void write_key(detail::JsonOut& out, std::string_view key) {
  out.string(key);
  out.raw(':');
}

// True when two fields share a key (Fields::append_new trusts its caller). Checked here, on the
// sink's thread, not when the event is built. Each key sets one bit of a 64-bit mask picked by
// its length and end bytes; only a key whose bit is set already is compared with the earlier
// keys, so an event's handful of distinct keys costs a few instructions each.
bool has_repeated_key(const Fields& data) {
  const std::size_t n = data.size();
  if (n < 2) return false;
  const auto first = data.begin();
  if (n > 64) {  // the mask would be full: sort instead
    std::vector<std::string_view> keys(n);
    std::transform(first, data.end(), keys.begin(),
                   [](const Field& f) { return std::string_view(f.key); });
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }
  std::uint64_t seen = 0;
  for (auto it = first; it != data.end(); ++it) {
    const std::string& key = it->key;
    const auto byte = [&key](std::size_t i) { return static_cast<unsigned char>(key[i]); };
    const std::size_t mix = key.empty() ? 0 : key.size() * 7 + byte(0) * 3u + byte(key.size() - 1);
    const std::uint64_t bit = std::uint64_t{1} << (mix & 63);
    if ((seen & bit) != 0 && std::any_of(first, it, [&](const Field& f) { return f.key == key; })) {
      return true;
    }
    seen |= bit;
  }
  return false;
}

// The fields of `data` with a repeated key written once: at its first position, with its last
// value (what a JSON document with the repeat would mean, and what parse_event_json reads).
void write_fields_merging_repeats(detail::JsonOut& json, const Fields& data) {
  constexpr std::size_t kWritten = SIZE_MAX;
  std::unordered_map<std::string_view, std::size_t> last;
  last.reserve(data.size());
  const auto first = data.begin();
  for (std::size_t i = 0; i < data.size(); ++i) last[first[static_cast<std::ptrdiff_t>(i)].key] = i;
  bool separator = false;
  for (const Field& field : data) {
    std::size_t& index = last.find(field.key)->second;
    if (index == kWritten) continue;
    if (separator) json.raw(',');
    separator = true;
    write_key(json, field.key);
    write_field_value(json, first[static_cast<std::ptrdiff_t>(index)].value);
    index = kWritten;
  }
}

}  // namespace

void validate_event_type_name(std::string_view name) {
  if (is_valid_event_type_name(name)) return;
  if (name.empty()) throw InvalidEventType("event type name is empty");
  if (name.size() > max_event_type_length) {
    throw InvalidEventType("event type name is " + std::to_string(name.size()) +
                           " characters long; at most 64 are allowed");
  }
  // Quoted and escaped as JSON: a NUL or newline in the name must not cut or garble the message.
  std::string quoted;
  detail::append_json_string(quoted, name);
  throw InvalidEventType("event type name " + quoted +
                         " contains a character that is not printable ASCII (0x21-0x7e)");
}

std::string sanitize_event_type_name(std::string_view name) {
  if (name.empty()) return "custom";
  std::string repaired(name.substr(0, max_event_type_length));
  for (char& c : repaired) {
    if (c < 0x21 || c > 0x7e) c = '_';
  }
  return repaired;
}

std::string EventId::to_string() const {
  char text[36];
  return std::string(format_event_id(*this, text));
}

bool EventId::parse(std::string_view text, EventId& out) noexcept {
  if (text.size() != 36) return false;
  std::uint64_t words[2] = {0, 0};
  int nibbles = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      continue;
    }
    const int v = hex_value(text[i]);
    if (v < 0) return false;
    std::uint64_t& w = words[nibbles / 16];
    w = (w << 4) | static_cast<std::uint64_t>(v);
    ++nibbles;
  }
  out.high = words[0];
  out.low = words[1];
  return true;
}

std::string new_span_id() {
  std::string s;
  s.reserve(16);
  append_hex(s, detail::random_u64(), 16);
  return s;
}

std::string new_execution_id() {
  std::string s = "exec_";
  s.reserve(21);
  append_hex(s, detail::random_u64(), 16);
  return s;
}

std::string format_timestamp(Timestamp t) {
  char text[27];
  return std::string(format_timestamp_into(t, text));
}

bool parse_timestamp(std::string_view text, Timestamp& out) noexcept {
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+00:00)
  auto digits = [&](std::size_t pos, std::size_t n, int& value) {
    if (pos + n > text.size()) return false;
    value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!digits(0, 4, y) || text.size() < 20 || text[4] != '-' || !digits(5, 2, mo) ||
      text[7] != '-' || !digits(8, 2, d) || (text[10] != 'T' && text[10] != 't') ||
      !digits(11, 2, h) || text[13] != ':' || !digits(14, 2, mi) || text[16] != ':' ||
      !digits(17, 2, s)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60) {
    return false;
  }
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (n < 9) {
        nanos = nanos * 10 + (text[pos] - '0');
        ++n;
      }
      ++pos;
    }
    if (n == 0) return false;
    for (; n < 9; ++n) nanos *= 10;
  }
  const std::string_view zone = text.substr(pos);
  if (zone != "Z" && zone != "z" && zone != "+00:00") return false;
  const std::int64_t secs =
      days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
      mi * 60 + s;
  // The clock counts nanoseconds in 64 bits (years 1677 to 2262): refuse what it cannot hold
  // instead of overflowing.
  constexpr std::int64_t kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::duration::max()).count() - 1;
  if (secs >= kLimit || secs <= -kLimit) return false;
  out = Timestamp(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(secs) +
                                                              std::chrono::nanoseconds(nanos)));
  return true;
}

bool append_json(const Event& event, std::string& out) noexcept {
  const std::size_t original = out.size();
  try {
    detail::JsonOut json(out, 320 + event.data.size() * 48);
    char id[36];
    char timestamp[27];
    json.raw("{\"event_id\":\"");
    json.raw(format_event_id(event.id, id));
    json.raw("\",\"event_type\":");
    json.string(event.type_name());
    json.raw(",\"timestamp\":\"");
    json.raw(format_timestamp_into(event.timestamp, timestamp));
    json.raw("\",\"execution_id\":");
    json.string(event.execution_id());
    json.raw(",\"operation\":");
    json.string(event.operation());
    json.raw(",\"span_id\":");
    json.string(event.span_id());
    json.raw(",\"parent_span_id\":");
    if (event.parent_span_id().empty()) {
      json.raw("null");
    } else {
      json.string(event.parent_span_id());
    }
    if (!event.module_name().empty()) {
      json.raw(",\"module_name\":");
      json.string(event.module_name());
    }
    json.raw(",\"data\":{");
    bool first = true;
    if (has_repeated_key(event.data)) {
      write_fields_merging_repeats(json, event.data);
    } else {
      for (const auto& field : event.data) {
        if (!first) json.raw(',');
        first = false;
        write_key(json, field.key);
        write_field_value(json, field.value);
      }
    }
    json.raw("},\"tags\":{");
    first = true;
    for (const auto& [key, value] : event.tags()) {
      if (!first) json.raw(',');
      first = false;
      write_key(json, key);
      json.string(value);
    }
    json.raw("}}");
    return true;
  } catch (...) {
    out.resize(original);
    return false;
  }
}

std::string to_json(const Event& event) noexcept {
  std::string out;
  if (!append_json(event, out)) return {};
  return out;
}

}  // namespace streamll
