// How a Span learns which exception is unwinding through it. C++ offers no way to inspect an
// exception before a handler catches it, so this file interposes three Itanium ABI entry points
// (only where libstdc++ is the runtime):
//   __cxa_throw        records, in the throwing thread, the exception's type and (for
//                      std::exception) its message, then calls the real one;
//   __cxa_rethrow      (`throw;`) records the exception being rethrown the same way;
//   __cxa_begin_catch  forgets the record once a handler has caught the exception.
// Records are kept per nesting level (std::uncaught_exceptions() at the throw), so an exception
// thrown and caught inside a destructor while another one unwinds (a sink failing while a span
// reports the error) does not overwrite the record of the one being unwound. A span destroyed
// during unwinding reads the record of the innermost uncaught exception; when there is none
// (std::rethrow_exception, which bypasses these hooks) it reports "unknown exception" rather
// than a stale record. Builds that must not interpose (static libstdc++, unusual ABIs) define
// STREAMLL_NO_THROW_HOOK and always get "unknown exception".

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>

#include "streamll/span.hpp"

#if !defined(STREAMLL_NO_THROW_HOOK) && defined(__GLIBCXX__)
#include <dlfcn.h>
#define STREAMLL_HAS_THROW_HOOK 1
#endif

namespace streamll::detail {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                              std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

#ifdef STREAMLL_HAS_THROW_HOOK
struct ThrowRecord {
  const std::type_info* type = nullptr;
  std::string message;
};

// Deeper nesting than this (an exception thrown while three others unwind) is not recorded.
constexpr int kRecordedLevels = 4;

ThrowRecord* record_at(int level) noexcept {
  thread_local ThrowRecord records[kRecordedLevels];
  return level >= 0 && level < kRecordedLevels ? &records[level] : nullptr;
}

void record_throw(int level, const std::type_info* type, const char* message) noexcept {
  ThrowRecord* record = record_at(level);
  if (!record) return;
  record->type = type;
  try {
    record->message.assign(message ? message : "");
  } catch (...) {
    record->message.clear();
  }
}

void record_thrown_object(int level, void* object, const std::type_info* type) noexcept {
  const char* message = nullptr;
  void* adjusted = object;
  // The same test a `catch (const std::exception&)` handler performs, adjusting the pointer
  // to the std::exception base.
  if (type && typeid(std::exception).__do_catch(type, &adjusted, 1)) {
    message = static_cast<const std::exception*>(adjusted)->what();
  }
  record_throw(level, type, message);
}

void forget_throw(int level) noexcept {
  if (ThrowRecord* record = record_at(level)) record->type = nullptr;
}
#endif

}  // namespace

bool in_flight_exception(std::string& type, std::string& message) noexcept {
#ifdef STREAMLL_HAS_THROW_HOOK
  try {
    // The innermost uncaught exception was thrown when one fewer was in flight.
    const ThrowRecord* record = record_at(std::uncaught_exceptions() - 1);
    if (!record || !record->type) return false;
    type = demangle(record->type->name());
    message = record->message;
    return true;
  } catch (...) {
    return false;
  }
#else
  (void)type;
  (void)message;
  return false;
#endif
}

std::string current_exception_type() noexcept {
  try {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type ? demangle(type->name()) : std::string();
  } catch (...) {
    return {};
  }
}

std::string type_name(const std::type_info& type) noexcept {
  try {
    return demangle(type.name());
  } catch (...) {
    return {};
  }
}

}  // namespace streamll::detail

#ifdef STREAMLL_HAS_THROW_HOOK
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
