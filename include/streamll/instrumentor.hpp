#pragma once
// The Instrumentor fans events out to its sinks. Its sink list is fixed at construction, so
// emitting takes no lock: each event costs one virtual call per sink.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streamll/content_fields.hpp"
#include "streamll/detail/sampler.hpp"
#include "streamll/errors.hpp"
#include "streamll/event.hpp"
#include "streamll/pricing.hpp"
#include "streamll/sink.hpp"
#include "streamll/token_mode.hpp"

namespace streamll {

struct InstrumentorOptions {
  /// Where events go; an instrumentor without sinks drops everything at almost no cost.
  std::vector<SinkPtr> sinks = {};
  /// Put on every event of every span, e.g. {"environment", "production"}; span tags with the
  /// same key win.
  Tags tags = {};
  /// Default `module_name` for spans that do not name one.
  std::string module_name = {};
  /// Misuse of the instrumentation API throws instead of being repaired and counted. Today that
  /// is one case: an invalid event type name given to `emit()` throws InvalidEventType (by
  /// default it is sanitized, see sanitize_event_type_name, and counted in
  /// Instrumentor::invalid_event_types()). For tests and development builds.
  bool strict = false;
  /// For the default instrumentor (configure()): how long its sinks get, in all, to deliver
  /// what they hold when the process exits without shutdown() (return from main, std::exit,
  /// std::quick_exit). Unset: the environment variable STREAMLL_EXIT_FLUSH_TIMEOUT_MS, else
  /// 2 s. Zero delivers nothing at exit (what is dropped is still logged with its count).
  std::optional<std::chrono::milliseconds> exit_flush_timeout = std::nullopt;
  /// How LlmCalls report their streamed tokens (TokenMode), unless a call's own options say.
  /// Unset: the environment variable STREAMLL_TOKEN_MODE ("each", "chunked", "summary" or
  /// "off"; another value is logged and ignored), else `each`.
  std::optional<TokenMode> token_mode = std::nullopt;
  /// When a `chunked` call emits a chunk.
  TokenChunking token_chunking = {};
  /// llm_call events also carry OpenTelemetry GenAI attribute names beside streamll's own
  /// (`gen_ai.request.model`, `gen_ai.usage.input_tokens`, ...; docs/event-schema.md maps
  /// them), for tools that read those. Unset: the environment variable
  /// STREAMLL_OTEL_GENAI_NAMES (true/false, 1/0, yes/no, on/off; another value is logged and
  /// ignored), else false.
  std::optional<bool> otel_genai_names = std::nullopt;
  /// Head sampling (docs/sampling.md): the share of executions recorded, in [0, 1], decided at
  /// each execution's root from its execution id, so a kept execution is kept whole and every
  /// process decides the same for the same id. A sampled-out execution still emits its error
  /// events and the llm_call events of its failed calls; the rest is counted, not emitted.
  /// Unset: the environment variable STREAMLL_SAMPLE_RATE (another value is logged and
  /// ignored), else 1 (everything). Outside [0, 1] (or NaN): ConfigError.
  std::optional<double> sample_rate = std::nullopt;
  /// Rates for executions whose root has one of these operations, instead of sample_rate
  /// (e.g. {"healthcheck", 0.01}); checked like it.
  std::vector<OperationSampleRate> operation_sample_rates = {};
  /// Whether events carry content: prompts, questions, answers, messages and streamed token
  /// text (content_fields.hpp lists the fields; content_fields below adds to them). Off: LlmCall
  /// never copies token text, and those fields are removed from every event before any sink sees it
  /// (counted in Instrumentor::content_fields_removed()); counts, timings and ids stay. Unset: the
  /// environment variable STREAMLL_CAPTURE_CONTENT (true/false, 1/0, yes/no, on/off; another
  /// value is logged and means off: a privacy switch fails closed), else true, today's
  /// behaviour (docs/privacy.md says why).
  std::optional<bool> capture_content = std::nullopt;
  /// More data field names that carry content, removed like content_fields.hpp's when capture
  /// is off and their value is a string or raw JSON (e.g. {"user_query", "retrieved_text"}).
  /// Compared exactly, in every event type. Ignored while capture is on.
  std::vector<std::string> content_fields = {};
  /// A pricing table (JSON; format in docs/event-schema.md, "Pricing table") that fills an
  /// llm_call's cost_usd when the caller gives none and the table has the call's model (its
  /// exact name); such events also carry `"cost_source": "pricing_table"`. Calls of a model
  /// the table lacks are counted in Instrumentor::unpriced_calls(). Read once, here. Unset:
  /// the environment variable STREAMLL_PRICING_FILE, else no table; empty: no table (the
  /// environment is not read). A missing, unreadable or invalid file throws ConfigError naming
  /// the file and the problem, from the environment too (option() is then the variable's name).
  std::optional<std::string> pricing_file = std::nullopt;
};

namespace detail {
// Out of line (src/instrumentor.cpp) so that this header does not pull in spdlog.
void report_sink_exception(const Sink& sink, const char* what) noexcept;
void report_invalid_event_type(std::string_view given, std::string_view used) noexcept;
// Hands the sinks this instrumentor owns alone to streamll's reaper thread, which destroys
// them there: a sink's destructor may wait for its buffer to drain (RedisSink: up to its
// shutdown_timeout), and the last reference to an instrumentor is often dropped by a span
// ending on an application thread.
void release_sinks(std::vector<SinkPtr>& sinks) noexcept;
// STREAMLL_TOKEN_MODE's mode, else `each` (an unknown value is logged).
TokenMode token_mode_from_env() noexcept;
// STREAMLL_OTEL_GENAI_NAMES as a boolean, else false (an unknown value is logged).
bool otel_genai_names_from_env() noexcept;
// The sampler for these options (src/sampling.cpp): `rate` unset reads STREAMLL_SAMPLE_RATE.
// Throws ConfigError for a rate outside [0, 1].
Sampler make_sampler(std::optional<double> rate, std::vector<OperationSampleRate> per_operation);
// STREAMLL_CAPTURE_CONTENT as a boolean, else true; an unknown value is logged and is false.
bool capture_content_from_env() noexcept;
// The table of `file`, else of STREAMLL_PRICING_FILE when `file` is unset; null for none
// (src/pricing_table.cpp). Throws ConfigError for a bad one.
std::shared_ptr<const PricingTable> load_pricing_table(const std::optional<std::string>& file);
}  // namespace detail

class Instrumentor {
 public:
  Instrumentor() = default;
  explicit Instrumentor(InstrumentorOptions options)
      : sinks_(std::move(options.sinks)),
        root_(std::make_shared<EventContext>(
            EventContext{{}, {}, {}, {}, std::move(options.module_name), std::move(options.tags)})),
        strict_(options.strict),
        exit_flush_timeout_(options.exit_flush_timeout),
        token_mode_(options.token_mode ? *options.token_mode : detail::token_mode_from_env()),
        token_chunking_(options.token_chunking),
        otel_genai_names_(options.otel_genai_names ? *options.otel_genai_names
                                                   : detail::otel_genai_names_from_env()),
        sampler_(
            detail::make_sampler(options.sample_rate, std::move(options.operation_sample_rates))),
        pricing_(detail::load_pricing_table(options.pricing_file)) {
    sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), nullptr), sinks_.end());
    // Not value_or(): the environment is read (and a bad value logged) only when it decides.
    capture_content_ =
        options.capture_content ? *options.capture_content : detail::capture_content_from_env();
    content_fields_ = std::move(options.content_fields);
  }
  /// Never waits for a sink: the sinks only it holds are destroyed on streamll's reaper
  /// thread (docs/design.md, "Lifecycle").
  ~Instrumentor() { detail::release_sinks(sinks_); }
  Instrumentor(const Instrumentor&) = delete;
  Instrumentor& operator=(const Instrumentor&) = delete;

  /// Hands `event` to every sink, in order. Never throws, except BufferOverflowError from a
  /// sink using the `raise_error` overflow strategy, rethrown after all sinks had the event.
  /// Any other exception from a sink is caught, counted in sink_failures() and logged
  /// (rate-limited) through the spdlog logger "streamll". In a sampled-out execution, an event
  /// other than `error` and `llm_call` is counted in sampled_out_events() and dropped.
  /// Thread-safe.
  void emit(Event&& event) {
    if (left_out(event.type, event.context.get())) return;
    const std::size_t n = sinks_.size();
    if (n == 0) return;
    if (!capture_content_) remove_content(event);
    bool overflowed = false;
    std::string overflow_message;
    for (std::size_t i = 0; i < n; ++i) {
      Sink& sink = *sinks_[i];
      try {
        if (i + 1 == n) {
          sink.handle_owned(std::move(event));
        } else {
          sink.handle(event);
        }
      } catch (const BufferOverflowError& e) {
        overflowed = true;
        overflow_message = e.what();
      } catch (const std::exception& e) {
        sink_failures_.fetch_add(1, std::memory_order_relaxed);
        detail::report_sink_exception(sink, e.what());
      } catch (...) {
        sink_failures_.fetch_add(1, std::memory_order_relaxed);
        detail::report_sink_exception(sink, "non-standard exception");
      }
    }
    if (overflowed) throw BufferOverflowError(overflow_message);
  }

  /// Emits an event named `type_name` (a built-in name such as "token", or a custom one) in
  /// `context`. An invalid name is sanitized (sanitize_event_type_name), counted in
  /// invalid_event_types() and logged, rate-limited; with `strict` set it throws
  /// InvalidEventType instead. Otherwise as emit(Event&&).
  /// In a sampled-out execution only `error` and `llm_call` are emitted, with
  /// `"sampled_out": true` added to their data; other names are counted in
  /// sampled_out_events().
  void emit(std::string_view type_name, std::shared_ptr<const EventContext> context, Fields data) {
    if (is_valid_event_type_name(type_name)) {
      const EventType type = event_type_from_name(type_name);
      if (left_out(type, context.get())) return;
      mark_sampled_out(context.get(), data);
      emit(Event::capture(type, std::move(context), std::move(data), type_name));
      return;
    }
    if (strict_) validate_event_type_name(type_name);
    invalid_event_types_.fetch_add(1, std::memory_order_relaxed);
    const std::string repaired = sanitize_event_type_name(type_name);
    detail::report_invalid_event_type(type_name, repaired);
    const EventType type = event_type_from_name(repaired);
    if (left_out(type, context.get())) return;
    mark_sampled_out(context.get(), data);
    emit(Event::capture(type, std::move(context), std::move(data), repaired));
  }

  /// Flushes every sink within one shared deadline. True when every sink said it was done.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept {
    return for_each_sink_until(
        timeout, [](Sink& s, std::chrono::milliseconds left) { return s.flush(left); });
  }
  /// Shuts every sink down within one shared deadline.
  bool shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept {
    return for_each_sink_until(
        timeout, [](Sink& s, std::chrono::milliseconds left) { return s.shutdown(left); });
  }

  const std::vector<SinkPtr>& sinks() const noexcept { return sinks_; }
  const Tags& tags() const noexcept { return root_->tags; }
  const std::string& module_name() const noexcept { return root_->module_name; }
  /// The context of events emitted outside any span: default tags and module name only.
  const std::shared_ptr<const EventContext>& root_context() const noexcept { return root_; }
  /// InstrumentorOptions::exit_flush_timeout as given.
  const std::optional<std::chrono::milliseconds>& exit_flush_timeout() const noexcept {
    return exit_flush_timeout_;
  }
  /// Exceptions caught from sinks (BufferOverflowError excluded: it reaches the caller).
  std::uint64_t sink_failures() const noexcept {
    return sink_failures_.load(std::memory_order_relaxed);
  }
  /// Event type names that were invalid and were sanitized (never counted in strict mode).
  std::uint64_t invalid_event_types() const noexcept {
    return invalid_event_types_.load(std::memory_order_relaxed);
  }
  bool strict() const noexcept { return strict_; }
  /// InstrumentorOptions::token_mode, or what the environment said when it was unset;
  /// `each` for an instrumentor made without options (the default one before configure()).
  TokenMode token_mode() const noexcept { return token_mode_; }
  const TokenChunking& token_chunking() const noexcept { return token_chunking_; }
  /// InstrumentorOptions::otel_genai_names, or what the environment said when it was unset;
  /// false for an instrumentor made without options.
  bool otel_genai_names() const noexcept { return otel_genai_names_; }
  /// InstrumentorOptions::capture_content, or what the environment said when it was unset;
  /// true for an instrumentor made without options.
  bool capture_content() const noexcept { return capture_content_; }
  /// Content fields removed from events because capture_content is off (token text LlmCall
  /// never copied is not counted: it was never in an event).
  std::uint64_t content_fields_removed() const noexcept {
    return content_fields_removed_.load(std::memory_order_relaxed);
  }
  /// InstrumentorOptions::content_fields: the names removed beside content_field_names.
  const std::vector<std::string>& content_fields() const noexcept { return content_fields_; }

  /// Whether a new execution with this id and root operation is recorded (head sampling).
  bool samples_in(std::string_view execution_id, std::string_view operation) const noexcept {
    return sampler_.keeps(execution_id, operation);
  }
  /// Executions sampled out at their root.
  std::uint64_t sampled_out_executions() const noexcept {
    return sampled_out_executions_.load(std::memory_order_relaxed);
  }
  /// Events not emitted because their execution was sampled out: start and end events,
  /// custom events, and the llm_call events of calls that succeeded. Token events are counted
  /// apart, in sampled_out_tokens(). The spans inside a sampled-out execution count theirs
  /// on their thread and add them here when the execution's root span, or the ContextScope
  /// that carried the execution to that thread, ends.
  std::uint64_t sampled_out_events() const noexcept {
    return sampled_out_events_.load(std::memory_order_relaxed);
  }
  /// Tokens whose events were left out because their call's execution was sampled out: in
  /// `each` mode one event each, in `chunked` mode those of the chunk events (`summary` and
  /// `off` emit no token events to leave out, and count nothing here).
  std::uint64_t sampled_out_tokens() const noexcept {
    return sampled_out_tokens_.load(std::memory_order_relaxed);
  }
  /// The pricing table calls are priced with (InstrumentorOptions::pricing_file); null: none.
  const PricingTable* pricing_table() const noexcept { return pricing_.get(); }
  /// llm_call events left without a cost: the caller gave none and the pricing table does not
  /// have the call's model. Zero without a table. Calls that report no input or no output
  /// tokens are never priced and never counted here, whatever their model: a failed or
  /// abandoned call usually reports none. Nor are calls whose caller gave a cost (cost_usd,
  /// also through LlmUsage::extra).
  std::uint64_t unpriced_calls() const noexcept {
    return unpriced_calls_.load(std::memory_order_relaxed);
  }

  void count_sampled_out_execution() noexcept {
    sampled_out_executions_.fetch_add(1, std::memory_order_relaxed);
  }
  void count_sampled_out_events(std::uint64_t events) noexcept {
    if (events != 0) sampled_out_events_.fetch_add(events, std::memory_order_relaxed);
  }
  void count_sampled_out_tokens(std::uint64_t tokens) noexcept {
    if (tokens != 0) sampled_out_tokens_.fetch_add(tokens, std::memory_order_relaxed);
  }

 private:
  // The cost of a call of `model` by the pricing table; nullopt without a table, without
  // input or output tokens (a failed or abandoned call: never counted), or for a model the
  // table lacks (counted in unpriced_calls()). A binary search and a few multiplications: no
  // allocation. LlmCall's alone: a public one would let callers bump unpriced_calls().
  friend class LlmCall;
  std::optional<double> price_call(std::string_view model, std::optional<std::int64_t> input,
                                   std::optional<std::int64_t> cached_input,
                                   std::optional<std::int64_t> output) noexcept {
    if (!pricing_ || !input || !output) return std::nullopt;
    const ModelPrice* price = pricing_->find(model);
    if (price == nullptr) {
      unpriced_calls_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    const double cost = PricingTable::cost_usd(*price, *input, cached_input.value_or(0), *output);
    // Bounded prices and int64 counts keep it finite; checked so no event ever carries inf.
    if (!std::isfinite(cost)) return std::nullopt;
    return cost;
  }

  // Counts what a sampled-out execution does not emit (all but errors and llm_call), for the
  // caller to drop.
  bool left_out(EventType type, const EventContext* context) noexcept {
    if (context == nullptr || context->sampled) return false;
    if (type == EventType::error || type == EventType::llm_call) return false;
    count_sampled_out_events(1);
    return true;
  }
  static void mark_sampled_out(const EventContext* context, Fields& data) {
    if (context != nullptr && !context->sampled) data.set("sampled_out", true);
  }
  void remove_content(Event& event) noexcept {
    if (const std::size_t removed = remove_content_fields(event, content_fields_)) {
      content_fields_removed_.fetch_add(removed, std::memory_order_relaxed);
    }
  }

  template <typename Fn>
  bool for_each_sink_until(std::chrono::milliseconds timeout, Fn fn) noexcept {
    // A year at most: now() + milliseconds::max() would overflow into the past.
    constexpr std::chrono::milliseconds longest = std::chrono::hours(24 * 365);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::clamp(timeout, std::chrono::milliseconds::zero(), longest);
    bool all = true;
    for (const auto& sink : sinks_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) left = std::chrono::milliseconds(0);
      try {
        all = fn(*sink, left) && all;
      } catch (const std::exception& e) {
        all = false;
        sink_failures_.fetch_add(1, std::memory_order_relaxed);
        detail::report_sink_exception(*sink, e.what());
      } catch (...) {
        all = false;
        sink_failures_.fetch_add(1, std::memory_order_relaxed);
        detail::report_sink_exception(*sink, "non-standard exception");
      }
    }
    return all;
  }

  std::vector<SinkPtr> sinks_;
  std::shared_ptr<const EventContext> root_ = std::make_shared<EventContext>();
  bool strict_ = false;
  std::optional<std::chrono::milliseconds> exit_flush_timeout_;
  TokenMode token_mode_ = TokenMode::each;
  TokenChunking token_chunking_;
  bool otel_genai_names_ = false;
  detail::Sampler sampler_;
  std::shared_ptr<const PricingTable> pricing_;
  std::atomic<std::uint64_t> sink_failures_{0};
  std::atomic<std::uint64_t> unpriced_calls_{0};
  std::atomic<std::uint64_t> sampled_out_executions_{0};
  std::atomic<std::uint64_t> sampled_out_events_{0};
  std::atomic<std::uint64_t> sampled_out_tokens_{0};
  std::atomic<std::uint64_t> invalid_event_types_{0};
  bool capture_content_ = true;
  std::atomic<std::uint64_t> content_fields_removed_{0};
  std::vector<std::string> content_fields_;
};

/// Replaces the process-wide default instrumentor (used by spans that name none) and returns
/// it. Spans already open keep the instrumentor they started with. Never waits for a sink:
/// the replaced instrumentor's sinks are shut down on streamll's reaper thread once nothing
/// uses them. The first call also arranges for the default instrumentor's sinks to deliver at
/// process exit (see InstrumentorOptions::exit_flush_timeout). Thread-safe.
std::shared_ptr<Instrumentor> configure(InstrumentorOptions options);
/// The process-wide default: one without sinks until configure() is called. Never null.
std::shared_ptr<Instrumentor> default_instrumentor() noexcept;
/// Flushes and shuts down the default instrumentor's sinks within one deadline. Without it,
/// they deliver at process exit within exit_flush_timeout; calling it gives the bound of your
/// choice and the result.
inline bool shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept {
  return default_instrumentor()->shutdown(timeout);
}

}  // namespace streamll
