// W3C Trace Context: parsing and writing `traceparent`, and the mapping between execution
// ids and trace ids (docs/trace-context.md).

#include "streamll/trace_context.hpp"

#include <cstdint>
#include <utility>

#include "hex.hpp"
#include "streamll/detail/sampler.hpp"
#include "trim_blanks.hpp"

namespace streamll {
namespace {

constexpr std::string_view kExecutionPrefix = "exec_";
constexpr std::size_t kTraceIdDigits = 32;
constexpr std::size_t kParentIdDigits = 16;
constexpr std::size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
constexpr std::size_t kMaxTracestate = 512;   // the spec's limit for what must be passed on

using detail::lower_hex_value;

bool is_lower_hex(std::string_view text) noexcept {
  for (const char c : text) {
    if (lower_hex_value(c) < 0) return false;
  }
  return true;
}

bool is_all_zero(std::string_view text) noexcept {
  return text.find_first_not_of('0') == std::string_view::npos;
}

std::uint64_t parse_hex64(std::string_view sixteen_digits) noexcept {
  std::uint64_t value = 0;
  for (const char c : sixteen_digits) {
    value = (value << 4) | static_cast<std::uint64_t>(lower_hex_value(c));
  }
  return value;
}

void append_hex64(std::string& out, std::uint64_t value) { detail::append_hex(out, value, 16); }

// A bijection, so the left half of a trace id looks random and still tells a streamll
// execution id's trace id from others.
std::uint64_t mix(std::uint64_t x) noexcept { return detail::Sampler::mix(x); }

using detail::trim_blanks;

bool is_printable_ascii(std::string_view text) noexcept {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

struct TraceParent {
  std::string_view trace_id;
  std::string_view parent_id;
  bool sampled = false;
};

// version "-" trace-id "-" parent-id "-" trace-flags, all lowercase hex. Version ff is
// invalid; 00 has exactly these four fields; a later version may append "-" and more, and is
// read as 00 (the spec's rule for forward compatibility). All-zero ids are invalid.
std::optional<TraceParent> parse_traceparent(std::string_view text) noexcept {
  if (text.size() < kVersion00Length) return std::nullopt;
  const std::string_view version = text.substr(0, 2);
  if (!is_lower_hex(version) || version == "ff") return std::nullopt;
  if (version == "00" ? text.size() != kVersion00Length
                      : text.size() > kVersion00Length && text[kVersion00Length] != '-') {
    return std::nullopt;
  }
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  TraceParent out;
  out.trace_id = text.substr(3, kTraceIdDigits);
  out.parent_id = text.substr(36, kParentIdDigits);
  const std::string_view flags = text.substr(53, 2);
  if (!is_lower_hex(out.trace_id) || !is_lower_hex(out.parent_id) || !is_lower_hex(flags)) {
    return std::nullopt;
  }
  if (is_all_zero(out.trace_id) || is_all_zero(out.parent_id)) return std::nullopt;
  out.sampled = (lower_hex_value(flags[1]) & 1) != 0;
  return out;
}

}  // namespace

std::string trace_id_of_execution(std::string_view execution_id) {
  std::string out;
  out.reserve(kTraceIdDigits);
  if (execution_id.size() == kExecutionPrefix.size() + 16 &&
      execution_id.substr(0, kExecutionPrefix.size()) == kExecutionPrefix &&
      is_lower_hex(execution_id.substr(kExecutionPrefix.size()))) {
    const std::string_view digits = execution_id.substr(kExecutionPrefix.size());
    // X = 0 would give the all-zero trace id, which W3C forbids: it takes the hash below.
    if (const std::uint64_t x = parse_hex64(digits); x != 0) {
      append_hex64(out, mix(x));
      out.append(digits);
      return out;
    }
  }
  if (execution_id.size() == kTraceIdDigits && is_lower_hex(execution_id) &&
      !is_all_zero(execution_id)) {
    return std::string(execution_id);
  }
  // One way: two hashes of the id, never all zero in practice (and made not to be).
  const std::uint64_t high = detail::Sampler::hash(execution_id);
  std::uint64_t low = mix(high ^ 0x9e3779b97f4a7c15ULL);
  if (high == 0 && low == 0) low = 1;
  append_hex64(out, high);
  append_hex64(out, low);
  return out;
}

std::string execution_id_of_trace(std::string_view trace_id) {
  if (trace_id.size() == kTraceIdDigits && is_lower_hex(trace_id)) {
    const std::string_view left = trace_id.substr(0, 16);
    const std::string_view right = trace_id.substr(16);
    if (parse_hex64(left) == mix(parse_hex64(right))) {
      std::string out(kExecutionPrefix);
      out.append(right);
      return out;
    }
  }
  return std::string(trace_id);
}

TraceHeaders inject_trace_context() {
  const Context& current = detail::thread_context();
  return inject_trace_context(Context(current.instrumentor(), current.span()));
}

TraceHeaders inject_trace_context(const Context& context) {
  TraceHeaders out;
  const auto& span = context.span();
  if (!span || span->span_id.size() != kParentIdDigits || !is_lower_hex(span->span_id) ||
      is_all_zero(span->span_id)) {
    return out;  // outside any span (or a hand-made context without a W3C-shaped span id)
  }
  out.traceparent.reserve(kVersion00Length);
  out.traceparent = "00-";
  out.traceparent += trace_id_of_execution(span->execution_id);
  out.traceparent += '-';
  out.traceparent += span->span_id;
  out.traceparent += span->sampled ? "-01" : "-00";
  out.tracestate = span->tracestate;
  return out;
}

std::optional<Context> extract_trace_context(std::string_view traceparent,
                                             std::string_view tracestate,
                                             std::shared_ptr<Instrumentor> instrumentor) {
  const auto parsed = parse_traceparent(trim_blanks(traceparent));
  if (!parsed) return std::nullopt;
  auto remote = std::make_shared<EventContext>();
  remote->execution_id = execution_id_of_trace(parsed->trace_id);
  remote->span_id = std::string(parsed->parent_id);
  remote->sampled = parsed->sampled;
  remote->remote = true;
  tracestate = trim_blanks(tracestate);
  if (tracestate.size() <= kMaxTracestate && is_printable_ascii(tracestate)) {
    remote->tracestate = std::string(tracestate);
  }
  return Context(std::move(instrumentor), std::move(remote));
}

}  // namespace streamll
