// parse_event_json: reads an event's JSON straight into an Event with nlohmann's SAX interface,
// without building a document tree first (consumers parse every stream entry: the tree's
// allocations were most of their time). Semantics are a document's: for a repeated key the
// last value counts, so each field's value is recorded as it streams past and judged at the
// end. Nested data values are captured as compact JSON text (RawJson).

#include <nlohmann/json.hpp>

#include <optional>
#include <unordered_map>

#include "json_writer.hpp"
#include "streamll/event.hpp"

namespace streamll {
namespace {

using json = nlohmann::json;

// What the last value of a top-level key was.
enum class Kind : std::uint8_t { absent, null, string, object, other };

// A key/value list in document order where a repeated key replaces the earlier value in place
// (a document keeps the last one). Linear lookups while small, a hash index beyond: a hostile
// object with a million keys stays linear to parse.
template <typename Item>
class OrderedUnique {
 public:
  Item& slot(std::string&& key) {
    constexpr std::size_t kLinear = 16;
    if (items_.size() < kLinear) {
      for (Item& item : items_) {
        if (item.first == key) return item;
      }
    } else {
      if (index_.empty()) {
        for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
      }
      const auto [it, inserted] = index_.emplace(key, items_.size());
      if (!inserted) return items_[it->second];
    }
    // Default-constructed, then the key moved in: GCC 12 misreads constructing the pair from a
    // temporary Value as reading an uninitialized variant (-Wmaybe-uninitialized).
    Item& item = items_.emplace_back();
    item.first = std::move(key);
    return item;
  }
  std::vector<Item>& items() noexcept { return items_; }
  void clear() {
    items_.clear();
    index_.clear();
  }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, std::size_t> index_;
};

// A tag as read: its text, and whether that was a JSON string (tags are string to string; any
// other value makes the event invalid, judged on the last value of each key).
struct TagItem {
  std::string first;
  std::string second;
  bool is_string = false;
};

// Writes the SAX events of one nested value back out as compact JSON text.
class Capture {
 public:
  void begin() {
    text_.clear();
    first_.clear();
  }
  void open(char bracket) {
    separate();
    text_.push_back(bracket);
    first_.push_back(true);
  }
  void close(char bracket) {
    text_.push_back(bracket);
    first_.pop_back();
  }
  void key(const std::string& k) {
    separate();
    detail::append_json_string(text_, k);
    text_.push_back(':');
    after_key_ = true;
  }
  void scalar(std::string_view literal) {
    separate();
    text_.append(literal);
  }
  void string(const std::string& s) {
    separate();
    detail::append_json_string(text_, s);
  }
  void number(double d) {
    separate();
    detail::append_json_double(text_, d);
  }
  void number(long long i) {
    separate();
    detail::append_json_int(text_, i);
  }
  void number(unsigned long long u) {
    separate();
    text_.append(std::to_string(u));
  }
  bool done() const noexcept { return first_.empty(); }
  std::string take() { return std::move(text_); }

 private:
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) text_.push_back(',');
    first_.back() = false;
  }
  std::string text_;
  std::vector<bool> first_;  // per open bracket: nothing written in it yet
  bool after_key_ = false;
};

