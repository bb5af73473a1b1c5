#pragma once
// The guard users wrap around one model call. It emits `token` events for the streamed tokens
// (one per token, one per chunk of them, or none: TokenMode) and one `llm_call` event with the
// call's usage and timings when finished. It does not emit
// start/end: it is a leaf of the current span, with its own span_id so that a dashboard can
// group a call's tokens with its llm_call event.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "streamll/detail/json_quoted.hpp"
#include "streamll/detail/token_chunk.hpp"
#include "streamll/detail/token_gaps.hpp"
#include "streamll/span.hpp"
#include "streamll/token_mode.hpp"

namespace streamll {

struct LlmCallOptions {
  /// "openai", "anthropic", "llama.cpp", ...; put in the llm_call data when not empty.
  std::string provider = {};
  /// The operation of the call's events; by default the enclosing span's, else "llm_call".
  std::string operation = {};
  /// Added to the inherited tags.
  Tags tags = {};
  /// This call's TokenMode and chunking; unset: the instrumentor's.
  std::optional<TokenMode> token_mode = {};
  std::optional<TokenChunking> token_chunking = {};
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
  /// Any further fields for the llm_call event. They overwrite the library's fields of the same
  /// name: a "cost_usd" here is the caller's cost (the pricing table is not consulted), and a
  /// "cost_source" here is kept, also over "pricing_table" (the caller wins).
  Fields extra = {};
  // Last, so that code brace-initializing the fields above by position still compiles.
  /// Of input_tokens, those the provider served from its prompt cache (OpenAI's
  /// prompt_tokens_details.cached_tokens; Anthropic's cache_read_input_tokens, which Anthropic
  /// counts apart: add them to input_tokens too).
  std::optional<std::int64_t> cached_input_tokens = {};
  /// Of output_tokens, those spent on reasoning before the answer (OpenAI's
  /// completion_tokens_details.reasoning_tokens).
  std::optional<std::int64_t> reasoning_tokens = {};
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
        token_mode_(options.token_mode.value_or(instrumentor_->token_mode())),
        otel_genai_names_(instrumentor_->otel_genai_names()),
        capture_content_(instrumentor_->capture_content()),
        chunking_(chunk_limits(options.token_chunking.value_or(instrumentor_->token_chunking()))),
        wall_started_(Clock::now()),
        started_(std::chrono::steady_clock::now()),
        uncaught_on_entry_(detail::uncaught_exceptions()) {
    // A caller's span in another process (extract_trace_context) names no local operation.
    const auto& parent = detail::thread_context().span();
    std::string operation = !options.operation.empty()  ? std::move(options.operation)
                            : parent && !parent->remote ? parent->operation
                                                        : std::string("llm_call");
    SpanOptions span_options;
    span_options.tags = std::move(options.tags);
    context_ = detail::child_context(*instrumentor_, operation, span_options);
    sampled_ = context_->sampled;
  }

