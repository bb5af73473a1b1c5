#pragma once
// What a span unwound by an exception reports, in the configuration this test binary was built
// in: with the throw hook linked (STREAMLL_TEST_THROW_HOOK=1, libstdc++), the exception's type
// and message; without it, the documented generic error.

#include <string>

#ifndef STREAMLL_TEST_THROW_HOOK
#define STREAMLL_TEST_THROW_HOOK 0
#endif

namespace streamll::testing_support {

constexpr bool throw_hook_linked() noexcept {
#if STREAMLL_TEST_THROW_HOOK && defined(__GLIBCXX__)
  return true;
#else
  return false;
#endif
}

inline std::string expected_error_type(const std::string& type) {
  return throw_hook_linked() ? type : std::string("unknown exception");
}

inline std::string expected_error_message(const std::string& message) {
  return throw_hook_linked() ? message : std::string();
}

}  // namespace streamll::testing_support
