#pragma once
// Redaction: a function over an event that a sink runs on its own thread, before the event is
// serialized (BatchingSinkOptions::redact, RedisSinkOptions::redact and the development sinks'
// options), plus ready redactors for e-mail addresses, card numbers and API-key-like strings.
// docs/privacy.md defines exactly what each one matches.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "streamll/event.hpp"

namespace streamll {

/// Rewrites an event in place: its data, or its context (replace `event.context` with a copy to
/// change tags; the original is shared by the span's other events). Runs on a sink's flusher
/// thread, once per event and sink, before the event is serialized; a ShardedRedisSink calls it
/// from several threads at once. A redactor that throws does not stop the sink: the event goes
/// out with its data replaced by {"redaction_failed": true} (plus "sampled_out": true in a
/// sampled-out execution) and without tags or tracestate, and the sink counts it:
/// stats().redaction_failures (BatchingSink, RedisSink, ShardedRedisSink) or redaction_failures()
/// (JsonlFileSink, TerminalSink). The log names the exception's type, never its what(), which could
/// quote the text being redacted. The context's tracestate is the caller's, passed through: no sink
/// of streamll's writes it, and no ready redactor reads it.
using EventRedactor = std::function<void(Event&)>;

/// What the ready redactors put in place of what they find.
inline constexpr std::string_view redacted_email = "[EMAIL]";
inline constexpr std::string_view redacted_card_number = "[CARD]";
inline constexpr std::string_view redacted_api_key = "[API_KEY]";

/// Each replaces what it finds in `text` and returns how many it replaced. Linear in the size
/// of `text`, whatever it holds (a long run of dots or digit groups included). Thread-safe (no
/// state).
///
/// E-mail addresses: local@domain, the local part of letters, digits and . _ % + -, the domain
/// two or more dot-separated labels of letters, digits and -, the last of two or more letters.
std::size_t redact_emails(std::string& text);
/// Card numbers: 13 to 19 digits, single spaces or dashes allowed between them, not touching a
/// letter or digit on either side, and passing the Luhn check (other digit runs are kept).
std::size_t redact_card_numbers(std::string& text);
/// API-key-like strings, among runs of letters, digits, _ and -: a known secret prefix (sk-,
/// sk_live_, sk_test_, rk_live_, ghp_, gho_, ghu_, ghs_, ghr_, github_pat_, glpat-, xoxb-,
/// xoxp-, xoxa-, hf_, AKIA, AIza) followed by 16 or more such characters; or any run of 32 or
/// more with both cases, a change of character class (upper, lower, digit, other) between at
/// least 35% of neighbouring characters and at least 3.5 bits of entropy per character (so hex
/// digests, UUIDs, snake_case and camelCase words are kept).
std::size_t redact_api_keys(std::string& text);
/// All three: e-mail addresses, then API keys, then card numbers.
std::size_t redact_sensitive_text(std::string& text);

/// An EventRedactor applying `redact_text` to every string value of the event's data, the text
/// of its raw JSON values, and its tag values (copying the context only when a tag changed).
/// Keys, ids, the operation and the module name are left alone.
EventRedactor redact_event_strings(std::function<std::size_t(std::string&)> redact_text);
/// redact_event_strings(redact_sensitive_text).
EventRedactor sensitive_data_redactor();

}  // namespace streamll