  LlmCall(LlmCall&& other) noexcept
      : instrumentor_(std::move(other.instrumentor_)),
        context_(std::move(other.context_)),
        model_(std::move(other.model_)),
        provider_(std::move(other.provider_)),
        token_mode_(other.token_mode_),
        otel_genai_names_(other.otel_genai_names_),
        sampled_(other.sampled_),
        capture_content_(other.capture_content_),
        chunking_(other.chunking_),
        wall_started_(other.wall_started_),
        started_(other.started_),
        first_token_(other.first_token_),
        last_token_(other.last_token_),
        gaps_(std::move(other.gaps_)),
        chunk_(std::move(other.chunk_)),
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
      if (detail::uncaught_exceptions() > uncaught_on_entry_) {
        std::string type, message;
        if (!detail::in_flight_exception(type, message)) type = "unknown exception";
        fail(type, message);
      } else {
        LlmUsage usage;
        usage.finish_reason = "abandoned";
        complete(std::move(usage), false, {}, /*abandoned=*/true);
      }
    } catch (...) {
      // Destructors never throw.
    }
  }

  /// One streamed token, with its index in this call (0, 1, ...) and `field` when streaming a
  /// named output field. The first one fixes ttft_ms; the gaps between them give the llm_call
  /// event's inter-token figures. In `each` mode, a `token` event with the text, the index and
  /// the field; in `chunked` mode, held for the chunk's event (TokenChunking), which a change
  /// of field also emits; `summary` emits nothing; `off` does nothing at all. An event's
  /// timestamp (a chunk's: its first token's) is the call's start on the wall clock plus the
  /// monotonic time since, so that a call's tokens are in order and their timestamps differ by
  /// exactly the measured gaps. With content capture off (InstrumentorOptions::capture_content)
  /// the text is not copied: the events carry everything but `token`. One thread at a time.
  void token(std::string_view text, std::string_view field = {}) {
    if (token_mode_ == TokenMode::off) return;
    const auto now = std::chrono::steady_clock::now();
    const std::int64_t index = tokens_++;
    if (index == 0) {
      first_token_ = now;
    } else {
      gaps_.add(now - last_token_);
    }
    last_token_ = now;
    // Nobody would see it: skip building it. In a sampled-out execution the call's tokens
    // are counted when it ends.
    if (token_mode_ == TokenMode::summary || !sampled_ || instrumentor_->sinks().empty()) return;
    if (token_mode_ == TokenMode::chunked) {
      add_to_chunk(capture_content_ ? text : std::string_view{}, field, index, now);
      return;
    }
    Fields data;
    data.reserve((field.empty() ? 1 : 2) + capture_content_);
    if (capture_content_) data.append_new("token", text);
    data.append_new("index", index);
    if (!field.empty()) data.append_new("field", field);
    const auto since_start = std::chrono::duration_cast<Clock::duration>(now - started_);
    instrumentor_->emit(Event::capture_at(wall_started_ + since_start, EventType::token, context_,
                                          std::move(data)));
  }

  /// Emits the llm_call event: model, provider, tokens_used, input/output tokens, cached input
  /// and reasoning tokens, cost_usd (the usage's or its extra's, else from the instrumentor's
  /// pricing table, then with cost_source "pricing_table"), response_time_ms, ttft_ms (when a
  /// token was streamed), the streaming figures (when two were: time_per_output_token_ms,
  /// output_tokens_per_second, inter_token_ms_p50/_p95/_max), tokens_per_second, finish_reason,
  /// success. Later calls, and the destructor, do nothing.
  void finish(LlmUsage usage = {}) {
    if (open_) complete(std::move(usage), true, {});
  }

  /// Ends the call as failed: an `error` event, then an llm_call with success false. An empty
  /// `error_type` is written as "error": a failed call always says it failed.
  void fail(std::string_view error_type, std::string_view message) {
    if (!open_) return;
    if (error_type.empty()) error_type = "error";
    open_ = false;
    const std::exception_ptr chunk_refused = emit_pending_chunk();
    Fields error;
    error.reserve(4);
    error.append_new("error_type", error_type);
    error.append_new("error_message", message);
    error.append_new("model", model_);
    if (!sampled_) error.append_new("sampled_out", true);
    instrumentor_->emit(Event::capture(EventType::error, context_, std::move(error)));
    open_ = true;
    complete(LlmUsage{}, false, error_type);
    if (chunk_refused) std::rethrow_exception(chunk_refused);
  }

  /// token() calls counted (none in `off` mode).
  std::int64_t tokens_streamed() const noexcept { return tokens_; }
  TokenMode token_mode() const noexcept { return token_mode_; }
  bool is_open() const noexcept { return open_; }
  const std::shared_ptr<const EventContext>& context() const noexcept { return context_; }

 private:
  // `abandoned`: destroyed without finish() and without an exception.
  void complete(LlmUsage usage, bool success, std::string_view error_type, bool abandoned = false) {
    open_ = false;
    const auto now = std::chrono::steady_clock::now();
    const std::exception_ptr chunk_refused = emit_pending_chunk();
    if (!sampled_) {
      // Its tokens' events were never made; a call that failed still reports (sampled_out).
      if (token_mode_ == TokenMode::each || token_mode_ == TokenMode::chunked) {
        instrumentor_->count_sampled_out_tokens(static_cast<std::uint64_t>(tokens_));
      }
      if (success) {
        instrumentor_->count_sampled_out_events(1);
        return;
      }
    }
    const double response_ms = std::chrono::duration<double, std::milli>(now - started_).count();
    const std::int64_t generated = usage.output_tokens.value_or(tokens_);
    const bool rate_known = generated > 0 && response_ms > 0;
    const bool streamed = tokens_ >= 2;
    const bool streaming_rate_known = streamed && last_token_ > first_token_;
    const bool gaps_known = streamed && gaps_.complete();
    // The caller's cost wins, also one given as extra's "cost_usd" (which would overwrite the
    // table's); else the instrumentor's pricing table, if it has the model.
    bool priced_by_table = false;
    if (!usage.cost_usd && !usage.extra.contains("cost_usd")) {
      usage.cost_usd = instrumentor_->price_call(model_, usage.input_tokens,
                                                 usage.cached_input_tokens, usage.output_tokens);
      priced_by_table = usage.cost_usd.has_value();
    }
    // The fields appended below (one more than kept when the caller's extra repeats one of them):
    // a buffered llm_call event holds no unused slots otherwise.
    const std::size_t otel_count =
        otel_genai_names_
            ? otel_genai_count(usage, !provider_.empty(), tokens_, abandoned, error_type)
            : 0;
    const std::size_t count =
        4 + !provider_.empty() + usage.input_tokens.has_value() + usage.output_tokens.has_value() +
        usage.cached_input_tokens.has_value() + usage.reasoning_tokens.has_value() +
        usage.cost_usd.has_value() + priced_by_table + (tokens_ > 0) + streamed +
        streaming_rate_known + (gaps_known ? 3 : 0) + rate_known + !usage.finish_reason.empty() +
        !error_type.empty() + !sampled_ + otel_count + usage.extra.size();
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
    if (usage.cached_input_tokens) {
      data.append_new("cached_input_tokens", *usage.cached_input_tokens);
    }
    if (usage.reasoning_tokens) data.append_new("reasoning_tokens", *usage.reasoning_tokens);
    if (usage.cost_usd) data.append_new("cost_usd", *usage.cost_usd);
    if (priced_by_table) data.append_new("cost_source", "pricing_table");
    data.append_new("response_time_ms", response_ms);
    if (tokens_ > 0) {
      data.append_new("ttft_ms",
                      std::chrono::duration<double, std::milli>(first_token_ - started_).count());
    }
    if (streamed) append_streaming_figures(data);
    if (rate_known) {
      data.append_new("tokens_per_second", static_cast<double>(generated) * 1000.0 / response_ms);
    }
    if (otel_genai_names_) append_otel_genai_names(data, usage, abandoned, error_type);
    if (!usage.finish_reason.empty())
      data.append_new("finish_reason", std::move(usage.finish_reason));
    data.append_new("success", success);
    if (!error_type.empty()) data.append_new("error_type", error_type);
    for (const auto& f : usage.extra) data.set(f.key, f.value);
    // After the caller's fields, so none of them can unmark the event.
    if (!sampled_) data.set("sampled_out", true);
    instrumentor_->emit(Event::capture(EventType::llm_call, context_, std::move(data)));
    if (chunk_refused) std::rethrow_exception(chunk_refused);
  }

  static TokenChunking chunk_limits(TokenChunking given) noexcept {
    given.max_tokens = std::clamp(given.max_tokens, std::int32_t{1}, kMaxChunkTokens);
    // Compared with nanosecond differences below: milliseconds::max() ("never") would overflow.
    given.max_interval = std::clamp(given.max_interval, std::chrono::milliseconds::zero(),
                                    std::chrono::milliseconds(kMaxChunkInterval));
    return given;
  }

  void add_to_chunk(std::string_view text, std::string_view field, std::int64_t index,
                    std::chrono::steady_clock::time_point now) {
    // A sink refusing the chunk a change of field ends (raise_error) does not lose this token:
    // it starts the next chunk, and the caller gets the error after.
    std::exception_ptr refused;
    if (!chunk_.empty() && field != chunk_.field()) refused = emit_pending_chunk();
    chunk_.add(text, field, index, now);
    if (chunk_.count() >= chunking_.max_tokens ||
        (chunking_.max_interval.count() > 0 && now - chunk_.first_at() >= chunking_.max_interval)) {
      if (auto also_refused = emit_pending_chunk(); !refused) refused = also_refused;
    }
    if (refused) std::rethrow_exception(refused);
  }

  void emit_chunk() {
    if (chunk_.empty()) return;
    const auto since_start =
        std::chrono::duration_cast<Clock::duration>(chunk_.first_at() - started_);
    Fields data = chunk_.take(capture_content_);
    instrumentor_->emit(Event::capture_at(wall_started_ + since_start, EventType::token, context_,
                                          std::move(data)));
  }

  // The held chunk, before the events that end the call. A sink refusing it (the raise_error
  // overflow strategy) does not keep those from being emitted: the caller gets the error after.
  std::exception_ptr emit_pending_chunk() noexcept {
    try {
      emit_chunk();
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  }

  // The figures OpenTelemetry's GenAI conventions name, under those names and in their units
  // (seconds; finish reasons as an array), as docs/event-schema.md maps them. An abandoned
  // call (success false, no error type) has no finish reason a model gave: it gets
  // error.type "abandoned" instead.
  static std::size_t otel_genai_count(const LlmUsage& usage, bool has_provider, std::int64_t tokens,
                                      bool abandoned, std::string_view error_type) noexcept {
    return 1 + has_provider + usage.input_tokens.has_value() + usage.output_tokens.has_value() +
           usage.cached_input_tokens.has_value() + usage.reasoning_tokens.has_value() +
           (!usage.finish_reason.empty() && !abandoned) + (tokens > 0) +
           (!error_type.empty() || abandoned);
  }
  void append_otel_genai_names(Fields& data, const LlmUsage& usage, bool abandoned,
                               std::string_view error_type) const {
    data.append_new("gen_ai.request.model", model_);
    if (!provider_.empty()) data.append_new("gen_ai.provider.name", provider_);
    if (usage.input_tokens) data.append_new("gen_ai.usage.input_tokens", *usage.input_tokens);
    if (usage.output_tokens) data.append_new("gen_ai.usage.output_tokens", *usage.output_tokens);
    if (usage.cached_input_tokens) {
      data.append_new("gen_ai.usage.cache_read.input_tokens", *usage.cached_input_tokens);
    }
    if (usage.reasoning_tokens) {
      data.append_new("gen_ai.usage.reasoning.output_tokens", *usage.reasoning_tokens);
    }
    if (!usage.finish_reason.empty() && !abandoned) {
      data.append_new("gen_ai.response.finish_reasons",
                      RawJson{"[" + detail::json_quoted(usage.finish_reason) + "]"});
    }
    if (tokens_ > 0) {
      data.append_new("gen_ai.response.time_to_first_chunk",
                      std::chrono::duration<double>(first_token_ - started_).count());
    }
    if (abandoned) {
      data.append_new("error.type", "abandoned");
    } else if (!error_type.empty()) {
      data.append_new("error.type", error_type);
    }
  }

  // From the first streamed token to the last (TTFT left out): the decoding the model did while
  // streaming, as OpenTelemetry's gen_ai.server.time_per_output_token measures it.
  void append_streaming_figures(Fields& data) {
    const double streaming_ms =
        std::chrono::duration<double, std::milli>(last_token_ - first_token_).count();
    const auto gaps = static_cast<double>(tokens_ - 1);
    data.append_new("time_per_output_token_ms", streaming_ms / gaps);
    if (last_token_ > first_token_)
      data.append_new("output_tokens_per_second", gaps * 1000.0 / streaming_ms);
    if (!gaps_.complete())
      return;  // out of memory for the gaps' counters: no percentiles rather than wrong ones
    data.append_new("inter_token_ms_p50", gaps_.percentile_ms(50));
    data.append_new("inter_token_ms_p95", gaps_.percentile_ms(95));
    data.append_new("inter_token_ms_max", gaps_.max_ms());
  }

  std::shared_ptr<Instrumentor> instrumentor_;
  std::shared_ptr<const EventContext> context_;
  std::string model_;
  std::string provider_;
  TokenMode token_mode_;
  bool otel_genai_names_;
  bool sampled_ = true;  // false in an execution head sampling left out
  bool capture_content_;
  TokenChunking chunking_;
  // Read in this order: a token's timestamp (wall_started_ plus the monotonic time since
  // started_) is then never later than the true time, so never after the events that follow.
  Timestamp wall_started_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point first_token_{};
  std::chrono::steady_clock::time_point last_token_{};
  detail::TokenGaps gaps_;
  detail::TokenChunk chunk_;
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
  bool sampled() const noexcept { return false; }
};
struct NoopLlmCall {
  template <typename... A>
  void token(A&&...) const noexcept {}
  TokenMode token_mode() const noexcept { return TokenMode::off; }
  template <typename... A>
  void finish(A&&...) const noexcept {}
  void finish(const LlmUsage&) const noexcept {}
  template <typename... A>
  void fail(A&&...) const noexcept {}
  std::int64_t tokens_streamed() const noexcept { return 0; }
  bool is_open() const noexcept { return false; }
};

}  // namespace streamll
