#include "streamll/instrumentor.hpp"

#include <mutex>

#include "json_writer.hpp"
#include "logging.hpp"

namespace streamll {
namespace {

struct DefaultInstrumentor {
  std::mutex mutex;
  std::shared_ptr<Instrumentor> current = std::make_shared<Instrumentor>();
};

DefaultInstrumentor& default_slot() {
  // Leaked on purpose: spans in static destructors or detached threads may still use it.
  static auto* slot = new DefaultInstrumentor;
  return *slot;
}

}  // namespace

std::shared_ptr<Instrumentor> configure(InstrumentorOptions options) {
  auto next = std::make_shared<Instrumentor>(std::move(options));
  auto& slot = default_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  slot.current = next;
  return next;
}

std::shared_ptr<Instrumentor> default_instrumentor() noexcept {
  auto& slot = default_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  return slot.current;
}

namespace detail {

void report_sink_exception(const Sink& sink, const char* what) noexcept {
  static RateLimitedLog log("streamll");
  try {
    log.log(spdlog::level::warn,
            "sink '" + sink.name() + "' threw; the event was not delivered to it: " + what);
  } catch (...) {
  }
}

void report_invalid_event_type(std::string_view given, std::string_view used) noexcept {
  static RateLimitedLog log("streamll");
  try {
    std::string quoted;
    append_json_string(quoted, given);  // control bytes stay visible, the line stays one line
    log.log(spdlog::level::warn, "invalid event type name " + quoted + " was emitted as \"" +
                                     std::string(used) +
                                     "\" (names are 1 to 64 printable ASCII characters)");
  } catch (...) {
  }
}

}  // namespace detail
}  // namespace streamll
