// STREAMLL_CAPTURE_CONTENT: read when an instrumentor is made without capture_content of its
// own, so a deployment can keep prompts and answers out of its telemetry without a rebuild.

#include "env_bool.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll::detail {

// Fails closed: a value that is not a boolean ("disabled", "flase") was most likely meant to
// turn capture off, and capturing what was meant to stay out cannot be undone.
bool capture_content_from_env() noexcept {
  return env_bool("STREAMLL_CAPTURE_CONTENT", /*unset=*/true, /*unparseable=*/false);
}

}  // namespace streamll::detail
