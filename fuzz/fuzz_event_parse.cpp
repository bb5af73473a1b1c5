// Fuzzes what a consumer does with bytes from a hostile or broken server. The input is read
// three ways:
//  - as an entry's `event` JSON: parse_event_json must not crash; decode_usage_fields must
//    accept exactly what it accepts (usage_decoder.hpp's contract) with decode_entry's failure
//    kind; an accepted event written again with append_json must parse back to the same event
//    (timestamps to the microsecond, infinite numbers as null: what append_json documents);
//  - as RESP bytes, fed to RespReader whole and in two pieces, which must give the same replies;
//  - each reply as an XRANGE / XREADGROUP / XAUTOCLAIM reply, whose entries are decoded.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "redis/analytics/usage_decoder.hpp"
#include "redis/consumer/stream_entries.hpp"
#include "redis/transport/resp_reader.hpp"
#include "streamll/event.hpp"
#include "streamll/redis/errors.hpp"

namespace {

using streamll::Event;
using streamll::redis::RedisReply;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_event_parse: %s\n", what);
  std::abort();
}

// parse_event_json's result for text append_json wrote from `first`: the same, except what the
// JSON cannot carry (sub-microsecond time, non-finite numbers).
// Raw JSON is written normalized (compact, a repeated key once with its last value), so it is
// compared as nlohmann reads it: the same document, not the same text.
bool same_value(const streamll::Value& a, const streamll::Value& b) {
  if (a.is_double() && !std::isfinite(a.as_double())) return b.is_null();
  if (!a.is_raw_json() || !b.is_raw_json()) return a == b;
  const auto first = nlohmann::json::parse(a.as_string(), nullptr, false);
  const auto second = nlohmann::json::parse(b.as_string(), nullptr, false);
  return !first.is_discarded() && first == second;
}

bool same_after_round_trip(const Event& first, const Event& second) {
  using namespace std::chrono;
  if (first.type != second.type || first.custom_type != second.custom_type) return false;
  if (first.id != second.id) return false;
  if (floor<microseconds>(first.timestamp) != second.timestamp) return false;
  if (first.execution_id() != second.execution_id() || first.operation() != second.operation() ||
      first.span_id() != second.span_id() || first.parent_span_id() != second.parent_span_id() ||
      first.module_name() != second.module_name() || first.tags() != second.tags()) {
    return false;
  }
  if (first.data.size() != second.data.size()) return false;
  auto b = second.data.begin();
  for (auto a = first.data.begin(); a != first.data.end(); ++a, ++b) {
    if (a->key != b->key) return false;
    if (!same_value(a->value, b->value)) return false;
  }
  return true;
}

void check_event_json(std::string_view text) {
  Event event;
  std::string error;
  const bool accepted = streamll::parse_event_json(text, event, &error);

  streamll::redis::UsageFields usage;
  streamll::DecodeFailureKind kind{};
  std::string reason;
  if (streamll::redis::decode_usage_fields(text, usage, kind, reason) != accepted) {
    fail("decode_usage_fields and parse_event_json disagree on accepting");
  }
  streamll::redis::StreamEntry entry;
  entry.fields = {{"event", std::string(text)}};
  Event decoded;
  streamll::DecodeFailure failure;
  if (streamll::redis::decode_entry(entry, decoded, failure) != accepted) {
    fail("decode_entry and parse_event_json disagree");
  }
  if (!accepted) {
    if (failure.kind != kind) fail("decode_usage_fields gives another failure kind");
    return;
  }
  if (usage.type_name != event.type_name()) fail("decode_usage_fields: another type");
  const streamll::Value* model = event.data.find("model");
  if (usage.model_is_string != (model && model->is_string()) ||
      (usage.model_is_string && usage.model != model->as_string())) {
    fail("decode_usage_fields: another model");
  }
  // The rest as UsageAccumulator reads them from an Event (Value's typed reads).
  const auto& d = event.data;
  const auto number = [&](const char* key) {
    return d[key].is_number() ? std::optional<double>(d[key].as_double()) : std::nullopt;
  };
  if (usage.tokens_used != d["tokens_used"].as_int() ||
      usage.input_tokens != d["input_tokens"].as_int() ||
      usage.output_tokens != d["output_tokens"].as_int() ||
      usage.cached_input_tokens != d["cached_input_tokens"].as_int() ||
      usage.reasoning_tokens != d["reasoning_tokens"].as_int() ||
      usage.time_per_output_token_ms != number("time_per_output_token_ms") ||
      usage.inter_token_ms_p95 != number("inter_token_ms_p95") ||
      usage.output_tokens_per_second != number("output_tokens_per_second") ||
      usage.inter_token_ms_p50 != number("inter_token_ms_p50") ||
      usage.inter_token_ms_max != number("inter_token_ms_max") ||
      usage.cost_usd != d["cost_usd"].as_double() ||
      usage.response_time_ms != number("response_time_ms") || usage.ttft_ms != number("ttft_ms") ||
      usage.success !=
          (d["success"].is_bool() ? std::optional<bool>(d["success"].as_bool()) : std::nullopt)) {
    fail("decode_usage_fields reads a number otherwise than the Event does");
  }

  std::string again;
  if (!streamll::append_json(event, again)) fail("append_json failed");
  Event reparsed;
  if (!streamll::parse_event_json(again, reparsed, &error)) fail("append_json's output rejected");
  if (!same_after_round_trip(event, reparsed)) fail("event changed through append_json");
}

