#include "streamll/detail/json_quoted.hpp"

#include "json_writer.hpp"

namespace streamll::detail {

std::string json_quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace streamll::detail
