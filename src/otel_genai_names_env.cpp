// STREAMLL_OTEL_GENAI_NAMES: read when an instrumentor is made without otel_genai_names of its
// own, so a deployment can feed an OpenTelemetry-minded tool without a rebuild.

#include <cctype>
#include <cstdlib>
#include <string>

#include "logging.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll::detail {

bool otel_genai_names_from_env() noexcept {
  constexpr const char* kVariable = "STREAMLL_OTEL_GENAI_NAMES";
  const char* text = std::getenv(kVariable);
  if (text == nullptr || *text == '\0') return false;
  try {
    std::string lower;
    for (const char* c = text; *c != '\0'; ++c) {
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*c))));
    }
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
    if (auto logger = get_logger("streamll")) {
      logger->warn("{}='{}' is not a boolean (true/false, 1/0, yes/no, on/off); using false",
                   kVariable, text);
    }
  } catch (...) {  // out of memory: the default
  }
  return false;
}

}  // namespace streamll::detail
