#pragma once
// Per-thread context: which instrumentor a new span reports to and which span is its parent.
// A Context can be captured on one thread and installed on another with ContextScope, so a
// worker's spans join the caller's execution.

#include <memory>
#include <utility>

#include "streamll/event.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll {

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
  std::shared_ptr<Instrumentor> instrumentor_;
  std::shared_ptr<const EventContext> span_;
};

namespace detail {
inline Context& thread_context() noexcept {
  thread_local Context context;
  return context;
}
}  // namespace detail

/// The calling thread's context, to hand to another thread.
inline Context current_context() noexcept { return detail::thread_context(); }

/// Installs a captured context on this thread for the scope's lifetime, then restores what
/// was there before. Not movable: it belongs to the scope that made it.
class ContextScope {
 public:
  explicit ContextScope(Context context) : saved_(std::move(detail::thread_context())) {
    detail::thread_context() = std::move(context);
  }
  ~ContextScope() { detail::thread_context() = std::move(saved_); }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  Context saved_;
};

}  // namespace streamll
