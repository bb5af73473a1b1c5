#include "cli/args.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace streamll::cli {
namespace {

const OptionSpec* find_spec(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const auto& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace

Args::Args(const std::vector<OptionSpec>& specs, int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      continue;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      throw UsageError("unexpected argument '" + arg + "' (options start with --)");
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = find_spec(specs, name);
    if (spec == nullptr) throw UsageError("unknown option --" + name);
    std::string value;
    if (spec->value_name.empty()) {
      if (inline_value) throw UsageError("--" + name + " takes no value");
    } else if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError("--" + name + " needs a value (" + spec->value_name + ")");
    }
    auto& slot = values_[name];
    if (!slot.empty() && !spec->repeatable) throw UsageError("--" + name + " given twice");
    slot.push_back(std::move(value));
  }
}

std::optional<std::string> Args::value(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::values(const std::string& name) const {
  const auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::value_or(const std::string& name, const std::string& fallback) const {
  return value(name).value_or(fallback);
}

std::optional<std::uint64_t> Args::unsigned_value(const std::string& name) const {
  const auto text = value(name);
  if (!text) return std::nullopt;
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || p != text->data() + text->size() || text->empty()) {
    throw UsageError("--" + name + ": '" + *text + "' is not a non-negative integer");
  }
  return v;
}

std::optional<double> Args::number_value(const std::string& name) const {
  const auto text = value(name);
  if (!text) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || end != text->c_str() + text->size() || !std::isfinite(v) || v < 0) {
    throw UsageError("--" + name + ": '" + *text + "' is not a non-negative number");
  }
  return v;
}

std::optional<std::int64_t> Args::duration_ms(const std::string& name) const {
  const auto text = value(name);
  if (!text) return std::nullopt;
  const auto ms = parse_duration_ms(*text);
  if (!ms)
    throw UsageError("--" + name + ": '" + *text +
                     "' is not a duration like 500ms, 30s, 15m, 24h or 7d");
  return ms;
}

std::optional<std::int64_t> parse_duration_ms(const std::string& text) {
  std::int64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || p == begin || number < 0) return std::nullopt;
  const std::string unit(p, end);
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m")
    scale = 60 * 1000;
  else if (unit == "h")
    scale = 3600 * 1000;
  else if (unit == "d")
    scale = 24 * 3600 * 1000;
  else
    return std::nullopt;
  if (number > INT64_MAX / scale) return std::nullopt;
  return number * scale;
}

std::string format_options(const std::vector<OptionSpec>& specs) {
  std::vector<std::string> left;
  std::size_t width = 0;
  for (const auto& spec : specs) {
    std::string l = "  --" + spec.name + (spec.value_name.empty() ? "" : " " + spec.value_name);
    width = std::max(width, l.size());
    left.push_back(std::move(l));
  }
  std::string out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    out += left[i] + std::string(width - left[i].size() + 2, ' ') + specs[i].help + "\n";
  }
  return out;
}

}  // namespace streamll::cli
