#pragma once
// Internal: the entropy measure of redact_api_keys's generic key rule, out of the anonymous
// namespace so that tests can check it on runs too long for small counters.

#include <string_view>

namespace streamll::detail {

/// Shannon entropy of `run`'s characters (their low 7 bits), in bits per character; 0 for an
/// empty run. Exact for runs of any length up to 4 GiB.
double entropy_bits(std::string_view run) noexcept;

}  // namespace streamll::detail
