#include "redis/analytics/usage_decoder.hpp"

#include <nlohmann/json.hpp>

#include <string_view>
#include <unordered_set>

#include "json_writer.hpp"
#include "streamll/event.hpp"

namespace streamll::redis {
namespace {

// What a data value was, for the fields usage statistics read.
struct Number {
  enum Kind { none, integer, floating, boolean, string } kind = none;
  std::int64_t i = 0;
  double d = 0;
  bool b = false;
};

class UsageSax {
 public:
  using json = nlohmann::json;
  UsageSax(UsageFields& out, std::string_view tag_key) : out_(out), wanted_tag_(tag_key) {}

  // parse_event_json's rules, checked as the values stream past (the last duplicate key wins,
  // as in a DOM, so each rule is recorded per key and judged at the end).
  bool null() { return scalar(kNull); }
  bool boolean(bool v) {
    if (in_data_value()) data_.kind = Number::boolean, data_.b = v;
    return scalar(kOther);
  }
  bool number_integer(json::number_integer_t v) {
    if (in_data_value()) data_.kind = Number::integer, data_.i = v;
    return scalar(kOther);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (in_data_value()) {
      data_.kind = Number::integer;
      data_.i = v > static_cast<json::number_unsigned_t>(INT64_MAX) ? INT64_MAX
                                                                    : static_cast<std::int64_t>(v);
    }
    return scalar(kOther);
  }
  bool number_float(json::number_float_t v, const std::string&) {
    if (in_data_value()) data_.kind = Number::floating, data_.d = v;
    return scalar(kOther);
  }
  bool string(std::string& v) {
    if (depth_ == 1) {
      top_string(v);
      return true;
    }
    if (in_tags_value()) {
      non_string_tags_.erase(tag_key_);
      if (!wanted_tag_.empty() && tag_key_ == wanted_tag_) out_.tag_value = std::move(v);
      return true;
    }
    if (in_data_value()) {
      data_.kind = Number::string;
      if (data_key_ == kModel) string_value_ = std::move(v);
    }
    return scalar(kOther);
  }
  bool binary(json::binary_t&) { return scalar(kOther); }
  bool start_object(std::size_t) { return open(kObject); }
  bool start_array(std::size_t) { return open(kArray); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  // Keys are matched as string_views, whose comparison checks the length first: most of an
  // llm_call event's 30-odd data keys are none of these, and a std::string compared with a
  // literal ran strlen and memcmp for each (a fifth of `streamll stats`'s time).
  bool key(std::string& k) {
    if (depth_ == 1) {
      top_ = top_key_kind(k);
    } else if (in_tags_object()) {
      tag_key_ = k;
    } else if (depth_ == 2 && top_ == kTopData) {
      data_key_ = data_key_kind(k);
      data_ = Number{};
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

  /// After a complete parse: the verdict of parse_event_json's rules.
  bool verdict(std::string& reason) {
    if (!top_is_object_) return fail(reason, "not a JSON object");
    if (!type_ok_) return fail(reason, "event_type is missing or not a string");
    if (!is_valid_event_type_name(out_.type_name))
      return fail(reason, "event_type is not a valid event type name");
    if (id_bad_) return fail(reason, "event_id is not a UUID");
    if (timestamp_bad_) return fail(reason, "timestamp is not an RFC 3339 UTC time");
    // parse_event_json checks the context's fields in this order and names the first.
    for (int field = kTopExecutionId; field <= kTopModuleName; ++field) {
      if (context_bad_ & context_bit(static_cast<TopKey>(field))) {
        return fail(reason,
                    std::string(kContextNames[field - kTopExecutionId]) + " is not a string");
      }
    }
    if (tags_bad_) return fail(reason, "tags is not an object");
    if (!non_string_tags_.empty()) return fail(reason, "tags value is not a string");
    if (data_bad_) return fail(reason, "data is not an object");
    return true;
  }

 private:
  enum Kind { kNull, kObject, kArray, kOther };
  // The top-level keys the rules look at; the context's string fields last, in
  // parse_event_json's order (kContextNames).
  enum TopKey {
    kTopOther,
    kTopEventType,
    kTopEventId,
    kTopTimestamp,
    kTopTags,
    kTopData,
    kTopExecutionId,
    kTopOperation,
    kTopSpanId,
    kTopParentSpanId,
    kTopModuleName
  };
  static constexpr std::string_view kContextNames[] = {"execution_id", "operation", "span_id",
                                                       "parent_span_id", "module_name"};
  static bool is_context(TopKey k) noexcept { return k >= kTopExecutionId; }
  static unsigned context_bit(TopKey k) noexcept { return 1u << (k - kTopExecutionId); }
  enum DataKey {
    kOtherKey,
    kModel,
    kTokens,
    kInput,
    kOutput,
    kCached,
    kReasoning,
    kCost,
    kResponse,
    kTtft,
    kTpot,
    kGapP95,
    kSuccess,
    kTokensPerSecond,
    kGapP50,
    kGapMax
  };

  static TopKey top_key_kind(std::string_view k) noexcept {
    using namespace std::string_view_literals;
    if (k == "data"sv) return kTopData;
    if (k == "tags"sv) return kTopTags;
    if (k == "event_type"sv) return kTopEventType;
    if (k == "event_id"sv) return kTopEventId;
    if (k == "timestamp"sv) return kTopTimestamp;
    for (int field = kTopExecutionId; field <= kTopModuleName; ++field) {
      if (k == kContextNames[field - kTopExecutionId]) return static_cast<TopKey>(field);
    }
    return kTopOther;
  }
  static DataKey data_key_kind(std::string_view k) noexcept {
    using namespace std::string_view_literals;
    return k == "model"sv                      ? kModel
           : k == "tokens_used"sv              ? kTokens
           : k == "input_tokens"sv             ? kInput
           : k == "output_tokens"sv            ? kOutput
           : k == "cached_input_tokens"sv      ? kCached
           : k == "reasoning_tokens"sv         ? kReasoning
           : k == "cost_usd"sv                 ? kCost
           : k == "response_time_ms"sv         ? kResponse
           : k == "ttft_ms"sv                  ? kTtft
           : k == "time_per_output_token_ms"sv ? kTpot
           : k == "inter_token_ms_p95"sv       ? kGapP95
           : k == "success"sv                  ? kSuccess
           : k == "output_tokens_per_second"sv ? kTokensPerSecond
           : k == "inter_token_ms_p50"sv       ? kGapP50
           : k == "inter_token_ms_max"sv       ? kGapMax
                                               : kOtherKey;
  }

  static bool fail(std::string& reason, std::string why) {
    reason = std::move(why);
    return false;
  }
  bool in_tags_object() const noexcept { return depth_ == 2 && top_ == kTopTags; }
  bool in_tags_value() const noexcept { return in_tags_object(); }
  bool in_data_value() const noexcept {
    return depth_ == 2 && top_ == kTopData && data_key_ != kOtherKey;
  }

  // A top-level value of kind `k` for the key top_ names (strings go through top_string()).
  void top_value(Kind k) {
    const bool null = k == kNull;
    switch (top_) {
      case kTopEventType:
        type_ok_ = false;
        break;
      case kTopEventId:
        id_bad_ = !null;
        break;
      case kTopTimestamp:
        timestamp_bad_ = !null;
        break;
      case kTopTags:
        tags_bad_ = !(null || k == kObject), non_string_tags_.clear(), out_.tag_value.reset();
        break;
      case kTopData:
        data_bad_ = !(null || k == kObject);
        // The last "data" wins: anything but an object leaves the event without usage, and
        // its values (an array's) are no data key's.
        if (k != kObject) reset_data();
        data_key_ = kOtherKey;
        break;
      default:
        if (is_context(top_)) set_context_bad(!null);
        break;
    }
  }
  void top_string(std::string& v) {
    switch (top_) {
      case kTopEventType:
        type_ok_ = true;
        out_.type_name = std::move(v);
        break;
      case kTopEventId: {
        EventId id;
        id_bad_ = !EventId::parse(v, id);
        break;
      }
      case kTopTimestamp: {
        Timestamp t;
        timestamp_bad_ = !parse_timestamp(v, t);
        break;
      }
      case kTopTags:
        tags_bad_ = true;
        non_string_tags_.clear();
        break;
      case kTopData:
        data_bad_ = true;
        reset_data();
        data_key_ = kOtherKey;
        break;
      default:
        if (is_context(top_)) set_context_bad(false);
        break;
    }
  }
  // One flag per field, since the last of a repeated key decides (as in a DOM).
  void set_context_bad(bool bad) {
    if (bad) {
      context_bad_ |= context_bit(top_);
    } else {
      context_bad_ &= ~context_bit(top_);
    }
  }

  bool scalar(Kind k) {
    if (depth_ == 0) return true;  // a scalar document: not an object (judged at the end)
    if (depth_ == 1) top_value(k);
    if (in_tags_value()) non_string_tags_.insert(tag_key_);
    if (depth_ == 2 && top_ == kTopData && data_key_ != kOtherKey) commit_data();
    return true;
  }
  bool open(Kind k) {
    if (depth_ == 0) top_is_object_ = k == kObject;
    if (depth_ == 1) top_value(k);
    if (depth_ == 1 && top_ == kTopData && k == kObject) reset_data();
    if (depth_ == 2 && top_ == kTopData) data_ = Number{}, commit_data();  // nested: not a number
    if (in_tags_value()) non_string_tags_.insert(tag_key_);
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  void reset_data() {
    out_.model.clear();
    out_.model_is_string = false;
    out_.tokens_used = out_.input_tokens = out_.output_tokens = 0;
    out_.cached_input_tokens = out_.reasoning_tokens = 0;
    out_.cost_usd = 0;
    out_.cost_invalid = false;
    out_.response_time_ms.reset();
    out_.ttft_ms.reset();
    out_.time_per_output_token_ms.reset();
    out_.inter_token_ms_p95.reset();
    out_.success.reset();
    out_.output_tokens_per_second.reset();
    out_.inter_token_ms_p50.reset();
    out_.inter_token_ms_max.reset();
  }
  // Mirrors Value::as_int / as_double / is_number on the parsed value.
  void commit_data() {
    const bool number = data_.kind == Number::integer || data_.kind == Number::floating;
    const double as_double = data_.kind == Number::integer ? static_cast<double>(data_.i) : data_.d;
    std::int64_t as_int = 0;
    if (data_.kind == Number::integer) as_int = data_.i;
    if (data_.kind == Number::floating && data_.d == data_.d && data_.d >= -9.2e18 &&
        data_.d <= 9.2e18) {
      as_int = static_cast<std::int64_t>(data_.d);
    }
    switch (data_key_) {
      case kModel:
        out_.model_is_string = data_.kind == Number::string;
        out_.model = out_.model_is_string ? std::move(string_value_) : std::string();
        break;
      case kTokens:
        out_.tokens_used = as_int;
        break;
      case kInput:
        out_.input_tokens = as_int;
        break;
      case kOutput:
        out_.output_tokens = as_int;
        break;
      case kCached:
        out_.cached_input_tokens = as_int;
        break;
      case kReasoning:
        out_.reasoning_tokens = as_int;
        break;
      case kCost:
        out_.cost_usd = number ? as_double : 0.0;
        out_.cost_invalid = !is_valid_cost(number, as_double);
        break;
      case kResponse:
        out_.response_time_ms = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kTtft:
        out_.ttft_ms = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kTpot:
        out_.time_per_output_token_ms = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kGapP95:
        out_.inter_token_ms_p95 = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kSuccess:
        out_.success = data_.kind == Number::boolean ? std::optional<bool>(data_.b) : std::nullopt;
        break;
      case kTokensPerSecond:
        out_.output_tokens_per_second = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kGapP50:
        out_.inter_token_ms_p50 = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kGapMax:
        out_.inter_token_ms_max = number ? std::optional<double>(as_double) : std::nullopt;
        break;
      case kOtherKey:
        break;
    }
  }

  UsageFields& out_;
  std::string_view wanted_tag_;  // the tag whose value goes into out_.tag_value; empty: none
  int depth_ = 0;
  TopKey top_ = kTopOther;
  DataKey data_key_ = kOtherKey;
  Number data_;
  std::string string_value_;
  bool top_is_object_ = false;
  bool type_ok_ = false;
  std::string tag_key_;
  // Keys of tags whose last value so far is not a string: the event is invalid while any is.
  std::unordered_set<std::string> non_string_tags_;
  bool id_bad_ = false, timestamp_bad_ = false, tags_bad_ = false, data_bad_ = false;
  unsigned context_bad_ = 0;  // context_bit() of each context field whose last value is bad
};

}  // namespace

bool decode_usage_fields(std::string_view json, UsageFields& out, DecodeFailureKind& kind,
                         std::string& reason, std::string_view tag_key) noexcept {
  try {
    out = UsageFields{};
    if (detail::json_nesting_depth(json) > detail::max_json_nesting + 2) {
      kind = nlohmann::json::accept(json.begin(), json.end()) ? DecodeFailureKind::invalid_event
                                                              : DecodeFailureKind::malformed_json;
      reason = "nested too deeply";
      return false;
    }
    UsageSax sax(out, tag_key);
    if (!nlohmann::json::sax_parse(json.begin(), json.end(), &sax)) {
      kind = DecodeFailureKind::malformed_json;
      reason = "not valid JSON";
      return false;
    }
    if (!sax.verdict(reason)) {
      kind = DecodeFailureKind::invalid_event;
      return false;
    }
    return true;
  } catch (...) {
    kind = DecodeFailureKind::invalid_event;
    reason = "out of memory while decoding";
    return false;
  }
}

}  // namespace streamll::redis
