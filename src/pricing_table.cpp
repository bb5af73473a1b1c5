// PricingTable::parse and load, and the table an Instrumentor prices its calls with
// (InstrumentorOptions::pricing_file, else STREAMLL_PRICING_FILE). A bad table is a
// ConfigError at construction also from the environment: a file the operator named but that
// cannot be used would otherwise leave every cost out without a word.

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "calendar.hpp"
#include "logging.hpp"
#include "streamll/errors.hpp"
#include "streamll/instrumentor.hpp"
#include "streamll/pricing.hpp"
#include "trim_blanks.hpp"

namespace streamll {
namespace {

using json = nlohmann::json;

// A pricing table is a few kilobytes; this only keeps a wrong path (a log file, a device) from
// being read whole.
constexpr std::size_t kMaxFileBytes = 16u << 20;

[[noreturn]] void fail(const std::string& option, const std::string& source,
                       const std::string& problem) {
  throw ConfigError(option, "pricing table '" + source + "': " + problem);
}

bool is_date(const std::string& s) {
  auto digits = [&s](std::size_t from, std::size_t n) {
    for (std::size_t i = from; i < from + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!digits(0, 4) || !digits(5, 2) || !digits(8, 2)) return false;
  const int year = std::stoi(s.substr(0, 4));
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  const int day = (s[8] - '0') * 10 + (s[9] - '0');
  if (month < 1 || month > 12) return false;
  // A day of the calendar: 2025-02-31 is a typo the table's reader would trust.
  return day >= 1 && day <= detail::days_in_month(year, month);
}

// No provider charges anywhere near this per million tokens: a larger price is a typo (a
// misplaced exponent) that would make every cost absurd.
constexpr double kMaxPricePerMillion = 1e6;

// nlohmann keeps the last of two equal keys in an object without a word; other parsers keep
// the first. The parser's callback sees every key, so a key given twice in one object is found
// (the first such key, with its object's depth for the message).
class DuplicateKeys {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_.empty()) open_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_.empty() && parsed.is_string()) {
          const auto& key = parsed.get_ref<const std::string&>();
          if (!open_.back().insert(key).second && !duplicate_) duplicate_ = key;
        }
        break;
      default:
        break;
    }
    return true;
  }
  const std::optional<std::string>& duplicate() const noexcept { return duplicate_; }

 private:
  std::vector<std::set<std::string>> open_;  // the keys of each object being read
  std::optional<std::string> duplicate_;
};

}  // namespace

PricingTable PricingTable::parse(std::string_view text, const std::string& source,
                                 const std::string& option) {
  json doc;
  DuplicateKeys keys;
  try {
    doc = json::parse(text.begin(), text.end(),
                      [&keys](int depth, json::parse_event_t event, json& parsed) {
                        return keys(depth, event, parsed);
                      });
  } catch (const json::exception& e) {
    fail(option, source, std::string("not valid JSON (") + e.what() + ")");
  }
  if (keys.duplicate())
    fail(option, source, "key \"" + *keys.duplicate() + "\" is given twice in one object");
  if (!doc.is_object()) fail(option, source, "not a JSON object");
  PricingTable table;
  table.source_ = source;
  for (const auto& [key, value] : doc.items()) {
    if (key == "date") {
      if (!value.is_string() || !is_date(value.get<std::string>()))
        fail(option, source, "\"date\" must be a date written YYYY-MM-DD");
      table.date_ = value.get<std::string>();
    } else if (key == "currency") {
      if (value != "USD") fail(option, source, "\"currency\" must be \"USD\" (cost_usd)");
    } else if (key == "models") {
      if (!value.is_object()) fail(option, source, "\"models\" must be an object");
    } else if (key != "note" && key != "source") {
      fail(option, source,
           "unknown key \"" + key + "\" (known: date, currency, models, note, " + "source)");
    }
  }
  if (table.date_.empty()) fail(option, source, "\"date\" is missing (when were these prices?)");
  const auto models = doc.find("models");
  if (models == doc.end()) fail(option, source, "\"models\" is missing");
  for (const auto& item : models->items()) {
    // Not a structured binding: C++17 lambdas (clang) cannot capture one.
    const std::string& name = item.key();
    const nlohmann::json& prices = item.value();
    const std::string where = "model \"" + name + "\"";
    if (name.empty()) fail(option, source, "a model name is empty");
    if (!prices.is_object()) fail(option, source, where + " must be an object of prices");
    auto price = [&](const char* key, bool required) -> std::optional<double> {
      const auto it = prices.find(key);
      if (it == prices.end()) {
        if (required) fail(option, source, where + ": \"" + key + "\" is missing");
        return std::nullopt;
      }
      const double v = it->is_number() ? it->get<double>() : -1.0;
      if (!std::isfinite(v) || v < 0 || v > kMaxPricePerMillion)
        fail(option, source,
             where + ": \"" + key + "\" must be a finite number >= 0 and <= 1000000");
      return v;
    };
    for (const auto& entry : prices.items()) {
      const std::string& key = entry.key();
      if (key != "input_per_million" && key != "output_per_million" &&
          key != "cached_input_per_million") {
        fail(option, source,
             where + ": unknown key \"" + key +
                 "\" (known: input_per_million, output_per_million, cached_input_per_million)");
      }
    }
    ModelPrice p;
    p.input_per_million = *price("input_per_million", true);
    p.output_per_million = *price("output_per_million", true);
    p.cached_input_per_million = price("cached_input_per_million", false);
    table.models_.emplace_back(name, p);
  }
  // nlohmann's object is a std::map: the names come sorted and unique already. Sorted again so
  // that find() does not rest on that.
  std::sort(table.models_.begin(), table.models_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return table;
}

PricingTable PricingTable::load(const std::string& path, const std::string& option) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) fail(option, path, std::string("cannot be opened: ") + std::strerror(errno));
  std::string text;
  char buffer[8192];
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, n);
    if (text.size() > kMaxFileBytes) fail(option, path, "larger than 16 MiB");
    if (n < sizeof buffer) break;
  }
  // A directory opens but does not read (EISDIR).
  if (std::ferror(file.get()))
    fail(option, path, std::string("cannot be read: ") + std::strerror(errno));
  return parse(text, path, option);
}

namespace detail {

std::shared_ptr<const PricingTable> load_pricing_table(const std::optional<std::string>& file) {
  constexpr const char* kVariable = "STREAMLL_PRICING_FILE";
  std::string path;
  std::string option = "pricing_file";
  if (file) {
    path = *file;
  } else if (const char* text = std::getenv(kVariable)) {
    // Spaces and tabs around the path are dropped, as for STREAMLL_SAMPLE_RATE.
    path = std::string(detail::trim_blanks(text));
    option = kVariable;
  }
  if (path.empty()) return nullptr;
  auto table = std::make_shared<const PricingTable>(PricingTable::load(path, option));
  if (auto logger = get_logger("streamll")) {
    try {
      logger->info("pricing table '{}' dated {}: {} model{}", path, table->date(), table->size(),
                   table->size() == 1 ? "" : "s");
    } catch (...) {
    }
  }
  return table;
}

}  // namespace detail
}  // namespace streamll
