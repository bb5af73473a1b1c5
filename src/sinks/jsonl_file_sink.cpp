#include "streamll/sinks/jsonl_file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include "background_writer.hpp"
#include "logging.hpp"

namespace streamll {
namespace {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Writes all of `data`, retrying short writes and EINTR. Returns 0 or the errno of the failure;
// `done` says how many bytes reached the file either way.
int write_all(int fd, const char* data, std::size_t size, std::size_t& done) noexcept {
  done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

void add(detail::OutputResult& to, const detail::OutputResult& from) noexcept {
  to.written += from.written;
  to.failed += from.failed;
  to.discarded += from.discarded;
  to.ok = to.ok && from.ok;
}

// The file side of a JsonlFileSink, on the sink's thread: serializes events into whole lines
// and writes them, at once (every_event) or when the buffer fills (buffered). An event counts
// as written once its whole line reached the file.
class JsonlOutput final : public detail::SinkOutput {
 public:
  JsonlOutput(const JsonlFileSinkOptions& options, int fd) : options_(options), fd_(fd) {
    if (options_.flush_policy == JsonlFlushPolicy::buffered) {
      buffer_.reserve(std::min<std::size_t>(options_.buffer_bytes, 1 << 20) + 1024);
    }
  }
  ~JsonlOutput() override {
    if (fd_ >= 0) ::close(fd_);
  }
  JsonlOutput(const JsonlOutput&) = delete;
  JsonlOutput& operator=(const JsonlOutput&) = delete;

  detail::OutputResult write(const std::vector<Event>& events,
                             const std::atomic<bool>& abandoned) noexcept override {
    detail::OutputResult result;
    if (abandoned.load(std::memory_order_acquire) || fd_ < 0) {
      result.discarded = events.size();
      return result;
    }
    for (const Event& event : events) {
      const std::size_t before = buffer_.size();
      bool ok = append_json(event, buffer_);  // restores `buffer_` when it fails
      if (ok) {
        try {
          buffer_.push_back('\n');
        } catch (...) {
          buffer_.resize(before);
          ok = false;
        }
      }
      if (ok) {
        ++buffered_events_;
      } else {
        ++result.discarded;  // out of memory for its JSON
      }
    }
    if (options_.flush_policy == JsonlFlushPolicy::every_event ||
        buffer_.size() >= options_.buffer_bytes) {
      add(result, write_out());
    }
    return result;
  }

  detail::OutputResult flush() noexcept override {
    if (fd_ < 0) return {};
    detail::OutputResult result = write_out();
    result.ok = sync() && result.ok;
    return result;
  }

  detail::OutputResult close() noexcept override {
    if (fd_ < 0) return {};
    detail::OutputResult result = flush();
    if (::close(fd_) != 0) {
      // Some file systems (NFS) report write errors only here.
      const int err = errno;
      try {  // building the message may run out of memory
        log_.log(spdlog::level::err,
                 "JsonlFileSink: closing '" + options_.path + "' failed: " + errno_text(err));
      } catch (...) {
      }
      result.ok = false;
    }
    fd_ = -1;
    return result;
  }

  std::uint64_t discard() noexcept override {
    const std::uint64_t held = buffered_events_;
    buffer_.clear();
    buffered_events_ = 0;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return held;
  }

 private:
  // Writes the buffer out. On failure the buffered events that did not fully reach the file
  // are counted as lost and the buffer is emptied, so a full disk cannot grow memory.
  detail::OutputResult write_out() noexcept {
    detail::OutputResult result;
    if (buffer_.empty()) return result;
    int err = 0;
    std::size_t done = 0;
    if (line_open_) {
      // A previous failure left a partial line: end it, so this batch parses line by line.
      err = write_all(fd_, "\n", 1, done);
      if (err == 0) line_open_ = false;
    }
    if (err == 0) err = write_all(fd_, buffer_.data(), buffer_.size(), done);
    if (err == 0) {
      result.written = buffered_events_;
    } else {
      const auto first = buffer_.begin();
      const auto complete = static_cast<std::uint64_t>(
          std::count(first, first + static_cast<std::ptrdiff_t>(done), '\n'));
      if (done > 0 && buffer_[done - 1] != '\n') line_open_ = true;
      result.written = complete;
      result.failed = buffered_events_ - complete;
      result.ok = false;
      total_lost_ += result.failed;
      try {  // building the message may run out of memory
        log_.log(spdlog::level::err, "JsonlFileSink: writing to '" + options_.path +
                                         "' failed: " + errno_text(err) + "; " +
                                         std::to_string(result.failed) + " event(s) lost (" +
                                         std::to_string(total_lost_) + " in total)");
      } catch (...) {
      }
    }
    buffer_.clear();
    buffered_events_ = 0;
    return result;
  }

  bool sync() noexcept {
    if (!options_.fsync || ::fsync(fd_) == 0) return true;
    const int err = errno;
    try {  // building the message may run out of memory
      log_.log(spdlog::level::err,
               "JsonlFileSink: fsync of '" + options_.path + "' failed: " + errno_text(err));
    } catch (...) {
    }
    return false;
  }

  // A copy: a writer given up on at shutdown may outlive the sink.
  const JsonlFileSinkOptions options_;
  int fd_;              // -1 once closed
  std::string buffer_;  // whole lines, each ending in '\n'
  std::uint64_t buffered_events_ = 0;
  bool line_open_ = false;  // the file ends in a partial line left by a failed write
  std::uint64_t total_lost_ = 0;
  detail::RateLimitedLog log_{"streamll.sinks.jsonl"};
};

}  // namespace

struct JsonlFileSink::State {
  State(JsonlFileSinkOptions o, std::unique_ptr<detail::SinkOutput> output)
      : options(std::move(o)),
        writer(std::move(output), options.queue_size, "JsonlFileSink '" + options.path + "'",
               "streamll.sinks.jsonl") {}

