#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): a gateway's trace continues in a
// C++ service, and the service's own calls carry it on. extract_trace_context() turns the
// `traceparent` and `tracestate` headers of an incoming request into a Context whose spans
// join that trace; inject_trace_context() writes the current span as those headers for an
// outgoing one. docs/trace-context.md maps execution and span ids to trace and parent ids.
//
//   auto remote = streamll::extract_trace_context(request.header("traceparent"),
//                                                 request.header("tracestate"));
//   streamll::ContextScope scope(remote.value_or(streamll::Context{}));
//   streamll::Span span("handle_request");  // a child of the caller's span, in its trace
//   auto headers = streamll::inject_trace_context();  // for the next hop

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "streamll/context.hpp"
#include "streamll/instrumentor.hpp"

namespace streamll {

/// The two W3C headers. An empty `traceparent` means there is nothing to propagate.
struct TraceHeaders {
  std::string traceparent;
  std::string tracestate;
};

/// The thread's current span (or `context`'s) as W3C headers: version 00, the trace id of the
/// span's execution (trace_id_of_execution), the span's id as parent id, and the sampled flag
/// set unless head sampling left the execution out. Empty outside any span.
TraceHeaders inject_trace_context();
TraceHeaders inject_trace_context(const Context& context);

/// A context for `instrumentor` (null: the thread's, else the default one when the spans
/// start) whose current span is the caller's: spans started under it (ContextScope) take the
/// trace's execution id (execution_id_of_trace), the caller's span id as their parent, and
/// the caller's sampled flag as their sampling decision; their tags and module name come
/// from their instrumentor, as a root span's do; `tracestate` is kept for inject_trace_context().
/// Leading and trailing spaces and tabs are ignored. Nullopt when `traceparent` is not valid (the
/// W3C rule: the receiver then starts a trace of its own); a `tracestate` longer than 512
/// characters, or with a character outside printable ASCII, is dropped.
std::optional<Context> extract_trace_context(std::string_view traceparent,
                                             std::string_view tracestate = {},
                                             std::shared_ptr<Instrumentor> instrumentor = nullptr);

/// The W3C trace id (32 lowercase hex digits) of an execution. streamll's own ids
/// ("exec_" and 16 hex digits X) map to mix(X) followed by X, where mix is splitmix64's
/// finalizer, so that the trace id is random across all 128 bits and maps back; an id that is
/// already 32 lowercase hex digits (not all zero) is its own trace id; any other id maps one
/// way, through a hash.
std::string trace_id_of_execution(std::string_view execution_id);
/// The execution id of a W3C trace id: the inverse of trace_id_of_execution for streamll's
/// own ids, else the trace id itself.
std::string execution_id_of_trace(std::string_view trace_id);

}  // namespace streamll
