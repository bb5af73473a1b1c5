#pragma once
// Sets an environment variable (or unsets it, for nullptr) for a scope, then puts back what was
// there before: a developer may have it exported.

#include <stdlib.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>

namespace streamll::testing {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    REQUIRE((value ? ::setenv(name, value, 1) : ::unsetenv(name)) == 0);
  }
  ~ScopedEnv() { saved_ ? ::setenv(name_, saved_->c_str(), 1) : ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

}  // namespace streamll::testing
