#pragma once
// Server-sent events framing (the WHATWG HTML "event stream" rules), for the OpenAI-style
// streaming example. Bytes arrive in whatever pieces the network gives: a line, or even a
// "\r\n", may be split across two reads. Lines end with "\r\n", "\n" or "\r"; a line starting
// with ':' is a comment (keep-alives); "data:" lines accumulate, joined by '\n', until an empty
// line dispatches the event; a field's value loses one leading space. One deliberate
// difference: the rules decode the stream as UTF-8, replacing invalid bytes with U+FFFD; this
// parser passes bytes through unchanged (the JSON parser that reads the data rejects invalid
// UTF-8 itself, and a replacement would hide where a payload went wrong). No dependencies.

#include <string>
#include <string_view>

namespace example {

struct SseEvent {
  std::string event;  // the `event:` field; empty means "message"
  std::string data;   // the `data:` lines joined by '\n'
  std::string id;     // the `id:` field, if any
};

struct SseLimits {
  std::size_t max_line = std::size_t{1} << 20;  // bytes of one line, its line end excluded
  std::size_t max_data = std::size_t{8} << 20;  // bytes of one event's data, as dispatched
};

class SseParser {
 public:
  explicit SseParser(SseLimits limits = {}) : limits_(limits) {}

  /// Feeds the next bytes; calls `on_event(const SseEvent&)` for every event they complete.
  /// Returns false once a line or an event's data went over its limit: the parser has then
  /// dropped what it held and ignores every later byte (the caller should end the transfer).
  template <typename OnEvent>
  bool feed(std::string_view bytes, OnEvent&& on_event) {
    for (const char c : bytes) {
      if (oversized_) return false;
      if (after_cr_ && c == '\n') {  // the "\n" of a "\r\n" split across reads, or not
        after_cr_ = false;
        continue;
      }
      after_cr_ = false;
      if (c == '\r' || c == '\n') {
        after_cr_ = c == '\r';
        end_line(on_event);
        continue;
      }
      if (line_.size() >= limits_.max_line) {
        overflow();
        return false;
      }
      line_ += c;
    }
    return !oversized_;
  }

  /// Whether a line or an event's data went over its limit (SseLimits); final.
  bool oversized() const noexcept { return oversized_; }

  /// Whether the stream stopped inside an event (a partial line, or data not yet dispatched
  /// by an empty line): such an event is discarded, as the rules say.
  bool incomplete() const noexcept { return !line_.empty() || has_data_; }

 private:
  template <typename OnEvent>
  void end_line(OnEvent& on_event) {
    if (!bom_checked_) {
      bom_checked_ = true;
      if (line_.rfind("\xEF\xBB\xBF", 0) == 0) line_.erase(0, 3);
    }
    if (line_.empty()) {
      if (has_data_) {
        if (!pending_.data.empty() && pending_.data.back() == '\n') pending_.data.pop_back();
        on_event(static_cast<const SseEvent&>(pending_));
      }
      pending_.event.clear();
      pending_.data.clear();
      has_data_ = false;
      return;
    }
    if (line_.front() != ':') field(line_);
    line_.clear();
  }

  void overflow() noexcept {
    oversized_ = true;
    std::string().swap(line_);  // the memory goes back now, not when the parser is destroyed
    std::string().swap(pending_.data);
    has_data_ = false;
  }

  void field(std::string_view line) {
    const auto colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (name == "data") {
      // The data as dispatched is what is held (each line and a '\n') plus this value.
      if (pending_.data.size() + value.size() > limits_.max_data) {
        overflow();
        return;
      }
      pending_.data.append(value);
      pending_.data += '\n';
      has_data_ = true;
    } else if (name == "event") {
      pending_.event = value;
    } else if (name == "id" && value.find('\0') == std::string_view::npos) {
      pending_.id = value;  // the last event id persists across events
    }
    // "retry" and unknown fields: nothing this client needs.
  }

  SseLimits limits_;
  std::string line_;
  SseEvent pending_;
  bool has_data_ = false;
  bool after_cr_ = false;
  bool bom_checked_ = false;
  bool oversized_ = false;
};

}  // namespace example
