#pragma once
// RAII spans. A Span emits `start` when created and `end` (with duration_ms) when destroyed;
// destroyed by an exception, it emits `error` instead (naming the exception when the library
// is built with the throw hook, else "unknown exception"), and the exception keeps
// propagating. While a span is open it is the current span of the thread that opened it, so
// spans created inside it nest under it and share its execution id; once it ended, on
// whichever thread, later spans of that thread nest under its parent.

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <utility>

#include "streamll/context.hpp"
#include "streamll/detail/uncaught_exceptions.hpp"
#include "streamll/event.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll {

struct SpanOptions {
  /// Overrides the instrumentor's (and the parent span's) module name.
  std::string module_name = {};
  /// Added to the inherited tags (instrumentor defaults, then parent span); later keys win.
  Tags tags = {};
  /// Starts the span in this execution instead of the parent's (or a fresh one).
  std::string execution_id = {};
  /// Data on the start event.
  Fields data = {};
};

namespace detail {
/// The type (demangled) and message of the exception propagating through the caller, as far
/// as the opt-in throw hook (src/throw_hook/throw_hook.cpp) recorded it; false when unknown,
/// always so without the hook.
bool in_flight_exception(std::string& type, std::string& message) noexcept;
/// Demangled name of the exception being handled in a catch block; empty when none.
std::string current_exception_type() noexcept;
/// Demangled name of `type` ("app::RetrievalFailed"); empty if demangling ran out of memory.
std::string type_name(const std::type_info& type) noexcept;

inline void merge_tags(Tags& into, const Tags& from) {
  for (const auto& [key, value] : from) {
    bool replaced = false;
    for (auto& existing : into) {
      if (existing.first == key) {
        existing.second = value;
        replaced = true;
        break;
      }
    }
    if (!replaced) into.emplace_back(key, value);
  }
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since) noexcept {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

/// The instrumentor for a new span: the explicit one, else the thread's, else the default.
inline std::shared_ptr<Instrumentor> resolve_instrumentor(
    std::shared_ptr<Instrumentor> explicit_one) {
  if (explicit_one) return explicit_one;
  if (const auto& current = thread_context().instrumentor()) return current;
  return default_instrumentor();
}

/// How child_context() decides sampling.
enum class Sampling : std::uint8_t {
  decide,  ///< a new execution asks the instrumentor; a child takes its parent's decision
  out,     ///< sampled out whatever the rest says (a span inside a sampled-out execution)
};

/// A child context of the thread's current span (or of the instrumentor's root). A child
/// shares its parent's sampling decision; a root, or a span given an execution id of its own,
/// is decided on its execution id.
inline std::shared_ptr<const EventContext> child_context(
    Instrumentor& instrumentor, std::string_view operation, SpanOptions& options,
    Sampling sampling = Sampling::decide,
    const std::shared_ptr<const EventContext>& parent = thread_context().span()) {
  const bool new_execution =
      !parent || (!options.execution_id.empty() && options.execution_id != parent->execution_id);
  auto ctx = std::make_shared<EventContext>();
  ctx->span_id = new_span_id();
  if (!options.execution_id.empty()) {
    ctx->execution_id = std::move(options.execution_id);
  } else if (parent) {
    ctx->execution_id = parent->execution_id;
  } else {
    ctx->execution_id = new_execution_id();
  }
  if (parent) ctx->parent_span_id = parent->span_id;
  ctx->operation = operation;
  const bool inherits = parent && !parent->remote;
  if (!options.module_name.empty()) {
    ctx->module_name = std::move(options.module_name);
  } else {
    ctx->module_name = inherits ? parent->module_name : instrumentor.module_name();
  }
  ctx->tags = inherits ? parent->tags : instrumentor.tags();
  merge_tags(ctx->tags, options.tags);
  if (parent) ctx->tracestate = parent->tracestate;
  if (sampling == Sampling::out) {
    ctx->sampled = false;
  } else if (!new_execution) {
    ctx->sampled = parent->sampled;
  } else if (!instrumentor.samples_in(ctx->execution_id, ctx->operation)) {
    ctx->sampled = false;
    instrumentor.count_sampled_out_execution();
  }
  return ctx;
}

/// Where an event emitted on this thread outside a Span object goes (emit(), the spdlog
/// sink): the thread's instrumentor, else the default one, and the thread's current span,
/// else that instrumentor's root context.
inline std::pair<std::shared_ptr<Instrumentor>, std::shared_ptr<const EventContext>>
current_emit_target() {
  const Context& ctx = thread_context();
  auto instrumentor = ctx.instrumentor() ? ctx.instrumentor() : default_instrumentor();
  auto event_context = ctx.span() ? ctx.span() : instrumentor->root_context();
  if (event_context->remote) {
    // Under a caller's span from another process and no span of ours: the caller's ids and
    // sampling, this instrumentor's module name and tags.
    auto own = std::make_shared<EventContext>(*event_context);
    own->module_name = instrumentor->module_name();
    own->tags = instrumentor->tags();
    own->remote = false;
    event_context = std::move(own);
  }
  return {std::move(instrumentor), std::move(event_context)};
}

/// Whether the thread is inside an execution that head sampling left out.
inline bool in_sampled_out_execution() noexcept {
  const auto& span = thread_context().span();
  return span && !span->sampled;
}
}  // namespace detail

/// Emits a custom event (or a built-in type by its name) in the thread's current span, or in
/// the default instrumentor's root context outside any span. An invalid name is sanitized and
/// counted (Instrumentor::emit); a strict instrumentor throws InvalidEventType instead. In a
/// sampled-out execution only `error` and `llm_call` are emitted (Instrumentor::emit).
inline void emit(std::string_view type_name, Fields data = {}) {
  auto [instrumentor, event_context] = detail::current_emit_target();
  instrumentor->emit(type_name, std::move(event_context), std::move(data));
}

class Span {
 public:
  /// A span reporting to the thread's instrumentor (the parent span's, else the default).
  explicit Span(std::string_view operation) : Span(Open{}, nullptr, operation, nullptr) {}
  explicit Span(std::string_view operation, SpanOptions options)
      : Span(Open{}, nullptr, operation, &options) {}
  /// A span reporting to `instrumentor`, which must outlive it (and its child spans).
  Span(Instrumentor& instrumentor, std::string_view operation)
      : Span(Open{}, borrowed(instrumentor), operation, nullptr) {}
  Span(Instrumentor& instrumentor, std::string_view operation, SpanOptions options)
      : Span(Open{}, borrowed(instrumentor), operation, &options) {}
  Span(std::shared_ptr<Instrumentor> instrumentor, std::string_view operation)
      : Span(Open{}, std::move(instrumentor), operation, nullptr) {}
  Span(std::shared_ptr<Instrumentor> instrumentor, std::string_view operation, SpanOptions options)
      : Span(Open{}, std::move(instrumentor), operation, &options) {}

