// The throw hook: opt-in (-DSTREAMLL_THROW_HOOK=ON), because it replaces three entry points of
// the C++ runtime in every executable that links streamll. It interposes (only where libstdc++
// is the runtime; the real functions are found with dlsym(RTLD_NEXT)):
//   __cxa_throw        records, in the throwing thread, the exception's type and (for
//                      std::exception) its message, then calls the real one;
//   __cxa_rethrow      (`throw;`) records the exception being rethrown the same way;
//   __cxa_begin_catch  forgets the record once a handler has caught the exception.
// so that a span unwound by an exception can name it (src/exception_info.cpp reads the
// records). This file defines nothing else: linked from a static library, it is pulled in
// only to resolve these three symbols.

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "throw_hook/throw_record.hpp"

#if defined(__GLIBCXX__)
#include <dlfcn.h>

namespace {
template <typename Fn>
Fn next_definition(const char* name) noexcept {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (!symbol) std::abort();  // No C++ runtime after us: nothing sane left to do.
  return reinterpret_cast<Fn>(symbol);
}
}  // namespace

namespace __cxxabiv1 {
extern "C" void __cxa_throw(void* object, std::type_info* type, void (*destructor)(void*)) {
  using RealThrow = void (*)(void*, std::type_info*, void (*)(void*));
  static const RealThrow real = next_definition<RealThrow>("__cxa_throw");
  streamll::detail::record_thrown_object(std::uncaught_exceptions(), object, type);
  real(object, type, destructor);
  __builtin_unreachable();
}

extern "C" void __cxa_rethrow() {
  using RealRethrow = void (*)();
  static const RealRethrow real = next_definition<RealRethrow>("__cxa_rethrow");
  const int level = std::uncaught_exceptions();
  // Foreign exceptions (thread cancellation's forced unwind, other languages') have a null
  // exception_ptr: they must go on untouched, since catching one and not rethrowing it aborts.
  if (!std::current_exception()) real();
  // Catching the rethrown exception here (and rethrowing it again below) is the standard way to
  // look at the exception currently handled; a handler nested in a handler is well-defined.
  try {
    real();
  } catch (const std::exception& e) {
    streamll::detail::record_throw(level, abi::__cxa_current_exception_type(), e.what());
  } catch (...) {
    streamll::detail::record_throw(level, abi::__cxa_current_exception_type(), nullptr);
  }
  real();
  __builtin_unreachable();
}

extern "C" void* __cxa_begin_catch(void* exception) noexcept {
  using RealBeginCatch = void* (*)(void*);
  static const RealBeginCatch real = next_definition<RealBeginCatch>("__cxa_begin_catch");
  void* object = real(exception);
  // The caught exception no longer counts as uncaught: its level is the current count.
  streamll::detail::forget_throw(std::uncaught_exceptions());
  return object;
}
}  // namespace __cxxabiv1
#endif
