// The slow path of detail::thread_context(): the thread's current span ended (maybe on
// another thread), so the thread goes back to the context that span replaced.

#include "streamll/context.hpp"

namespace streamll::detail {

void leave_ended_spans(Context& context) noexcept {
  while (context.link_ && context.link_->ended.load(std::memory_order_acquire)) {
    const std::shared_ptr<SpanLink> ended = context.link_;  // keeps `parent` alive meanwhile
    context = ended->parent;
  }
}

}  // namespace streamll::detail
