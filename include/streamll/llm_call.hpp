#pragma once
// The guard users wrap around one model call. It emits a `token` event per streamed token and
// one `llm_call` event with the call's usage and timings when finished. It does not emit
// start/end: it is a leaf of the current span, with its own span_id so that a dashboard can
// group a call's tokens with its llm_call event.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "streamll/span.hpp"

namespace streamll {

struct LlmCallOptions {
  /// "openai", "anthropic", "llama.cpp", ...; put in the llm_call data when not empty.
  std::string provider = {};
  /// The operation of the call's events; by default the enclosing span's, else "llm_call".
  std::string operation = {};
  /// Added to the inherited tags.
  Tags tags = {};
};

/// What the model reported when the call completed. Unset fields are left out of the event.
struct LlmUsage {
  std::optional<std::int64_t> input_tokens = {};
  std::optional<std::int64_t> output_tokens = {};
  /// Defaults to input + output tokens when both are known, else output tokens, else the
  /// number of tokens streamed through token().
  std::optional<std::int64_t> tokens_used = {};
  std::optional<double> cost_usd = {};
  std::string finish_reason = {};
  /// Any further fields for the llm_call event.
  Fields extra = {};
};

class LlmCall {
 public:
  explicit LlmCall(std::string_view model, LlmCallOptions options = {})
      : LlmCall(std::shared_ptr<Instrumentor>{}, model, std::move(options)) {}
  LlmCall(Instrumentor& instrumentor, std::string_view model, LlmCallOptions options = {})
      : LlmCall(std::shared_ptr<Instrumentor>(std::shared_ptr<Instrumentor>{}, &instrumentor),
                model, std::move(options)) {}
  LlmCall(std::shared_ptr<Instrumentor> instrumentor, std::string_view model,
          LlmCallOptions options = {})
      : instrumentor_(detail::resolve_instrumentor(std::move(instrumentor))),
        model_(model),
        provider_(std::move(options.provider)),
        started_(std::chrono::steady_clock::now()),
        uncaught_on_entry_(std::uncaught_exceptions()) {
    const auto& parent = detail::thread_context().span();
    std::string operation = !options.operation.empty() ? std::move(options.operation)
                            : parent                   ? parent->operation
                                                       : std::string("llm_call");
    SpanOptions span_options;
    span_options.tags = std::move(options.tags);
    context_ = detail::child_context(*instrumentor_, operation, span_options);
  }

  LlmCall(LlmCall&& other) noexcept
      : instrumentor_(std::move(other.instrumentor_)),
        context_(std::move(other.context_)),
        model_(std::move(other.model_)),
        provider_(std::move(other.provider_)),
        started_(other.started_),
        first_token_(other.first_token_),
        tokens_(other.tokens_),
        uncaught_on_entry_(other.uncaught_on_entry_),
        open_(std::exchange(other.open_, false)) {}
  LlmCall(const LlmCall&) = delete;
  LlmCall& operator=(const LlmCall&) = delete;
  LlmCall& operator=(LlmCall&&) = delete;

  /// Destroyed before finish(): by an exception, an `error` event and an llm_call marked
  /// failed; otherwise an llm_call with finish_reason "abandoned" and success false.
  ~LlmCall() {
    if (!open_) return;
    try {
      if (std::uncaught_exceptions() > uncaught_on_entry_) {
        std::string type, message;
        if (!detail::in_flight_exception(type, message)) type = "unknown exception";
        fail(type, message);
      } else {
        LlmUsage usage;
        usage.finish_reason = "abandoned";
        complete(std::move(usage), false, {});
      }
    } catch (...) {
      // Destructors never throw.
    }
  }

  /// One streamed token: a `token` event with the text and its index in this call (0, 1, ...),
  /// plus `field` when streaming a named output field. The first one fixes ttft_ms.
  void token(std::string_view text, std::string_view field = {}) {
    if (tokens_ == 0) first_token_ = std::chrono::steady_clock::now();
    const std::int64_t index = tokens_++;
    if (instrumentor_->sinks().empty()) return;  // nobody would see it: skip building it
    Fields data;
    data.reserve(field.empty() ? 2 : 3);
    data.append_new("token", text);
    data.append_new("index", index);
    if (!field.empty()) data.append_new("field", field);
    instrumentor_->emit(Event::capture(EventType::token, context_, std::move(data)));
  }

  /// Emits the llm_call event: model, provider, tokens_used, input/output tokens, cost_usd,
  /// response_time_ms, ttft_ms (when a token was streamed), tokens_per_second, finish_reason,
  /// success. Later calls, and the destructor, do nothing.
  void finish(LlmUsage usage = {}) {
    if (open_) complete(std::move(usage), true, {});
  }

