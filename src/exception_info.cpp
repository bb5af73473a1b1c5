// How a Span learns which exception is unwinding through it. C++ offers no way to inspect an
// exception before a handler catches it, so this file interposes the Itanium ABI's
// __cxa_throw: every throw first records, in the throwing thread, the exception's type and (for
// std::exception) its message, then calls the real __cxa_throw. A span destroyed during
// unwinding reads that record. Builds that must not interpose (static libstdc++, unusual ABIs)
// define STREAMLL_NO_THROW_HOOK and get "unknown exception" instead.

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
struct LastThrown {
  const std::type_info* type = nullptr;
  std::string message;
};

LastThrown& last_thrown() noexcept {
  thread_local LastThrown record;
  return record;
}

void record_throw(void* object, const std::type_info* type) noexcept {
  LastThrown& record = last_thrown();
  record.type = type;
  try {
    record.message.clear();
    void* adjusted = object;
    // The same test a `catch (const std::exception&)` handler performs, adjusting the pointer
    // to the std::exception base.
    if (type && typeid(std::exception).__do_catch(type, &adjusted, 1)) {
      record.message = static_cast<const std::exception*>(adjusted)->what();
    }
  } catch (...) {
    record.message.clear();
  }
}
#endif

}  // namespace

bool in_flight_exception(std::string& type, std::string& message) noexcept {
#ifdef STREAMLL_HAS_THROW_HOOK
  try {
    const LastThrown& record = last_thrown();
    if (!record.type) return false;
    type = demangle(record.type->name());
    message = record.message;
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

}  // namespace streamll::detail

#ifdef STREAMLL_HAS_THROW_HOOK
namespace __cxxabiv1 {
extern "C" void __cxa_throw(void* object, std::type_info* type, void (*destructor)(void*)) {
  using RealThrow = void (*)(void*, std::type_info*, void (*)(void*));
  static const RealThrow real = reinterpret_cast<RealThrow>(dlsym(RTLD_NEXT, "__cxa_throw"));
  streamll::detail::record_throw(object, type);
  if (!real) std::abort();  // No C++ runtime after us: nothing sane left to do.
  real(object, type, destructor);
  __builtin_unreachable();
}
}  // namespace __cxxabiv1
#endif
