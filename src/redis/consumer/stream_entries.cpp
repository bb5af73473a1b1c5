#include "redis/consumer/stream_entries.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

#include "streamll/redis/errors.hpp"

namespace streamll::redis {
namespace {

constexpr std::size_t kExcerptBytes = 200;

[[noreturn]] void protocol_error(const char* what, const RedisReply& reply) {
  std::string shown = reply.to_debug_string();
  if (shown.size() > 120) shown = shown.substr(0, 120) + "...";
  throw IoError(std::string("protocol error: unexpected ") + what + " reply: " + shown);
}

void append_entry(RedisReply& item, std::vector<StreamEntry>& out) {
  if (!item.is_array() || item.elements.size() != 2 || !item.elements[0].is_string()) {
    protocol_error("stream entry", item);
  }
  StreamEntry entry;
  entry.id = std::move(item.elements[0].text);
  RedisReply& fields = item.elements[1];
  if (fields.is_nil()) {
    entry.deleted = true;
  } else {
    if (!fields.is_array() || fields.elements.size() % 2 != 0) protocol_error("entry fields", item);
    entry.fields.reserve(fields.elements.size() / 2);
    for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
      entry.fields.emplace_back(std::move(fields.elements[i].text),
                                std::move(fields.elements[i + 1].text));
    }
  }
  out.push_back(std::move(entry));
}

}  // namespace

void append_entries(RedisReply& reply, std::vector<StreamEntry>& out) {
  if (reply.is_nil()) return;
  if (!reply.is_array()) protocol_error("XRANGE", reply);
  out.reserve(out.size() + reply.elements.size());
  for (RedisReply& item : reply.elements) append_entry(item, out);
}

void append_read_entries(RedisReply& reply, std::vector<StreamEntry>& out) {
  if (reply.is_nil()) return;  // BLOCK timed out
  if (!reply.is_array()) protocol_error("XREAD", reply);
  for (RedisReply& stream : reply.elements) {
    if (!stream.is_array() || stream.elements.size() != 2) protocol_error("XREAD stream", stream);
    append_entries(stream.elements[1], out);
  }
}

AutoclaimResult append_autoclaim_entries(RedisReply& reply, std::vector<StreamEntry>& out) {
  if (!reply.is_array() || reply.elements.size() < 2 || !reply.elements[0].is_string()) {
    protocol_error("XAUTOCLAIM", reply);
  }
  AutoclaimResult result;
  result.next_cursor = reply.elements[0].text;
  append_entries(reply.elements[1], out);
  if (reply.elements.size() >= 3 && reply.elements[2].is_array()) {
    result.deleted_ids = reply.elements[2].elements.size();
  }
  return result;
}

std::optional<EntryId> EntryId::parse(std::string_view text) noexcept {
  EntryId id;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(begin, end, id.ms);
  if (ec != std::errc() || p == begin) return std::nullopt;
  if (p == end) return id;
  if (*p != '-') return std::nullopt;
  const char* seq_begin = p + 1;
  auto [q, ec2] = std::from_chars(seq_begin, end, id.seq);
  if (ec2 != std::errc() || q == seq_begin || q != end) return std::nullopt;
  return id;
}

std::string EntryId::to_string() const { return std::to_string(ms) + "-" + std::to_string(seq); }

bool is_start_id(std::string_view text) noexcept {
  return text == "0" || text == "$" || EntryId::parse(text).has_value();
}

bool decode_entry(const StreamEntry& entry, Event& event, DecodeFailure& failure) noexcept {
  try {
    const std::string* json = entry.field("event");
    if (json == nullptr) {
      failure.kind = DecodeFailureKind::missing_event_field;
      failure.reason = "the entry has no 'event' field";
      failure.excerpt.clear();
      return false;
    }
    std::string error;
    if (parse_event_json(*json, event, &error)) return true;
    // parse_event_json gives one reason string for every problem; telling broken JSON from a
    // JSON value that is not an event costs a second scan, paid only on this rare path.
    const bool is_json = nlohmann::json::accept(json->begin(), json->end());
    failure.kind = is_json ? DecodeFailureKind::invalid_event : DecodeFailureKind::malformed_json;
    failure.reason = error.empty() ? "not an event" : error;
    failure.excerpt = json->substr(0, kExcerptBytes);
    return false;
  } catch (...) {
    failure.kind = DecodeFailureKind::invalid_event;
    failure.reason = "out of memory while decoding";
    return false;
  }
}

}  // namespace streamll::redis
