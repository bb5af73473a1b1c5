#pragma once
// A pricing table: each model's prices per million tokens, read from a JSON file, which fills
// an llm_call event's cost_usd when the caller gives none (InstrumentorOptions::pricing_file,
// STREAMLL_PRICING_FILE). The format is in docs/event-schema.md, "Pricing table"; an example
// ships as examples/pricing.example.json.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamll {

/// One model's prices, in US dollars per million tokens.
struct ModelPrice {
  double input_per_million = 0;
  double output_per_million = 0;
  /// The price of input tokens served from the provider's prompt cache; unset: the input price.
  std::optional<double> cached_input_per_million = {};
};

class PricingTable {
 public:
  /// An empty table: prices nothing.
  PricingTable() = default;

  /// The table in `json`. Throws ConfigError for `option` whose message names `source` (the
  /// file) and the problem: not JSON, no date, a price that is not a finite number >= 0, ...
  static PricingTable parse(std::string_view json, const std::string& source,
                            const std::string& option = "pricing_file");
  /// The table in the file at `path`; a missing or unreadable file throws ConfigError too.
  static PricingTable load(const std::string& path, const std::string& option = "pricing_file");

  /// The prices of `model` (its exact name), or null. A binary search: no allocation.
  const ModelPrice* find(std::string_view model) const noexcept {
    const auto it = std::lower_bound(
        models_.begin(), models_.end(), model,
        [](const std::pair<std::string, ModelPrice>& entry, std::string_view name) {
          return std::string_view(entry.first) < name;
        });
    return it != models_.end() && it->first == model ? &it->second : nullptr;
  }

  /// What a call cost at `price`. input_tokens include the cached ones, as in OpenAI's usage
  /// (prompt_tokens); reasoning tokens are part of output_tokens. So:
  ///   (input - cached) * input price + cached * cached price + output * output price,
  /// per million. Negative counts count as 0; cached ones beyond the input as the input.
  static double cost_usd(const ModelPrice& price, std::int64_t input_tokens,
                         std::int64_t cached_input_tokens, std::int64_t output_tokens) noexcept {
    const double input = static_cast<double>(std::max<std::int64_t>(input_tokens, 0));
    const double cached =
        std::min(static_cast<double>(std::max<std::int64_t>(cached_input_tokens, 0)), input);
    const double output = static_cast<double>(std::max<std::int64_t>(output_tokens, 0));
    const double cached_price = price.cached_input_per_million.value_or(price.input_per_million);
    return ((input - cached) * price.input_per_million + cached * cached_price +
            output * price.output_per_million) /
           1e6;
  }

  /// The table's "date": when its prices were copied from the providers (YYYY-MM-DD).
  const std::string& date() const noexcept { return date_; }
  /// Where it came from (the file's path), as errors and the log name it.
  const std::string& source() const noexcept { return source_; }
  std::size_t size() const noexcept { return models_.size(); }
  bool empty() const noexcept { return models_.empty(); }
  /// The models, sorted by name.
  const std::vector<std::pair<std::string, ModelPrice>>& models() const noexcept { return models_; }

 private:
  std::string date_;
  std::string source_;
  std::vector<std::pair<std::string, ModelPrice>> models_;  // sorted by name, names unique
};

}  // namespace streamll
