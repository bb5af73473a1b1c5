// STREAMLL_TOKEN_MODE: read when an instrumentor is made without a token_mode of its own, so a
// deployment can cut its token volume without a rebuild.

#include <cstdlib>
#include <string_view>

#include "logging.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll::detail {

TokenMode token_mode_from_env() noexcept {
  constexpr const char* kVariable = "STREAMLL_TOKEN_MODE";
  const char* text = std::getenv(kVariable);
  if (text == nullptr || *text == '\0') return TokenMode::each;
  if (const auto mode = parse_token_mode(text)) return *mode;
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
