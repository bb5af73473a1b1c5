#pragma once
// Per-thread context: which instrumentor a new span reports to and which span is its parent.
// A Context can be captured on one thread and installed on another with ContextScope, so a
// worker's spans join the caller's execution.

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "streamll/event.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll {

class Context;
class ContextScope;
class Span;

namespace detail {
struct SpanLink;
inline Context& thread_context() noexcept;
// Out of line (src/thread_context.cpp), off the inline fast path of thread_context(), which
// every span takes.
void leave_ended_spans(Context& context) noexcept;
}  // namespace detail

class Context {
 public:
  Context() = default;
  Context(std::shared_ptr<Instrumentor> instrumentor, std::shared_ptr<const EventContext> span)
      : instrumentor_(std::move(instrumentor)), span_(std::move(span)) {}

  /// The instrumentor spans started under this context report to (null: the default one).
  const std::shared_ptr<Instrumentor>& instrumentor() const noexcept { return instrumentor_; }
  /// The innermost open span (null outside any span).
  const std::shared_ptr<const EventContext>& span() const noexcept { return span_; }
  bool empty() const noexcept { return !instrumentor_ && !span_; }

 private:
  friend class Span;
  friend Context& detail::thread_context() noexcept;
  friend void detail::leave_ended_spans(Context& context) noexcept;

  Context(std::shared_ptr<Instrumentor> instrumentor, std::shared_ptr<const EventContext> span,
          std::shared_ptr<detail::SpanLink> link)
      : instrumentor_(std::move(instrumentor)), span_(std::move(span)), link_(std::move(link)) {}

  std::shared_ptr<Instrumentor> instrumentor_;
  std::shared_ptr<const EventContext> span_;
  // Set only in the context a span made current on the thread that opened it: lets that
  // thread see that the span ended elsewhere (see detail::thread_context()).
  std::shared_ptr<detail::SpanLink> link_;
};

namespace detail {

/// What a span made current on its own thread: whether it ended (on any thread), and the
/// context it replaced, to go back to then. `parent` never changes after construction.
struct SpanLink {
  explicit SpanLink(Context replaced) : parent(std::move(replaced)) {}
  std::atomic<bool> ended{false};
  const Context parent;
};

/// The calling thread's context. A span that ended, on this thread or on another, is never
/// current: the thread goes back to what it replaced (to that one's parent, if it ended too).
/// Only the owning thread writes its context; another thread ending a span only sets the
/// span's `ended` flag, read here.
inline Context& thread_context() noexcept {
  thread_local Context context;
  if (context.link_ && context.link_->ended.load(std::memory_order_acquire)) {
    leave_ended_spans(context);
  }
  return context;
}

/// Events the spans inside sampled-out executions left out on this thread, not yet added to
/// an instrumentor's sampled_out_events(): a plain per-thread count, because an atomic
/// increment alone would cost most of such a span's budget (docs/sampling.md).
inline std::uint64_t& unsampled_events_pending() noexcept {
  thread_local std::uint64_t pending = 0;
  return pending;
}

/// Adds this thread's pending count to `instrumentor` (null: the default one).
inline void add_unsampled_events_pending(Instrumentor* instrumentor) noexcept {
  std::uint64_t& pending = unsampled_events_pending();
  if (pending == 0) return;
  const std::uint64_t events = std::exchange(pending, 0);
  if (instrumentor != nullptr) {
    instrumentor->count_sampled_out_events(events);
  } else {
    default_instrumentor()->count_sampled_out_events(events);
  }
}

}  // namespace detail

/// The calling thread's context, to hand to another thread. A captured context keeps its span
/// as the parent of the spans started under it, even once that span ended.
inline Context current_context() noexcept {
  const Context& current = detail::thread_context();
  return Context(current.instrumentor(), current.span());
}

/// Installs a captured context on this thread for the scope's lifetime, then restores what
/// was there before. Not movable: it belongs to the scope that made it.
class ContextScope {
 public:
  explicit ContextScope(Context context) : saved_(std::move(detail::thread_context())) {
    detail::thread_context() = std::move(context);
  }
  ~ContextScope() {
    Context& current = detail::thread_context();
    detail::add_unsampled_events_pending(current.instrumentor().get());
    current = std::move(saved_);
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  Context saved_;
};

/// Wraps `fn` so that it runs under the calling thread's current context wherever it is called:
/// for work handed to another thread, a thread pool or an executor, whose spans then join the
/// caller's execution under the span current here. Each call installs the context with a
/// ContextScope for its duration; the returned callable can be called any number of times,
/// from any thread (one call at a time unless `fn` allows more), and returns what `fn` returns.
/// The captured context holds the instrumentor as the spans do: one given by reference
/// (`Span(Instrumentor&, ...)`) must outlive every call, as it must outlive the spans.
///
///   pool.submit(streamll::bind_context([query] { streamll::Span span("embed"); ... }));
template <typename Fn>
auto bind_context(Fn&& fn) {
  return [context = current_context(),
          fn = std::forward<Fn>(fn)](auto&&... args) mutable -> decltype(auto) {
    ContextScope scope(context);
    return fn(std::forward<decltype(args)>(args)...);
  };
}

}  // namespace streamll