  Span(Span&& other) noexcept
      : instrumentor_(std::move(other.instrumentor_)),
        context_(std::move(other.context_)),
        link_(std::move(other.link_)),
        owner_(other.owner_),
        end_data_(std::move(other.end_data_)),
        unsampled_operation_(std::move(other.unsampled_operation_)),
        unsampled_tags_(std::move(other.unsampled_tags_)),
        started_(other.started_),
        uncaught_on_entry_(other.uncaught_on_entry_),
        open_(std::exchange(other.open_, false)) {}
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  Span& operator=(Span&&) = delete;

  ~Span() {
    // Inline, the path of a span inside a sampled-out execution that ends without an
    // exception: it has nothing to emit (its start and end were counted when it opened).
    if (open_ && (context_ || detail::uncaught_exceptions() > uncaught_on_entry_)) {
      close_in_destructor();
    }
    open_ = false;
    restore_thread_context();
  }

  /// Adds or replaces a field of the end (or error) event.
  void set(std::string_view key, Value value) { end_data_.set(key, std::move(value)); }

  /// Adds or replaces a tag on this span's later events and on spans started inside it.
  /// Limitation: called while a child span is open on this thread, the tag reaches this span's
  /// own events but not spans started after that child ends (they see the tags as they were
  /// when the child started).
  void tag(std::string_view key, std::string value) {
    if (!context_) {  // inside a sampled-out execution: for its error event only
      detail::merge_tags(unsampled_tags_, Tags{{std::string(key), std::move(value)}});
      return;
    }
    auto updated = std::make_shared<EventContext>(*context_);
    detail::merge_tags(updated->tags, Tags{{std::string(key), std::move(value)}});
    Context& current = detail::thread_context();
    if (current.span() == context_) current = Context(instrumentor_, updated, current.link_);
    context_ = std::move(updated);
  }

