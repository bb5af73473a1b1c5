#include "env_bool.hpp"

#include <cctype>
#include <cstdlib>
#include <string>
#include <string_view>

#include "logging.hpp"
#include "trim_blanks.hpp"

namespace streamll::detail {

bool env_bool(const char* variable, bool unset, bool unparseable) noexcept {
  const char* text = std::getenv(variable);
  // Spaces and tabs around the value are dropped; a value with only those counts as unset.
  const std::string_view value = trim_blanks(text == nullptr ? "" : text);
  if (value.empty()) return unset;
  try {
    std::string lower;
    for (const char c : value) {
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
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
