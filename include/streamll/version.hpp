#pragma once

#define STREAMLL_VERSION_MAJOR 0
#define STREAMLL_VERSION_MINOR 1
#define STREAMLL_VERSION_PATCH 0

namespace streamll {
inline constexpr const char* version = "0.1.0";
}  // namespace streamll