  /// Emits a custom event in this span. An invalid name is sanitized and counted
  /// (Instrumentor::emit); a strict instrumentor throws InvalidEventType instead.
  void emit(std::string_view type_name, Fields data = {}) {
    if (!context_) {
      // Inside a sampled-out execution: only an error or llm_call event goes out (with ids
      // made for it, as for a failure); an invalid name still goes to the instrumentor, which
      // repairs it or, strict, throws.
      const EventType type = event_type_from_name(type_name);
      if (is_valid_event_type_name(type_name) && type != EventType::error &&
          type != EventType::llm_call) {
        ++detail::unsampled_events_pending();
        return;
      }
      Instrumentor& to = instrumentor();
      to.emit(type_name, unsampled_context(to), std::move(data));
      return;
    }
    instrumentor_->emit(type_name, context_, std::move(data));
  }

  /// Ends the span as failed now: an `error` event (error_type, error_message, duration_ms and
  /// the fields given with set()) replaces the end event. No effect on a closed span.
  void fail(std::string_view error_type, std::string_view message) {
    if (open_) finish_with_error(error_type, message);
  }
  /// fail() with the exception's dynamic type, demangled, and what().
  void fail(const std::exception& e) {
    const std::string type = detail::type_name(typeid(e));
    fail(type.empty() ? std::string_view("std::exception") : std::string_view(type), e.what());
  }

  /// Ends the span now with its end event; no effect on a closed span. May be called on any
  /// thread: spans started afterwards on the thread that opened it nest under its parent.
  void end();

  bool is_open() const noexcept { return open_; }
  /// False for a span that head sampling left out: the root of a sampled-out execution, and
  /// every span inside one.
  bool sampled() const noexcept { return context_ && context_->sampled; }
  /// Empty for a span inside a sampled-out execution, which has no ids of its own (until it
  /// fails: then those of its error event).
  const std::string& span_id() const noexcept { return context()->span_id; }
  const std::string& execution_id() const noexcept { return context()->execution_id; }
  const std::string& operation() const noexcept {
    return context_ ? context_->operation : unsampled_operation_;
  }
  /// For a span inside a sampled-out execution, until it fails, a shared context with empty
  /// ids and `sampled` false (never null).
  const std::shared_ptr<const EventContext>& context() const noexcept {
    return context_ ? context_ : no_context();
  }
  /// The span's instrumentor. A span inside a sampled-out execution made without one has
  /// none of its own: this is then the thread's (as a new span would use), kept alive by the
  /// thread's context or the default slot, not by the span.
  Instrumentor& instrumentor() const noexcept {
    return instrumentor_ ? *instrumentor_ : *detail::resolve_instrumentor(nullptr);
  }

 private:
  struct Open {};
  static std::shared_ptr<Instrumentor> borrowed(Instrumentor& instrumentor) noexcept {
    return std::shared_ptr<Instrumentor>(std::shared_ptr<Instrumentor>{}, &instrumentor);
  }

