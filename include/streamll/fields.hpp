#pragma once
// Event payloads: a small ordered key/value list instead of a JSON document, so that
// building one on the application thread is a single allocation and no formatting.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace streamll {

/// JSON text the user already has (a list of documents, a nested object). It is written into
/// the event verbatim when it parses as JSON, and as a string when it does not, so a bad
/// fragment can never corrupt the surrounding event.
struct RawJson {
  std::string text;
  bool operator==(const RawJson& other) const { return text == other.text; }
};

/// One data value: null, bool, integer, floating point, string or raw JSON.
/// Integers of every width are stored as int64 (unsigned values above INT64_MAX saturate);
/// string literals become strings, never bools.
class Value {
 public:
  using Storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, RawJson>;

  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : v_(b) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T i) noexcept : v_(to_int64(i)) {}
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Value(T d) noexcept : v_(static_cast<double>(d)) {}
  Value(const char* s) : v_(std::in_place_type<std::string>, s ? s : "") {}
  Value(std::string s) noexcept : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::in_place_type<std::string>, s) {}
  Value(RawJson j) noexcept : v_(std::move(j)) {}

  bool is_null() const noexcept { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const noexcept { return std::holds_alternative<bool>(v_); }
  bool is_int() const noexcept { return std::holds_alternative<std::int64_t>(v_); }
  bool is_double() const noexcept { return std::holds_alternative<double>(v_); }
  bool is_number() const noexcept { return is_int() || is_double(); }
  bool is_string() const noexcept { return std::holds_alternative<std::string>(v_); }
  bool is_raw_json() const noexcept { return std::holds_alternative<RawJson>(v_); }

  /// Typed reads; a value of another type gives `fallback` (no exceptions).
  bool as_bool(bool fallback = false) const noexcept {
    auto p = std::get_if<bool>(&v_);
    return p ? *p : fallback;
  }
  std::int64_t as_int(std::int64_t fallback = 0) const noexcept {
    if (auto p = std::get_if<std::int64_t>(&v_)) return *p;
    if (auto d = std::get_if<double>(&v_)) {
      if (*d == *d && *d >= -9.2e18 && *d <= 9.2e18) return static_cast<std::int64_t>(*d);
    }
    return fallback;
  }
  double as_double(double fallback = 0.0) const noexcept {
    if (auto d = std::get_if<double>(&v_)) return *d;
    if (auto p = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*p);
    return fallback;
  }
  /// The string, or the raw JSON text; empty for other types.
  const std::string& as_string() const noexcept {
    static const std::string empty;
    if (auto s = std::get_if<std::string>(&v_)) return *s;
    if (auto j = std::get_if<RawJson>(&v_)) return j->text;
    return empty;
  }

  /// The value as `T` only when it holds one: no fallback, so a missing key (a null value), a
  /// string "3" or a bool never reads as a number. `T` is bool, an integer type (nullopt when
  /// the integer does not fit in it), double (an integer reads as a double too) or std::string
  /// (a string; raw JSON is not one).
  template <typename T>
  std::optional<T> get() const {
    if constexpr (std::is_same_v<T, bool>) {
      if (auto p = std::get_if<bool>(&v_)) return *p;
    } else if constexpr (std::is_integral_v<T>) {
      if (auto p = std::get_if<std::int64_t>(&v_)) {
        if (fits<T>(*p)) return static_cast<T>(*p);
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto d = std::get_if<double>(&v_)) return static_cast<T>(*d);
      if (auto p = std::get_if<std::int64_t>(&v_)) return static_cast<T>(*p);
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (auto s = std::get_if<std::string>(&v_)) return *s;
    } else {
      static_assert(std::is_same_v<T, bool>, "get<T>: T is bool, an integer, double or string");
    }
    return std::nullopt;
  }

  const Storage& storage() const noexcept { return v_; }
  bool operator==(const Value& other) const { return v_ == other.v_; }
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  template <typename T>
  static constexpr bool fits(std::int64_t i) noexcept {
    if constexpr (std::is_signed_v<T>) {
      return i >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
             i <= static_cast<std::int64_t>(std::numeric_limits<T>::max());
    } else {
      return i >= 0 && static_cast<std::uint64_t>(i) <= std::numeric_limits<T>::max();
    }
  }
  template <typename T>
  static constexpr std::int64_t to_int64(T i) noexcept {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
      return i > static_cast<T>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(i);
    } else {
      return static_cast<std::int64_t>(i);
    }
  }

  Storage v_;
};

struct Field {
  std::string key;
  Value value;

  Field() = default;
  Field(std::string k, Value v) noexcept : key(std::move(k)), value(std::move(v)) {}
  /// Builds the key and the value in place, the value from anything a Value is made from: one
  /// copy of each string, where going through a temporary Value costs two more moves.
  template <typename K, typename V>
  Field(std::in_place_t, K&& k, V&& v) : key(std::forward<K>(k)), value(std::forward<V>(v)) {}

  bool operator==(const Field& other) const { return key == other.key && value == other.value; }
};

