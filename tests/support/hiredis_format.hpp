#pragma once
// Test oracle: hiredis's own RESP formatter (redisFormatCommandArgv), an encoder written and
// used independently of streamll's, and a byte comparison that names the first difference
// instead of printing megabytes.

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "streamll/event.hpp"
#include "streamll/redis/options.hpp"

namespace streamll_test {

/// The RESP array of bulk strings hiredis sends for `argv`.
inline std::string hiredis_format(const std::vector<std::string>& argv) {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const std::string& a : argv) {
    pointers.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  const int length = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()),
                                            pointers.data(), lengths.data());
  if (length < 0 || formatted == nullptr) throw std::runtime_error("redisFormatCommandArgv failed");
  std::string bytes(formatted, static_cast<std::size_t>(length));
  redisFreeCommand(formatted);
  return bytes;
}

/// Empty when equal; otherwise both sizes, the first differing offset and the bytes around it
/// (escaped), which is what a failing comparison needs to show.
inline std::string byte_mismatch(const std::string& actual, const std::string& expected) {
  if (actual == expected) return {};
  const std::size_t common = std::min(actual.size(), expected.size());
  std::size_t at = 0;
  while (at < common && actual[at] == expected[at]) ++at;
  const auto window = [at](const std::string& s) {
    const std::size_t from = at > 16 ? at - 16 : 0;
    std::string shown;
    for (std::size_t i = from; i < s.size() && i < at + 24; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (i == at) shown += "[>]";
      if (c == '\r') {
        shown += "\\r";
      } else if (c == '\n') {
        shown += "\\n";
      } else if (c < 0x20 || c >= 0x7f) {
        const char* hex = "0123456789abcdef";
        shown += "\\x";
        shown += hex[c >> 4];
        shown += hex[c & 15];
      } else {
        shown += static_cast<char>(c);
      }
    }
    return shown;
  };
  return "actual " + std::to_string(actual.size()) + " bytes, expected " +
         std::to_string(expected.size()) + "; first difference at byte " + std::to_string(at) +
         ": actual \"" + window(actual) + "\" expected \"" + window(expected) + "\"";
}

/// The arguments of the RedisSink's XADD for `event` whose JSON is `json`, built from the
/// options without the encoder: what hiredis_format() turns into the expected bytes.
inline std::vector<std::string> xadd_argv(const streamll::RedisSinkOptions& o,
                                          const streamll::Event& event, const std::string& json) {
  // Token events go to token_stream_key, when set, with its own MAXLEN.
  const bool token_stream = event.type == streamll::EventType::token && !o.token_stream_key.empty();
  const auto& max_length = token_stream ? o.token_max_stream_length : o.max_stream_length;
  std::vector<std::string> argv = {"XADD", token_stream ? o.token_stream_key : o.stream_key};
  if (max_length) {
    argv.emplace_back("MAXLEN");
    if (o.approximate_trimming) argv.emplace_back("~");
    argv.push_back(std::to_string(*max_length));
  }
  argv.insert(argv.end(), {"*", "event", json});
  if (o.index_fields) {
    argv.insert(argv.end(), {"event_type", std::string(event.type_name()), "operation",
                             event.operation(), "execution_id", event.execution_id()});
  }
  return argv;
}

}  // namespace streamll_test
