#pragma once
// std::uncaught_exceptions() in a few instructions instead of a call into the C++ runtime,
// which looks up the runtime's thread-local data each time: a span asks twice, and the two
// calls were half the 10 ns budget of a span inside a sampled-out execution
// (docs/performance.md). The Itanium C++ ABI (section 2.2.2, thread-local data) fixes the
// layout of the thread's __cxa_eh_globals, which libstdc++, libc++abi and libcxxrt keep at
// one address for the thread's life, so it is looked up once per thread. Elsewhere (Windows,
// Emscripten, whose exceptions may live outside that record, or no <cxxabi.h>): the standard
// call.

#include <exception>

#if (defined(__GLIBCXX__) || defined(_LIBCPP_VERSION)) && !defined(_WIN32) && \
    !defined(__EMSCRIPTEN__) && defined(__has_include)
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define STREAMLL_DETAIL_READS_EH_GLOBALS 1
#endif
#endif

namespace streamll::detail {

#ifdef STREAMLL_DETAIL_READS_EH_GLOBALS
/// The ABI's __cxa_eh_globals, as far as it is read here.
struct ItaniumEhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

inline int uncaught_exceptions() noexcept {
  // Constant-initialized and set on first use, rather than initialized by a call: that would
  // add a guard variable, a second thread-local lookup in position-independent code.
  static thread_local const ItaniumEhGlobals* globals = nullptr;
  if (__builtin_expect(globals == nullptr, 0)) {
    globals = reinterpret_cast<const ItaniumEhGlobals*>(abi::__cxa_get_globals());
  }
  return static_cast<int>(globals->uncaught_exceptions);
}
#else
inline int uncaught_exceptions() noexcept { return std::uncaught_exceptions(); }
#endif

}  // namespace streamll::detail

#undef STREAMLL_DETAIL_READS_EH_GLOBALS
