// Compiled as C++20 in the unit test build: the public headers must stay valid C++20 (C++20's
// rewritten comparison candidates once made TagValue's reversed operators recurse forever).
#include <streamll/sinks/jsonl_file_sink.hpp>
#include <streamll/sinks/memory_sink.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/sinks/terminal_sink.hpp>
#include <streamll/streamll.hpp>

#include <string>
#include <string_view>

static_assert(__cplusplus >= 202002L, "this file checks the headers under C++20");

bool streamll_cxx20_tag_comparisons(const streamll::Event& a, const streamll::Event& b) {
  const std::string text = "v";
  const std::string_view view = text;
  return a.tag("k") == "v" && "v" == a.tag("k") && a.tag("k") != "w" && "w" != a.tag("k") &&
         a.tag("k") == text && text == a.tag("k") && a.tag("k") != view && view != a.tag("k") &&
         a.tag("k") != nullptr && nullptr != a.tag("k") && a.tag("k") == b.tag("k") &&
         !(a.tag("k") != b.tag("k"));
}
