#pragma once
// Internal: a STREAMLL_* boolean environment variable read the one way every option that has
// one reads it, so that "on" means the same for each.

namespace streamll::detail {

/// `variable` as a boolean: true/false, 1/0, yes/no, on/off in any case, spaces and tabs
/// around it dropped. Unset, empty or blank: `unset`; another value: `unparseable`, with a warning
/// on the logger "streamll" saying which was used. Never throws. A switch that guards something
/// (content capture) takes the safe side for a value it cannot read: a typo must not turn the
/// protection off.
bool env_bool(const char* variable, bool unset, bool unparseable) noexcept;
/// env_bool(variable, fallback, fallback): an unreadable value is ignored.
inline bool env_bool(const char* variable, bool fallback) noexcept {
  return env_bool(variable, fallback, fallback);
}

}  // namespace streamll::detail
