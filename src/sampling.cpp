// InstrumentorOptions::sample_rate and operation_sample_rates, checked; STREAMLL_SAMPLE_RATE
// when the option is unset, so a deployment can turn its volume down without a rebuild.

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "logging.hpp"
#include "streamll/instrumentor.hpp"
#include "trim_blanks.hpp"

namespace streamll::detail {
namespace {

bool is_rate(double rate) noexcept { return rate >= 0.0 && rate <= 1.0; }  // false for NaN

std::string rate_text(double rate) { return fmt::format("{}", rate); }

double rate_from_env() noexcept {
  constexpr const char* kVariable = "STREAMLL_SAMPLE_RATE";
  const char* text = std::getenv(kVariable);
  if (text == nullptr || *text == '\0') return 1.0;
  // from_chars, not strtod: the C locale's decimal point whatever the application set.
  const std::string_view value = detail::trim_blanks(text);
  if (value.empty()) return 1.0;  // blank: as unset
  double rate = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), rate);
  if (error == std::errc() && end == value.data() + value.size() && is_rate(rate)) return rate;
  if (auto logger = get_logger("streamll")) {
    try {
      logger->warn("{}='{}' is not a rate between 0 and 1; recording every execution", kVariable,
                   text);
    } catch (...) {
    }
  }
  return 1.0;
}

}  // namespace

Sampler make_sampler(std::optional<double> rate, std::vector<OperationSampleRate> per_operation) {
  if (rate && !is_rate(*rate)) {
    throw ConfigError("sample_rate", "must be between 0 and 1, got " + rate_text(*rate));
  }
  for (const auto& entry : per_operation) {
    if (!is_rate(entry.rate)) {
      throw ConfigError("operation_sample_rates", "the rate of operation '" + entry.operation +
                                                      "' must be between 0 and 1, got " +
                                                      rate_text(entry.rate));
    }
  }
  return Sampler(rate ? *rate : rate_from_env(), std::move(per_operation));
}

}  // namespace streamll::detail
