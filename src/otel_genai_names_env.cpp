// STREAMLL_OTEL_GENAI_NAMES: read when an instrumentor is made without otel_genai_names of its
// own, so a deployment can feed an OpenTelemetry-minded tool without a rebuild.

#include "env_bool.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll::detail {

bool otel_genai_names_from_env() noexcept { return env_bool("STREAMLL_OTEL_GENAI_NAMES", false); }

}  // namespace streamll::detail
