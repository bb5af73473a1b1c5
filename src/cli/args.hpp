#pragma once
// The streamll CLI's argument parser: long options only (`--name value`, `--name=value`,
// `--flag`), declared per subcommand with their help text, so `--help` and parsing can never
// disagree. Errors throw UsageError (exit code 64).

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace streamll::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OptionSpec {
  std::string name;        ///< without the dashes: "count"
  std::string value_name;  ///< "N"; empty for a flag
  std::string help;
  bool repeatable = false;
};

class Args {
 public:
  /// Parses argv[first..argc) against `specs`. "--help"/"-h" sets help(). Throws UsageError.
  Args(const std::vector<OptionSpec>& specs, int argc, char** argv, int first);

  bool help() const noexcept { return help_; }
  bool flag(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> value(const std::string& name) const;
  std::vector<std::string> values(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& fallback) const;

  /// Typed values; a malformed one throws UsageError naming the option.
  std::optional<std::uint64_t> unsigned_value(const std::string& name) const;
  std::optional<double> number_value(const std::string& name) const;
  /// "250ms", "30s", "15m", "24h", "7d"; a bare number means seconds.
  std::optional<std::int64_t> duration_ms(const std::string& name) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  bool help_ = false;
};

/// The help text of `specs`, one option per line, aligned.
std::string format_options(const std::vector<OptionSpec>& specs);

/// Parses "250ms", "30s", "15m", "24h", "7d" (bare number: seconds); nullopt when malformed.
std::optional<std::int64_t> parse_duration_ms(const std::string& text);

}  // namespace streamll::cli