bool same_reply(const RedisReply& a, const RedisReply& b) {
  if (a.type != b.type || a.text != b.text || a.integer != b.integer) return false;
  if (a.elements.size() != b.elements.size()) return false;
  for (std::size_t i = 0; i < a.elements.size(); ++i) {
    if (!same_reply(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

// The replies in `bytes` fed in pieces cut at `cuts`; `broken` when a protocol error ends it.
std::vector<RedisReply> read_replies(std::string_view bytes, const std::vector<std::size_t>& cuts,
                                     bool& broken) {
  streamll::redis::RespReader reader;
  std::vector<RedisReply> replies;
  broken = false;
  std::size_t from = 0;
  try {
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
      const std::size_t to = i < cuts.size() ? cuts[i] : bytes.size();
      reader.feed(bytes.data() + from, to - from);
      from = to;
      while (auto reply = reader.next()) replies.push_back(std::move(*reply));
    }
  } catch (const streamll::IoError&) {
    broken = true;
  }
  return replies;
}

void decode_entries(const std::vector<streamll::redis::StreamEntry>& entries) {
  for (const auto& entry : entries) {
    Event event;
    streamll::DecodeFailure failure;
    (void)streamll::redis::decode_entry(entry, event, failure);
    (void)streamll::redis::EntryId::parse(entry.id);
  }
}

void check_resp(std::string_view bytes) {
  bool broken_whole = false, broken_split = false;
  const auto whole = read_replies(bytes, {}, broken_whole);
  const auto split = read_replies(bytes, {bytes.size() / 3, bytes.size() / 3 * 2}, broken_split);
  if (whole.size() != split.size() || broken_whole != broken_split) {
    fail("RespReader reads the bytes differently in pieces");
  }
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (!same_reply(whole[i], split[i])) fail("RespReader: a reply differs when read in pieces");
  }
  for (const RedisReply& reply : whole) {
    using Reader = void (*)(RedisReply&, std::vector<streamll::redis::StreamEntry>&);
    const Reader readers[] = {streamll::redis::append_entries, streamll::redis::append_read_entries,
                              [](RedisReply& r, std::vector<streamll::redis::StreamEntry>& out) {
                                (void)streamll::redis::append_autoclaim_entries(r, out);
                              }};
    for (Reader read : readers) {
      RedisReply copy = reply;  // the readers move strings out of it
      std::vector<streamll::redis::StreamEntry> entries;
      try {
        read(copy, entries);
      } catch (const streamll::IoError&) {
        // A reply of the wrong shape: reported, not a crash. Entries read before it stay.
      }
      decode_entries(entries);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_event_json(bytes);
  check_resp(bytes);
  return 0;
}
