#pragma once
// A spdlog sink that keeps what it is given in memory, readable from another thread while
// loggers write to it: text() takes the same lock as the writers (an ostream_sink's stream,
// read directly, races with a flusher thread that is logging).

#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace streamll::testing {

class CapturedLogText final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    text_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

}  // namespace streamll::testing
