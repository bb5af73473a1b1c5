#pragma once
// streamll: observability for C++ LLM pipelines. Include this one header for the
// instrumentation API (Instrumentor, Span, LlmCall, macros) and the built-in sinks.

#include "streamll/content_fields.hpp"
#include "streamll/context.hpp"
#include "streamll/errors.hpp"
#include "streamll/event.hpp"
#include "streamll/fields.hpp"
#include "streamll/instrumentor.hpp"
#include "streamll/llm_call.hpp"
#include "streamll/log.hpp"
#include "streamll/macros.hpp"
#include "streamll/pricing.hpp"
#include "streamll/redact.hpp"
#include "streamll/sink.hpp"
#include "streamll/sinks/jsonl_file_sink.hpp"
#include "streamll/sinks/memory_sink.hpp"
#include "streamll/sinks/terminal_sink.hpp"
#include "streamll/span.hpp"
#include "streamll/span_view.hpp"
#include "streamll/trace_context.hpp"
#include "streamll/version.hpp"
