#include "redis/sink/xadd_encoder.hpp"

#include <charconv>
#include <cstring>

#include "redis/sink/event_truncation.hpp"

namespace streamll::redis {
namespace {

void append_bulk(std::string& out, std::string_view value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value.size()).ptr;
  out.push_back('$');
  out.append(digits, end);
  out.append("\r\n", 2);
  out.append(value);
  out.append("\r\n", 2);
}

// "$<n>\r\n<json>\r\n" with the JSON serialized in place: the length is not known until the
// JSON is written, so room for three digits is left (most events are 100 to 999 bytes) and the
// JSON is shifted in the rare case the length has another number of digits. JSON longer than
// `max_bytes` (unless 0) is written again with its longest values cut. Throws std::bad_alloc,
// `out` then as it was.
EncodeResult append_json_bulk(const Event& event, std::size_t max_bytes, std::string& out) {
  constexpr std::size_t guessed_digits = 3;
  const std::size_t start = out.size();
  out.append("$000\r\n", 3 + guessed_digits);
  const std::size_t body = out.size();
  if (!append_json(event, out)) {
    out.resize(start);
    return EncodeResult::out_of_memory;
  }
  EncodeResult result = EncodeResult::ok;
  if (max_bytes != 0 && out.size() - body > max_bytes) {
    const std::size_t json_bytes = out.size() - body;
    out.resize(body);
    try {
      if (!append_truncated_json(event, json_bytes, max_bytes, out)) {
        out.resize(start);
        return EncodeResult::too_large;
      }
    } catch (...) {
      out.resize(start);
      throw;
    }
    result = EncodeResult::truncated;
  }
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, out.size() - body).ptr;
  const auto length_digits = static_cast<std::size_t>(end - digits);
  if (length_digits > guessed_digits) {
    // Room for the extra digits goes before the "\r\n" that ends the length line.
    out.insert(start + 1 + guessed_digits, length_digits - guessed_digits, '0');
  } else if (length_digits < guessed_digits) {
    out.erase(start + 1 + length_digits, guessed_digits - length_digits);
  }
  std::memcpy(&out[start + 1], digits, length_digits);
  out.append("\r\n", 2);
  return result;
}

// Heap memory an event holds as captured, a lower bound: its fields, the strings too long for
// the small-string buffer, and its share of the span context it shares with its span's other
// events. (Fields reserve a little more than they hold; malloc adds its own overhead to each
// block.)
std::size_t captured_heap_bytes(const Event& event) noexcept {
  const auto string_heap = [](const std::string& s) {
    return s.capacity() > 15 ? s.capacity() + 1 : std::size_t{0};
  };
  std::size_t bytes = event.data.size() * sizeof(Field) + string_heap(event.custom_type);
  for (const Field& field : event.data) {
    bytes += string_heap(field.key);
    if (const auto* text = std::get_if<std::string>(&field.value.storage()))
      bytes += string_heap(*text);
    if (const auto* raw = std::get_if<RawJson>(&field.value.storage()))
      bytes += string_heap(raw->text);
  }
  if (event.context) {
    const EventContext& c = *event.context;
    std::size_t context = sizeof(EventContext) + string_heap(c.execution_id) +
                          string_heap(c.span_id) + string_heap(c.parent_span_id) +
                          string_heap(c.operation) + string_heap(c.module_name);
    for (const auto& [key, value] : c.tags) {
      context +=
          sizeof(std::pair<std::string, std::string>) + string_heap(key) + string_heap(value);
    }
    const long sharers = event.context.use_count();
    bytes += context / static_cast<std::size_t>(sharers > 0 ? sharers : 1);
  }
  return bytes;
}

// About the size of the event's JSON, without writing it: its strings and keys, 24 bytes a
// number, and the envelope's fixed keys and punctuation. Escapes are not counted, so it can
// only err low, which costs a serialization that is then thrown away.
std::size_t estimated_json_bytes(const Event& event) noexcept {
  constexpr std::size_t kEnvelope = 200;  // keys, quotes, id, timestamp and braces of the schema
  std::size_t bytes = kEnvelope + event.type_name().size() + event.execution_id().size() +
                      event.operation().size() + event.span_id().size() +
                      event.parent_span_id().size() + event.module_name().size();
  for (const auto& [key, value] : event.tags()) bytes += key.size() + value.size() + 6;
  for (const Field& field : event.data) {
    bytes += field.key.size() + 4;
    bytes += field.value.is_string() || field.value.is_raw_json()
                 ? field.value.as_string().size() + 2
                 : 24;
  }
  return bytes;
}

}  // namespace