class EventSax {
 public:
  // --- Values ---
  bool null() { return scalar_value(Kind::null, Value{}, "null"); }
  bool boolean(bool v) { return scalar_value(Kind::other, Value(v), v ? "true" : "false"); }
  bool number_integer(json::number_integer_t v) {
    if (capturing()) return capture_.number(static_cast<long long>(v)), true;
    return scalar_value(Kind::other, Value(static_cast<std::int64_t>(v)), std::to_string(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (capturing()) return capture_.number(static_cast<unsigned long long>(v)), true;
    return scalar_value(Kind::other, Value(static_cast<std::uint64_t>(v)), std::to_string(v));
  }
  bool number_float(json::number_float_t v, const std::string& text) {
    if (capturing()) return capture_.number(static_cast<double>(v)), true;
    return scalar_value(Kind::other, Value(static_cast<double>(v)), text);
  }
  bool string(std::string& v) {
    if (capturing()) return capture_.string(v), true;
    if (depth_ == 1) {
      record_top(Kind::string);
      if (Slot* s = top_slot()) s->text = std::move(v);
      return true;
    }
    if (in_data()) {
      data_.slot(std::move(key_)).second = Value(std::move(v));
    } else if (in_tags()) {
      TagItem& tag = tags_.slot(std::move(key_));
      tag.second = std::move(v);
      tag.is_string = true;
    }
    return true;
  }
  bool binary(json::binary_t&) { return false; }  // not produced by a text parse

  // --- Structure ---
  bool start_object(std::size_t) { return open('{'); }
  bool start_array(std::size_t) { return open('['); }
  bool end_object() { return close('}'); }
  bool end_array() { return close(']'); }
  bool key(std::string& k) {
    if (capturing()) return capture_.key(k), true;
    if (depth_ == 1) {
      top_ = top_field(k);
    } else {
      key_ = std::move(k);
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    syntax_error_ = true;
    return false;
  }

  // --- Results ---
  bool syntax_error() const noexcept { return syntax_error_; }
  bool top_is_object() const noexcept { return top_is_object_; }

  // The last value of each known top-level key.
  struct Slot {
    Kind kind = Kind::absent;
    std::string text;
  };
  enum Field : std::uint8_t {
    event_type,
    event_id,
    timestamp,
    execution_id,
    operation,
    span_id,
    parent_span_id,
    module_name,
    data,
    tags,
    unknown,
    field_count = unknown
  };
  const Slot& slot(Field f) const noexcept { return slots_[f]; }
  std::vector<std::pair<std::string, Value>>& data_items() noexcept { return data_.items(); }
  std::vector<TagItem>& tag_items() noexcept { return tags_.items(); }

 private:
  static Field top_field(const std::string& k) {
    static const std::pair<const char*, Field> known[] = {{"event_type", event_type},
                                                          {"event_id", event_id},
                                                          {"timestamp", timestamp},
                                                          {"execution_id", execution_id},
                                                          {"operation", operation},
                                                          {"span_id", span_id},
                                                          {"parent_span_id", parent_span_id},
                                                          {"module_name", module_name},
                                                          {"data", data},
                                                          {"tags", tags}};
    for (const auto& [name, field] : known) {
      if (k == name) return field;
    }
    return unknown;
  }

  Slot* top_slot() noexcept { return top_ == unknown ? nullptr : &slots_[top_]; }
  void record_top(Kind kind) {
    if (Slot* s = top_slot()) s->kind = kind;
  }
  bool in_data() const noexcept { return depth_ == 2 && container_ == data; }
  bool in_tags() const noexcept { return depth_ == 2 && container_ == tags; }
  bool capturing() const noexcept { return capture_depth_ != 0; }
  bool skipping() const noexcept { return skip_depth_ != 0; }

  bool scalar_value(Kind kind, Value value, std::string_view literal) {
    if (capturing()) return capture_.scalar(literal), true;
    if (depth_ == 0) return true;  // a bare scalar document: judged "not an object" at the end
    if (depth_ == 1) {
      record_top(kind);
      return true;
    }
    if (in_data()) {
      data_.slot(std::move(key_)).second = std::move(value);
    } else if (in_tags()) {
      TagItem& tag = tags_.slot(std::move(key_));
      tag.second = std::string(literal);
      tag.is_string = false;
    }
    return true;
  }

  bool open(char bracket) {
    ++depth_;
    if (skipping()) return true;
    if (capturing()) return capture_.open(bracket), true;
    if (depth_ == 1) {
      top_is_object_ = bracket == '{';
      if (!top_is_object_) skip_depth_ = depth_;
      return true;
    }
    if (depth_ == 2) {
      // A value of a top-level key: data and tags objects are read, the rest skipped.
      record_top(bracket == '{' ? Kind::object : Kind::other);
      if (bracket == '{' && (top_ == data || top_ == tags)) {
        container_ = top_;
        (top_ == data ? static_cast<void>(data_.clear()) : tags_.clear());
        return true;
      }
      skip_depth_ = depth_;
      return true;
    }
    if (depth_ == 3 && (container_ == data || container_ == tags)) {
      capture_depth_ = depth_;
      capture_.begin();
      capture_.open(bracket);
      return true;
    }
    skip_depth_ = depth_;
    return true;
  }

  bool close(char bracket) {
    if (skipping()) {
      if (depth_ == skip_depth_) skip_depth_ = 0;
      --depth_;
      return true;
    }
    if (capturing()) {
      capture_.close(bracket);
      if (depth_ == capture_depth_) {
        capture_depth_ = 0;
        if (container_ == data) {
          data_.slot(std::move(key_)).second = Value(RawJson{capture_.take()});
        } else {
          TagItem& tag = tags_.slot(std::move(key_));
          tag.second = capture_.take();
          tag.is_string = false;
        }
      }
      --depth_;
      return true;
    }
    if (depth_ == 2) container_ = unknown;
    --depth_;
    return true;
  }

  int depth_ = 0;
  int skip_depth_ = 0;     // inside a value nobody reads, opened at this depth
  int capture_depth_ = 0;  // inside a nested data/tags value, opened at this depth
  bool top_is_object_ = false;
  bool syntax_error_ = false;
  Field top_ = unknown;        // the top-level key whose value comes next
  Field container_ = unknown;  // data or tags while inside their object
  std::string key_;            // the data/tags key whose value comes next
  Slot slots_[field_count];
  OrderedUnique<std::pair<std::string, Value>> data_;
  OrderedUnique<TagItem> tags_;
  Capture capture_;
};

}  // namespace

bool parse_event_json(std::string_view text, Event& out, std::string* error) noexcept {
  auto fail = [&](std::string_view why) {
    if (error) {
      try {
        *error = why;
      } catch (...) {
      }
    }
    return false;
  };
  try {
    if (detail::json_nesting_depth(text) > detail::max_json_nesting + 2) {
      return fail("nested too deeply");
    }
    EventSax sax;
    const bool parsed = json::sax_parse(text.begin(), text.end(), &sax);
    if (!parsed || sax.syntax_error()) return fail("not valid JSON");
    if (!sax.top_is_object()) return fail("not a JSON object");

    using F = EventSax::Field;
    const auto& type = sax.slot(F::event_type);
    if (type.kind != Kind::string) return fail("event_type is missing or not a string");
    if (!is_valid_event_type_name(type.text))
      return fail("event_type is not a valid event type name");
    Event e;
    e.type = event_type_from_name(type.text);
    if (e.type == EventType::custom) e.custom_type = type.text;

    const auto& id = sax.slot(F::event_id);
    if (id.kind != Kind::absent && id.kind != Kind::null &&
        (id.kind != Kind::string || !EventId::parse(id.text, e.id))) {
      return fail("event_id is not a UUID");
    }
    const auto& time = sax.slot(F::timestamp);
    if (time.kind != Kind::absent && time.kind != Kind::null &&
        (time.kind != Kind::string || !parse_timestamp(time.text, e.timestamp))) {
      return fail("timestamp is not an RFC 3339 UTC time");
    }

    auto context = std::make_shared<EventContext>();
    const std::pair<F, std::string EventContext::*> strings[] = {
        {F::execution_id, &EventContext::execution_id},
        {F::operation, &EventContext::operation},
        {F::span_id, &EventContext::span_id},
        {F::parent_span_id, &EventContext::parent_span_id},
        {F::module_name, &EventContext::module_name}};
    static const char* const names[] = {"execution_id", "operation", "span_id", "parent_span_id",
                                        "module_name"};
    for (std::size_t i = 0; i < std::size(strings); ++i) {
      const auto& slot = sax.slot(strings[i].first);
      if (slot.kind == Kind::string) {
        (*context).*strings[i].second = slot.text;
      } else if (slot.kind != Kind::absent && slot.kind != Kind::null) {
        return fail(std::string(names[i]) + " is not a string");
      }
    }

    const auto& tags = sax.slot(F::tags);
    if (tags.kind != Kind::absent && tags.kind != Kind::null) {
      if (tags.kind != Kind::object) return fail("tags is not an object");
      auto& items = sax.tag_items();
      context->tags.reserve(items.size());
      for (auto& tag : items) {
        if (!tag.is_string) {
          std::string quoted;
          detail::append_json_string(quoted, tag.first);
          return fail("tags value of " + quoted + " is not a string");
        }
        context->tags.emplace_back(std::move(tag.first), std::move(tag.second));
      }
    }
    const auto& data = sax.slot(F::data);
    if (data.kind != Kind::absent && data.kind != Kind::null) {
      if (data.kind != Kind::object) return fail("data is not an object");
      auto& items = sax.data_items();
      e.data.reserve(items.size());
      // Keys are unique already: no lookup (a huge object stays linear).
      for (auto& [key, value] : items) e.data.append_new(std::move(key), std::move(value));
    }
    e.context = std::move(context);
    out = std::move(e);
    return true;
  } catch (...) {
    return fail("out of memory while parsing");
  }
}

}  // namespace streamll
