// The out-of-line paths of Span (include/streamll/span.hpp): a span that head sampling
// decides on or keeps, and every span that emits an event. The header keeps inline only what
// a span inside a sampled-out execution runs when it does not fail.

#include "streamll/span.hpp"

namespace streamll {

void Span::open_kept(std::shared_ptr<Instrumentor>&& instrumentor, std::string_view operation,
                     SpanOptions* options) {
  SpanOptions none;
  SpanOptions& given = options != nullptr ? *options : none;
  instrumentor_ = detail::resolve_instrumentor(std::move(instrumentor));
  context_ = detail::child_context(*instrumentor_, operation, given);
  link_ = std::make_shared<detail::SpanLink>(detail::thread_context());
  started_ = std::chrono::steady_clock::now();
  // Emit first: if a raise_error sink throws, no half-made span is left as current.
  if (context_->sampled) {
    instrumentor_->emit(Event::capture(EventType::start, context_, std::move(given.data)));
  } else {
    instrumentor_->count_sampled_out_events(1);
  }
  detail::thread_context() = Context(instrumentor_, context_, link_);
}

void Span::close_in_destructor() noexcept {
  try {
    if (detail::uncaught_exceptions() > uncaught_on_entry_) {
      std::string type, message;
      if (!detail::in_flight_exception(type, message)) type = "unknown exception";
      finish_with_error(type, message);
    } else {
      end();
    }
  } catch (...) {
    // A destructor must not throw; BufferOverflowError on the end event is dropped here.
  }
}

void Span::end() {
  if (!open_) return;
  open_ = false;
  restore_thread_context();
  if (!context_) return;     // inside a sampled-out execution: counted when it opened
  if (!context_->sampled) {  // the root of a sampled-out execution
    instrumentor_->count_sampled_out_events(1);
    if (owner_ == std::this_thread::get_id()) {
      detail::add_unsampled_events_pending(instrumentor_.get());
    }
    return;
  }
  Fields data = std::move(end_data_);
  data.set("duration_ms", detail::elapsed_ms(started_));
  instrumentor_->emit(Event::capture(EventType::end, context_, std::move(data)));
}

std::shared_ptr<const EventContext> Span::unsampled_context(Instrumentor& instrumentor) {
  static const std::shared_ptr<const EventContext> no_parent;
  SpanOptions own;
  own.tags = unsampled_tags_;
  const auto& current = detail::thread_context().span();
  const bool inside = current && !current->sampled;
  return detail::child_context(instrumentor, unsampled_operation_, own, detail::Sampling::out,
                               inside ? current : no_parent);
}

void Span::finish_with_error(std::string_view error_type, std::string_view message) {
  open_ = false;
  restore_thread_context();
  const bool timed = context_ != nullptr;
  if (!context_) {  // inside a sampled-out execution: ids now, for its error event
    if (!instrumentor_) instrumentor_ = detail::resolve_instrumentor(nullptr);
    context_ = unsampled_context(*instrumentor_);
    // Its end was counted as left out when it opened; the error replaces it instead.
    if (owner_ == std::this_thread::get_id()) --detail::unsampled_events_pending();
  }
  const bool sampled = context_->sampled;
  Fields data;
  data.reserve(end_data_.size() + 2 + timed + !sampled);
  data.append_new("error_type", error_type);
  data.append_new("error_message", message);
  if (timed) data.append_new("duration_ms", detail::elapsed_ms(started_));
  for (const auto& f : end_data_) data.set(f.key, f.value);
  // After the span's own fields, so none of them can unmark the event.
  if (!sampled) data.set("sampled_out", true);
  end_data_ = Fields{};
  if (!sampled && link_ && owner_ == std::this_thread::get_id()) {
    detail::add_unsampled_events_pending(instrumentor_.get());
  }
  instrumentor_->emit(Event::capture(EventType::error, context_, std::move(data)));
}

}  // namespace streamll
