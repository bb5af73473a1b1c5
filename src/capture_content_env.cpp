// STREAMLL_CAPTURE_CONTENT: read when an instrumentor is made without capture_content of its
// own, so a deployment can keep prompts and answers out of its telemetry without a rebuild.

#include "env_bool.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll::detail {

bool capture_content_from_env() noexcept { return env_bool("STREAMLL_CAPTURE_CONTENT", true); }

}  // namespace streamll::detail
