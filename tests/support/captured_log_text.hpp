#pragma once
// CapturedLogText: a spdlog sink that keeps what it is given in memory, readable from another
// thread while loggers write to it: text() takes the same lock as the writers (an ostream_sink's
// stream, read directly, races with a flusher thread that is logging). CapturedLog: attaches one
// to a named logger for a scope.

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

#include "logging.hpp"

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

/// Copies what logger `logger_name` logs for the object's lifetime. Create it before the sinks
/// whose log it reads, so that no flusher is logging while it attaches or detaches itself.
class CapturedLog {
 public:
  explicit CapturedLog(const std::string& logger_name = "streamll.sinks.redis")
      : logger_(detail::get_logger(logger_name)), sink_(std::make_shared<CapturedLogText>()) {
    logger_->sinks().push_back(sink_);
  }
  ~CapturedLog() {
    auto& sinks = logger_->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::string text() { return sink_->text(); }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<CapturedLogText> sink_;
};

}  // namespace streamll::testing