  // Every public constructor comes here; `options` is null when none were given, so that a
  // span without options builds none (a span inside a sampled-out execution has a budget of
  // 10 ns, which constructing and destroying default options would take a share of).
  //
  // Inside a sampled-out execution (docs/sampling.md) the span records nothing: it reads no
  // clock, allocates nothing (for an operation name of up to 15 bytes) and is never current,
  // so spans inside it see the same execution. If it fails, its error event is emitted, as a
  // child of the thread's current span (with its own tags), without duration_ms. That path
  // is inline and the kept span's is out of line (open_kept()), so that it pays for no more
  // than it does. `instrumentor` by reference: a copy per delegation step was a share of it.
  // A span given an execution id of its own starts a new execution, decided on that id.
  Span(Open, std::shared_ptr<Instrumentor>&& instrumentor, std::string_view operation,
       SpanOptions* options)
      : Span(Open{},
             detail::in_sampled_out_execution() &&
                 (options == nullptr || options->execution_id.empty()),
             std::move(instrumentor), operation, options) {}
  Span(Open, bool inside_sampled_out_execution, std::shared_ptr<Instrumentor>&& instrumentor,
       std::string_view operation, SpanOptions* options)
      : owner_(std::this_thread::get_id()),
        unsampled_operation_(inside_sampled_out_execution ? operation : std::string_view()),
        uncaught_on_entry_(detail::uncaught_exceptions()) {
    if (!inside_sampled_out_execution) {
      open_kept(std::move(instrumentor), operation, options);
      return;
    }
    instrumentor_ = std::move(instrumentor);  // null: resolved if it fails
    if (options != nullptr && !options->tags.empty()) unsampled_tags_ = std::move(options->tags);
    // Its start and end, counted here on the thread that opened it, whichever thread ends
    // it; a failure takes the end back (finish_with_error).
    detail::unsampled_events_pending() += 2;
  }

  // A span that head sampling decides on or keeps: resolves its instrumentor, makes its
  // context, emits its start (or counts it as left out) and becomes the thread's current span.
  void open_kept(std::shared_ptr<Instrumentor>&& instrumentor, std::string_view operation,
                 SpanOptions* options);
  // The destructor's path for a span that emits something: an end event, or an error event
  // when an exception unwinds it.
  void close_in_destructor() noexcept;

  static const std::shared_ptr<const EventContext>& no_context() noexcept {
    static const auto none = [] {
      auto made = std::make_shared<EventContext>();
      made->sampled = false;
      return std::shared_ptr<const EventContext>(std::move(made));
    }();
    return none;
  }

  // The context of an event a span inside a sampled-out execution emits after all (its
  // error): a child of the thread's current span when that one is sampled out (the
  // execution's root, or the context that carried the execution to this thread); ended on a
  // thread outside the execution, a root of its own. Sampled out either way.
  std::shared_ptr<const EventContext> unsampled_context(Instrumentor& instrumentor);

  // Emits the error event in place of the end event and closes the span.
  void finish_with_error(std::string_view error_type, std::string_view message);

  // Marks the span ended; the thread that opened it stops treating it as current the next
  // time it looks (at once, here, when that is this thread). No other thread's context is
  // written: a span ended elsewhere, out of order, or while a ContextScope covers it is
  // skipped when its thread comes back to it, and spans opened later nest under its parent.
  void restore_thread_context() noexcept {
    if (!link_) return;  // moved from
    link_->ended.store(true, std::memory_order_release);
    if (owner_ == std::this_thread::get_id()) (void)detail::thread_context();
  }

  // Null for a span inside a sampled-out execution made without one, until it fails.
  std::shared_ptr<Instrumentor> instrumentor_;
  // Null for a span inside a sampled-out execution until it fails.
  std::shared_ptr<const EventContext> context_;
  std::shared_ptr<detail::SpanLink> link_;  // null for a span inside a sampled-out execution
  std::thread::id owner_;
  Fields end_data_;
  // Kept by a span inside a sampled-out execution, for the error event it emits if it fails.
  std::string unsampled_operation_;
  Tags unsampled_tags_;
  std::chrono::steady_clock::time_point started_;
  int uncaught_on_entry_ = 0;
  bool open_ = true;
};

}  // namespace streamll
