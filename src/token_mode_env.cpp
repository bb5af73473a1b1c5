// STREAMLL_TOKEN_MODE: read when an instrumentor is made without a token_mode of its own, so a
// deployment can cut its token volume without a rebuild.

#include <cstdlib>
#include <string_view>

#include "logging.hpp"
#include "streamll/instrumentor.hpp"
#include "trim_blanks.hpp"

namespace streamll::detail {

TokenMode token_mode_from_env() noexcept {
  constexpr const char* kVariable = "STREAMLL_TOKEN_MODE";
  const char* text = std::getenv(kVariable);
  // Spaces and tabs around the value are dropped, as for the other STREAMLL_* variables of the
  // instrumentor: a value with only those counts as unset.
  const std::string_view value = trim_blanks(text == nullptr ? "" : text);
  if (value.empty()) return TokenMode::each;
  if (const auto mode = parse_token_mode(value)) return *mode;
  if (auto logger = get_logger("streamll")) {
    try {
      logger->warn("{}='{}' is not a token mode (each, chunked, summary, off); using each",
                   kVariable, text);
    } catch (...) {
    }
  }
  return TokenMode::each;
}

}  // namespace streamll::detail
