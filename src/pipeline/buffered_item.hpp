#pragma once
// Internal: what a pipeline's buffer holds. An event as captured, or its serialized bytes: the
// Redis sink compacts events waiting through an outage into the fields it will write. A public
// Exporter only ever sees events (compaction is not offered to it).

#include <string>
#include <variant>

#include "streamll/event.hpp"

namespace streamll::detail {

using BufferedItem = std::variant<Event, std::string>;

}  // namespace streamll::detail
