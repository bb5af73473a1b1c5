#pragma once
// The records the throw hook keeps and in_flight_exception() reads (src/exception_info.cpp).

#include <typeinfo>

namespace streamll::detail {

/// Records, for this thread at nesting `level`, an exception's type and message.
void record_throw(int level, const std::type_info* type, const char* message) noexcept;
/// record_throw() for a thrown object; the message is what() when it is a std::exception.
void record_thrown_object(int level, void* object, const std::type_info* type) noexcept;
/// Forgets the record at `level` (its exception was caught).
void forget_throw(int level) noexcept;

}  // namespace streamll::detail
