// How a Span learns which exception is unwinding through it. C++ offers no way to inspect an
// exception before a handler catches it; the optional throw hook (src/throw_hook/, built in with
// -DSTREAMLL_THROW_HOOK=ON, off by default) interposes the Itanium ABI's __cxa_throw,
// __cxa_rethrow and __cxa_begin_catch and keeps the records this file reads. Without the hook
// nothing fills them, and a span unwound by an exception reports "unknown exception".
// Records are kept per nesting level (std::uncaught_exceptions() at the throw), so an exception
// thrown and caught inside a destructor while another one unwinds (a sink failing while a span
// reports the error) does not overwrite the record of the one being unwound. A span destroyed
// during unwinding reads the record of the innermost uncaught exception; when there is none
// (std::rethrow_exception, which bypasses the hooks) it reports "unknown exception" rather
// than a stale record.

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>

#include "streamll/span.hpp"
#include "throw_hook/throw_record.hpp"

namespace streamll::detail {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

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

}  // namespace

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

bool in_flight_exception(std::string& type, std::string& message) noexcept {
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
