// The reference: spdlog's main header and one log line.
#include <spdlog/spdlog.h>

int main() {
  spdlog::info("step {}", 1);
  return 0;
}