  /// Ends the call as failed: an `error` event, then an llm_call with success false.
  void fail(std::string_view error_type, std::string_view message) {
    if (!open_) return;
    open_ = false;
    Fields error;
    error.reserve(3);
    error.append_new("error_type", error_type);
    error.append_new("error_message", message);
    error.append_new("model", model_);
    instrumentor_->emit(Event::capture(EventType::error, context_, std::move(error)));
    open_ = true;
    complete(LlmUsage{}, false, error_type);
  }

  std::int64_t tokens_streamed() const noexcept { return tokens_; }
  bool is_open() const noexcept { return open_; }
  const std::shared_ptr<const EventContext>& context() const noexcept { return context_; }

 private:
  void complete(LlmUsage usage, bool success, std::string_view error_type) {
    open_ = false;
    const auto now = std::chrono::steady_clock::now();
    const double response_ms = std::chrono::duration<double, std::milli>(now - started_).count();
    const std::int64_t generated = usage.output_tokens.value_or(tokens_);
    const bool rate_known = generated > 0 && response_ms > 0;
    // Exactly the fields appended below: a buffered llm_call event holds no unused slots.
    const std::size_t count = 4 + !provider_.empty() + usage.input_tokens.has_value() +
                              usage.output_tokens.has_value() + usage.cost_usd.has_value() +
                              (tokens_ > 0) + rate_known + !usage.finish_reason.empty() +
                              !error_type.empty() + usage.extra.size();
    Fields data;
    data.reserve(count);
    data.append_new("model", model_);
    if (!provider_.empty()) data.append_new("provider", provider_);
    std::int64_t tokens_used = usage.tokens_used.value_or(
        usage.input_tokens && usage.output_tokens ? *usage.input_tokens + *usage.output_tokens
        : usage.output_tokens                     ? *usage.output_tokens
                                                  : tokens_);
    data.append_new("tokens_used", tokens_used);
    if (usage.input_tokens) data.append_new("input_tokens", *usage.input_tokens);
    if (usage.output_tokens) data.append_new("output_tokens", *usage.output_tokens);
    if (usage.cost_usd) data.append_new("cost_usd", *usage.cost_usd);
    data.append_new("response_time_ms", response_ms);
    if (tokens_ > 0) {
      data.append_new("ttft_ms",
                      std::chrono::duration<double, std::milli>(first_token_ - started_).count());
    }
    if (rate_known) {
      data.append_new("tokens_per_second", static_cast<double>(generated) * 1000.0 / response_ms);
    }
    if (!usage.finish_reason.empty())
      data.append_new("finish_reason", std::move(usage.finish_reason));
    data.append_new("success", success);
    if (!error_type.empty()) data.append_new("error_type", error_type);
    for (const auto& f : usage.extra) data.set(f.key, f.value);
    instrumentor_->emit(Event::capture(EventType::llm_call, context_, std::move(data)));
  }

  std::shared_ptr<Instrumentor> instrumentor_;
  std::shared_ptr<const EventContext> context_;
  std::string model_;
  std::string provider_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point first_token_{};
  std::int64_t tokens_ = 0;
  int uncaught_on_entry_ = 0;
  bool open_ = true;
};

/// Stand-ins with the same members that do nothing, used by the macros under STREAMLL_DISABLE.
/// The non-template overloads take what callers write as braced lists (`emit("x", {{"k", 1}})`,
/// `finish({...})`), which a template cannot deduce, so code that compiles enabled compiles
/// disabled too. (`const Fields&` rather than an initializer_list<Field>: the latter trips
/// GCC 12's -Wmaybe-uninitialized under ASan.)
struct NoopSpan {
  template <typename... A>
  void set(A&&...) const noexcept {}
  template <typename... A>
  void tag(A&&...) const noexcept {}
  template <typename... A>
  void emit(A&&...) const noexcept {}
  void emit(std::string_view, const Fields&) const noexcept {}
  template <typename... A>
  void fail(A&&...) const noexcept {}
  void end() const noexcept {}
  bool is_open() const noexcept { return false; }
};
struct NoopLlmCall {
  template <typename... A>
  void token(A&&...) const noexcept {}
  template <typename... A>
  void finish(A&&...) const noexcept {}
  void finish(const LlmUsage&) const noexcept {}
  template <typename... A>
  void fail(A&&...) const noexcept {}
  std::int64_t tokens_streamed() const noexcept { return 0; }
  bool is_open() const noexcept { return false; }
};

}  // namespace streamll
