#pragma once
// std::uncaught_exceptions() in a few instructions instead of a call into the C++ runtime,
// which looks up the runtime's thread-local data each time: a span asks twice, and the two
// calls were half the 10 ns budget of a span inside a sampled-out execution
// (docs/performance.md). The Itanium C++ ABI (section 2.2.2, thread-local data) fixes the
// layout of the thread's __cxa_eh_globals, which libstdc++ and libc++abi keep at one address
// for the thread's life, so it is looked up once per thread. Other runtimes: the standard call.

#include <exception>

#if defined(__GLIBCXX__) || defined(_LIBCPP_VERSION)
#include <cxxabi.h>
#define STREAMLL_ITANIUM_EH_GLOBALS 1
#endif

namespace streamll::detail {

#ifdef STREAMLL_ITANIUM_EH_GLOBALS
/// The ABI's __cxa_eh_globals, as far as it is read here.
struct ItaniumEhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

inline int uncaught_exceptions() noexcept {
  static thread_local const ItaniumEhGlobals* const globals =
      reinterpret_cast<const ItaniumEhGlobals*>(abi::__cxa_get_globals());
  return static_cast<int>(globals->uncaught_exceptions);
}
#else
inline int uncaught_exceptions() noexcept { return std::uncaught_exceptions(); }
#endif

}  // namespace streamll::detail