  const JsonlFileSinkOptions options;
  detail::BackgroundWriter writer;
};

JsonlFileSink::JsonlFileSink(JsonlFileSinkOptions options) {
  if (options.path.empty()) throw ConfigError("path", "is empty; give the file to write events to");
  // Checked before the file is created or truncated.
  if (options.queue_size == 0) throw ConfigError("queue_size", "must be at least 1 (got 0)");
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (options.append ? 0 : O_TRUNC);
  int fd;
  do {
    fd = ::open(options.path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    throw ConfigError("path", "cannot open '" + options.path + "': " + errno_text(errno));
  }
  std::unique_ptr<detail::SinkOutput> output;
  try {
    output = std::make_unique<JsonlOutput>(options, fd);
  } catch (...) {
    ::close(fd);  // the output owns the descriptor only once it exists
    throw;
  }
  state_ = std::make_unique<State>(std::move(options), std::move(output));
}

JsonlFileSink::~JsonlFileSink() {
  try {
    shutdown(std::chrono::seconds(5));
  } catch (...) {
  }
}

void JsonlFileSink::handle(const Event& event) { state_->writer.push(Event(event)); }
void JsonlFileSink::handle_owned(Event&& event) { state_->writer.push(std::move(event)); }

bool JsonlFileSink::flush(std::chrono::milliseconds timeout) {
  return state_->writer.flush(timeout);
}

bool JsonlFileSink::shutdown(std::chrono::milliseconds timeout) {
  return state_->writer.shutdown(timeout);
}

bool JsonlFileSink::is_running() const noexcept { return state_->writer.is_running(); }
const std::string& JsonlFileSink::path() const noexcept { return state_->options.path; }
std::uint64_t JsonlFileSink::written() const noexcept { return state_->writer.written(); }
std::uint64_t JsonlFileSink::write_errors() const noexcept { return state_->writer.write_errors(); }
std::uint64_t JsonlFileSink::dropped() const noexcept { return state_->writer.dropped(); }

}  // namespace streamll
