#pragma once
// Optional Catch2 support for tests of instrumented code. Value, Fields, Event, TagValue and
// SpanView print in failed assertions without it (they have operator<<, which Catch2 uses);
// this header adds what operator<< cannot reach: the pointer `Fields::find()` returns, which
// Catch2 would print as an address. Include it after Catch2 (v2's catch.hpp or v3).
//
// For the std::optional that Fields::get<T>() returns, enable Catch2's own printer by defining
// CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER for every test file (v2 and v3).

#if __has_include(<catch2/catch_tostring.hpp>)
#include <catch2/catch_tostring.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <sstream>
#include <string>

#include "streamll/fields.hpp"

namespace Catch {

template <>
struct StringMaker<const streamll::Value*> {
  static std::string convert(const streamll::Value* value) {
    if (!value) return "nullptr (no such key)";
    std::ostringstream out;
    out << *value;
    return out.str();
  }
};

template <>
struct StringMaker<streamll::Value*> {
  static std::string convert(const streamll::Value* value) {
    return StringMaker<const streamll::Value*>::convert(value);
  }
};

}  // namespace Catch