/// An ordered list of unique keys. Small by design (a handful of keys per event): lookups are
/// linear, which beats hashing at this size and keeps the order the user wrote.
///
/// A key set twice has one entry: the last value wins, at the key's first position (set()
/// replaces in place). append_new() does not look; should it repeat a key anyway, the JSON
/// written still has the key once, by the same rule (first position, last value), as does
/// parse_event_json reading a document that repeats one.
class Fields {
 public:
  Fields() = default;
  Fields(std::initializer_list<Field> fields) {
    items_.reserve(fields.size());
    for (const auto& f : fields) set(f.key, f.value);
  }

  /// Adds or replaces `key`. Every repeat of it (see append_new) gets the value too, so the
  /// value written is this one (a redactor's set() must not leave an unredacted repeat behind).
  /// Only values are assigned: nothing moves, so iterators stay valid and `key` may be a field's.
  void set(std::string_view key, Value value) {
    Value* first = nullptr;
    for (auto& f : items_) {
      if (f.key != key) continue;
      if (first == nullptr) {
        first = &f.value;
      } else {
        f.value = value;  // rare: a repeat
      }
    }
    if (first != nullptr) {
      *first = std::move(value);
      return;
    }
    Field& f = items_.emplace_back();
    f.key = key;
    f.value = std::move(value);
  }
  /// Appends without looking for an existing key: for code that knows the key is new (a
  /// repeat is merged when the event is written, see above, but find() sees the first). The
  /// value is built in place from `value` (a string_view becomes a string copied once), which
  /// is what keeps a token event cheap.
  template <typename K, typename V>
  void append_new(K&& key, V&& value) {
    if constexpr (std::is_convertible_v<K&&, const char*>) {
      // A literal's length is known here, where this is inlined, and not after one more call.
      items_.emplace_back(std::in_place, std::string_view(key), std::forward<V>(value));
    } else {
      items_.emplace_back(std::in_place, std::forward<K>(key), std::forward<V>(value));
    }
  }
  void reserve(std::size_t n) { items_.reserve(n); }

  /// The value for `key`, or nullptr.
  const Value* find(std::string_view key) const noexcept {
    for (const auto& f : items_) {
      if (f.key == key) return &f.value;
    }
    return nullptr;
  }
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// The value for `key` as `T` (see Value::get), or nullopt when the key is missing or holds
  /// another type: `data.get<std::int64_t>("output_tokens") == 3` fails for a misspelt key,
  /// where `data["outptu_tokens"].as_int() == 0` would pass.
  template <typename T>
  std::optional<T> get(std::string_view key) const {
    const Value* v = find(key);
    return v ? v->get<T>() : std::nullopt;
  }
  /// The value for `key`, or a null value (also for a missing key: see get() and contains()).
  const Value& operator[](std::string_view key) const noexcept {
    static const Value null_value;
    const Value* v = find(key);
    return v ? *v : null_value;
  }
  /// Removes `key`, repeats included (a repeat left behind would be written in its place).
  /// Returns whether there was one. Invalidates iterators; `key` may be a field's own key.
  bool erase(std::string_view key) {
    if (!contains(key)) return false;
    // Removing moves later fields over earlier ones, so a `key` viewing one would change.
    const std::string owned(key);
    erase_if([&owned](const Field& f) { return f.key == owned; });
    return true;
  }

  /// Erases every field, repeats included, for which `pred(field)` is true; the others keep
  /// their order. Returns how many were erased. Allocates nothing.
  template <typename Pred>
  std::size_t erase_if(Pred pred) {
    const auto kept = std::remove_if(items_.begin(), items_.end(), pred);
    const auto erased = static_cast<std::size_t>(items_.end() - kept);
    items_.erase(kept, items_.end());
    return erased;
  }

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }
  /// Every field in place, repeats included: for changing values where set(), which finds the
  /// first field of a key, would miss a repeat (a redactor). A key changed to one already
  /// present makes a repeat, merged when written as append_new()'s are.
  auto begin() noexcept { return items_.begin(); }
  auto end() noexcept { return items_.end(); }
  bool operator==(const Fields& other) const { return items_ == other.items_; }

 private:
  std::vector<Field> items_;
};

/// Tags: string to string, ordered, unique keys.
using Tags = std::vector<std::pair<std::string, std::string>>;

// Printing, for test failures and debugging (src/event_print.cpp). Values print as in JSON
// (`null`, `true`, `15`, `"tiny-model"`), except that a double always shows a decimal point or
// exponent (`14.0`, so it is told from the integer 14), NaN and infinities print as `nan`,
// `inf` and `-inf`, and raw JSON as `RawJson{[1,2]}`. Fields print as
// `{"model": "tiny-model", "tokens_used": 15}`.
std::ostream& operator<<(std::ostream& out, const RawJson& json);
std::ostream& operator<<(std::ostream& out, const Value& value);
std::ostream& operator<<(std::ostream& out, const Fields& fields);

}  // namespace streamll
