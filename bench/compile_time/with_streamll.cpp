// A translation unit as a user's would be: the umbrella header and one span.
#include <streamll/streamll.hpp>

int main() {
  STREAMLL_SPAN("step");
  return 0;
}
