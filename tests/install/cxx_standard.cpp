// Built with -std=c++20 through pkg-config by tests/install/check.sh: the package's flags must
// leave the user's language standard alone (a -std=c++17 in Cflags came after the user's own
// flag and won), and the headers must be valid C++20 (tag comparisons use C++20's rewritten
// candidates).
#include <streamll/streamll.hpp>

#include <memory>

static_assert(__cplusplus >= 202002L, "streamll's pkg-config flags changed the C++ standard");

int main() {
  auto context = std::make_shared<streamll::EventContext>();
  context->tags.emplace_back("k", "v");
  streamll::Event event;
  event.context = context;
  const bool ok = event.tag("k") == "v" && "v" == event.tag("k") && event.tag("k") != "w" &&
                  "w" != event.tag("k") && event.tag("missing") == nullptr;
  return ok ? 0 : 1;
}
