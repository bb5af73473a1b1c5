// operator<< for Value, Fields and Event: what a failed CHECK shows instead of `{?}`.

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <type_traits>
#include <variant>

#include "json_writer.hpp"
#include "streamll/event.hpp"
#include "streamll/fields.hpp"

namespace streamll {
namespace {

void print_quoted(std::ostream& out, std::string_view text) {
  std::string quoted;
  detail::append_json_string(quoted, text);
  out << quoted;
}

// The shortest form that reads back as the same double, with a decimal point or an exponent so
// that it is never mistaken for an integer.
void print_double(std::ostream& out, double d) {
  if (std::isnan(d)) {
    out << "nan";
    return;
  }
  if (std::isinf(d)) {
    out << (d < 0 ? "-inf" : "inf");
    return;
  }
  char text[64];
#if defined(__cpp_lib_to_chars)
  // Positional notation where people read it that way (0.0001, 1500000.0), else the shorter.
  const double magnitude = std::fabs(d);
  const bool positional = magnitude == 0.0 || (magnitude >= 1e-5 && magnitude < 1e16);
  const auto result = positional
                          ? std::to_chars(text, text + sizeof text, d, std::chars_format::fixed)
                          : std::to_chars(text, text + sizeof text, d);
  std::string shown(text, result.ptr);
#else
  std::snprintf(text, sizeof text, "%.17g", d);
  std::string shown(text);
#endif
  if (shown.find_first_of(".e") == std::string::npos) shown += ".0";
  out << shown;
}

void print_tags(std::ostream& out, const Tags& tags) {
  out << '{';
  bool first = true;
  for (const auto& [key, value] : tags) {
    if (!first) out << ", ";
    first = false;
    print_quoted(out, key);
    out << ": ";
    print_quoted(out, value);
  }
  out << '}';
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const RawJson& json) {
  return out << "RawJson{" << json.text << '}';
}

std::ostream& operator<<(std::ostream& out, const Value& value) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out << "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out << (v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out << v;
        } else if constexpr (std::is_same_v<T, double>) {
          print_double(out, v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          print_quoted(out, v);
        } else {
          out << v;
        }
      },
      value.storage());
  return out;
}

std::ostream& operator<<(std::ostream& out, const Fields& fields) {
  out << '{';
  bool first = true;
  for (const auto& field : fields) {
    if (!first) out << ", ";
    first = false;
    print_quoted(out, field.key);
    out << ": " << field.value;
  }
  return out << '}';
}

std::ostream& operator<<(std::ostream& out, EventType type) { return out << to_string(type); }

std::ostream& operator<<(std::ostream& out, const TagValue& tag) {
  if (!tag.has_value()) return out << "(no tag)";
  print_quoted(out, *tag);
  return out;
}

std::ostream& operator<<(std::ostream& out, const Event& event) {
  out << "Event{type: ";
  print_quoted(out, event.type_name());
  const auto field = [&out](const char* name, const std::string& value) {
    if (value.empty()) return;
    out << ", " << name << ": ";
    print_quoted(out, value);
  };
  field("operation", event.operation());
  field("execution_id", event.execution_id());
  field("span_id", event.span_id());
  field("parent_span_id", event.parent_span_id());
  field("module_name", event.module_name());
  if (!event.tags().empty()) {
    out << ", tags: ";
    print_tags(out, event.tags());
  }
  return out << ", data: " << event.data << '}';
}

}  // namespace streamll
