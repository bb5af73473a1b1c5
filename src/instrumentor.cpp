#include "streamll/instrumentor.hpp"

#include <pthread.h>

#include <mutex>
#include <utility>

#include "exit_flush.hpp"
#include "fork_safe_time.hpp"
#include "json_writer.hpp"
#include "logging.hpp"
#include "sink_reaper.hpp"

namespace streamll {
namespace {

struct DefaultInstrumentor {
  std::mutex mutex;
  std::shared_ptr<Instrumentor> current = std::make_shared<Instrumentor>();
};

DefaultInstrumentor& default_slot() {
  // Leaked on purpose: spans in static destructors or detached threads may still use it.
  static auto* slot = [] {
    auto* made = new DefaultInstrumentor;
    // Held across fork(), so that a child never inherits it locked by a thread it lacks (its
    // first root span would wait forever). After the time lock's handler (taken last).
    (void)detail::time_conversion_mutex();
    ::pthread_atfork([] { default_slot().mutex.lock(); }, [] { default_slot().mutex.unlock(); },
                     [] { default_slot().mutex.unlock(); });
    return made;
  }();
  return *slot;
}

// A fork() while another thread runs a function-local static's first initialization leaves
// the child waiting on that static's guard forever: its first span hung in CI, forked while
// the first configure() built the slot. Built at load instead, before the program can start
// threads.
[[maybe_unused]] const bool slot_built_at_load = (default_slot(), true);

}  // namespace

std::shared_ptr<Instrumentor> configure(InstrumentorOptions options) {
  detail::arrange_exit_flush();
  auto next = std::make_shared<Instrumentor>(std::move(options));
  std::shared_ptr<Instrumentor> replaced;
  {
    auto& slot = default_slot();
    std::lock_guard<std::mutex> lock(slot.mutex);
    replaced = std::exchange(slot.current, next);
  }
  // Released outside the lock; its sinks go to the reaper (see ~Instrumentor).
  replaced.reset();
  return next;
}

std::shared_ptr<Instrumentor> default_instrumentor() noexcept {
  auto& slot = default_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  return slot.current;
}

namespace detail {

void release_sinks(std::vector<SinkPtr>& sinks) noexcept {
  for (SinkPtr& sink : sinks) {
    // Only the last reference can run a destructor, and a sink shut down already has nothing
    // left to wait for: those are released here.
    if (sink && sink.use_count() == 1 && sink->is_running()) {
      SinkReaper::instance().adopt(std::move(sink));
    }
  }
  sinks.clear();
}

namespace {

// Leaked: the exit flush may report through them after static destructors ran, and spans in
// static destructors may still emit. Not made at load: they make spdlog's registry, whose
// default logger decides on colors when made (an application may redirect stdout in main).
RateLimitedLog& sink_exception_log() {
  static auto* log = new RateLimitedLog("streamll");
  return *log;
}
RateLimitedLog& invalid_event_type_log() {
  static auto* log = new RateLimitedLog("streamll");
  return *log;
}

}  // namespace

void report_sink_exception(const Sink& sink, const char* what) noexcept {
  try {
    sink_exception_log().log(
        spdlog::level::warn,
        "sink '" + sink.name() + "' threw; the event was not delivered to it: " + what);
  } catch (...) {
  }
}

void report_invalid_event_type(std::string_view given, std::string_view used) noexcept {
  // The message is built only once the rate limit admits it: a program emitting an invalid
  // name on every call allocates nothing for the warnings that are dropped.
  invalid_event_type_log().log_lazy(spdlog::level::warn, [&] {
    std::string quoted;
    append_json_string(quoted, given);  // control bytes stay visible, the line stays one line
    return "invalid event type name " + quoted + " was emitted as \"" + std::string(used) +
           "\" (names are 1 to 64 printable ASCII characters)";
  });
}

}  // namespace detail
}  // namespace streamll
