#include "streamll/detail/wall_clock.hpp"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace streamll::detail {

bool HardwareClockSources::usable() noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const char* choice = std::getenv("STREAMLL_WALL_CLOCK");
  if (choice && std::strcmp(choice, "system") == 0) return false;
  // The kernel keeps time with the counter only after checking that it is invariant and
  // synchronized across CPUs; on any other clocksource (kvm-clock, hpet, a VM that moved) we
  // do not extrapolate it.
  // This runs inside an event's capture (noexcept): a thread cancelled while in fopen or fgets,
  // both cancellation points, would unwind through it and terminate the process.
  int cancel_state = 0;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  char name[32] = {};
  bool read = false;
  if (std::FILE* file = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r")) {
    read = std::fgets(name, sizeof name, file) != nullptr;
    std::fclose(file);
  }
  pthread_setcancelstate(cancel_state, nullptr);
  return read && std::strcmp(name, "tsc\n") == 0;
#else
  return false;
#endif
}

}  // namespace streamll::detail
