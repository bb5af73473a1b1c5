#include "env_bool.hpp"

#include <cctype>
#include <cstdlib>
#include <string>

#include "logging.hpp"

namespace streamll::detail {

bool env_bool(const char* variable, bool unset, bool unparseable) noexcept {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return unset;
  try {
    std::string lower;
    for (const char* c = text; *c != '\0'; ++c) {
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*c))));
    }
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
    if (auto logger = get_logger("streamll")) {
      logger->warn("{}='{}' is not a boolean (true/false, 1/0, yes/no, on/off); using {}", variable,
                   text, unparseable);
    }
  } catch (...) {  // out of memory: as for a value it cannot read
  }
  return unparseable;
}

}  // namespace streamll::detail