XaddEncoder::XaddEncoder(const RedisSinkOptions& options)
    : index_fields_(options.index_fields), max_event_bytes_(options.max_event_bytes) {
  const auto head = [&](const std::string& key, const std::optional<std::size_t>& max_length) {
    std::size_t argc = 5;  // XADD key * event <json>
    if (max_length) argc += options.approximate_trimming ? 3 : 2;
    if (index_fields_) argc += 6;
    std::string out = "*" + std::to_string(argc) + "\r\n";
    append_bulk(out, "XADD");
    append_bulk(out, key);
    if (max_length) {
      append_bulk(out, "MAXLEN");
      if (options.approximate_trimming) append_bulk(out, "~");
      append_bulk(out, std::to_string(*max_length));
    }
    append_bulk(out, "*");
    return out;
  };
  head_ = head(options.stream_key, options.max_stream_length);
  token_head_ = options.token_stream_key.empty()
                    ? head_
                    : head(options.token_stream_key, options.token_max_stream_length);
}

EncodeResult XaddEncoder::append_fields(const Event& event, std::string& out) const noexcept {
  const std::size_t start = out.size();
  try {
    append_bulk(out, "event");
    const EncodeResult result = append_json_bulk(event, max_event_bytes_, out);
    if (result != EncodeResult::ok && result != EncodeResult::truncated) {
      out.resize(start);
      return result;
    }
    if (index_fields_) {
      append_bulk(out, "event_type");
      append_bulk(out, event.type_name());
      append_bulk(out, "operation");
      append_bulk(out, event.operation());
      append_bulk(out, "execution_id");
      append_bulk(out, event.execution_id());
    }
    return result;
  } catch (...) {  // std::bad_alloc
    out.resize(start);
    return EncodeResult::out_of_memory;
  }
}

EncodeResult XaddEncoder::append_command(const BufferedEvent& item, CommandBuffer& commands,
                                         std::string* truncated_command) const noexcept {
  EncodeResult result = EncodeResult::ok;
  try {
    commands.append_encoded([&](std::string& bytes) {
      if (const auto* command = std::get_if<std::string>(&item)) {
        bytes.append(*command);
        return true;
      }
      const std::size_t start = bytes.size();
      const Event& event = std::get<Event>(item);
      bytes.append(head_for(event));
      result = append_fields(event, bytes);
      if (result == EncodeResult::truncated && truncated_command) {
        try {
          truncated_command->assign(bytes, start);
        } catch (...) {  // std::bad_alloc: the caller keeps the event as captured
          truncated_command->clear();
        }
      }
      const bool ok = result == EncodeResult::ok || result == EncodeResult::truncated;
      if (!ok) bytes.resize(start);
      return ok;
    });
    return result;
  } catch (...) {  // std::bad_alloc appending the head or the encoded fields
    return EncodeResult::out_of_memory;
  }
}

EncodeResult XaddEncoder::compact(BufferedEvent& item, std::string& scratch) const noexcept {
  const Event* event = std::get_if<Event>(&item);
  if (!event) return EncodeResult::ok;
  const std::size_t captured = captured_heap_bytes(*event);
  if (estimated_json_bytes(*event) >= captured) return EncodeResult::ok;  // most streamed tokens
  scratch.clear();
  EncodeResult result = EncodeResult::out_of_memory;
  try {
    scratch.append(head_for(*event));
    result = append_fields(*event, scratch);
  } catch (...) {  // std::bad_alloc appending the head
  }
  if (result != EncodeResult::ok && result != EncodeResult::truncated) return result;
  // Cut: held so whatever its size, so that the cut happens (and is counted) once.
  if (result == EncodeResult::ok && scratch.size() + 1 >= captured) return EncodeResult::ok;
  try {
    std::string exact(scratch);                   // scratch's capacity is larger than what it holds
    item.emplace<std::string>(std::move(exact));  // a move: cannot throw
  } catch (...) {
    // std::bad_alloc: the event stays as captured (and is cut, and counted, when sent).
    return EncodeResult::out_of_memory;
  }
  return result;
}

}  // namespace streamll::redis
