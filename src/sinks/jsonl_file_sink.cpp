#include "streamll/sinks/jsonl_file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <system_error>

#include "logging.hpp"
#include "timed_mutex.hpp"

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

}  // namespace

struct JsonlFileSink::State {
  explicit State(JsonlFileSinkOptions o) : options(std::move(o)) {}
  ~State() {
    if (fd >= 0) ::close(fd);
  }

  // Writes the buffer out. On failure the buffered events that did not fully reach the file
  // are counted as lost and the buffer is emptied, so a full disk cannot grow memory.
  bool write_out_locked() {
    if (buffer.empty()) return true;
    int err = 0;
    std::size_t done = 0;
    if (line_open) {
      // A previous failure left a partial line: end it, so this batch parses line by line.
      err = write_all(fd, "\n", 1, done);
      if (err == 0) line_open = false;
    }
    if (err == 0) err = write_all(fd, buffer.data(), buffer.size(), done);
    if (err == 0) {
      written.fetch_add(buffered_events, std::memory_order_relaxed);
    } else {
      const auto first = buffer.begin();
      const auto complete =
          static_cast<std::uint64_t>(std::count(first, first + static_cast<std::ptrdiff_t>(done), '\n'));
      const std::uint64_t lost = buffered_events - complete;
      if (done > 0 && buffer[done - 1] != '\n') line_open = true;
      written.fetch_add(complete, std::memory_order_relaxed);
      const std::uint64_t total = write_errors.fetch_add(lost, std::memory_order_relaxed) + lost;
      log.log(spdlog::level::err, "JsonlFileSink: writing to '" + options.path +
                                      "' failed: " + errno_text(err) + "; " +
                                      std::to_string(lost) + " event(s) lost (" +
                                      std::to_string(total) + " in total)");
    }
    buffer.clear();
    buffered_events = 0;
    return err == 0;
  }

  bool sync_locked() {
    if (!options.fsync || ::fsync(fd) == 0) return true;
    log.log(spdlog::level::err,
            "JsonlFileSink: fsync of '" + options.path + "' failed: " + errno_text(errno));
    return false;
  }

  const JsonlFileSinkOptions options;
  detail::TimedMutex mutex;
  int fd = -1;                    // -1 once closed
  std::string buffer;             // whole lines, each ending in '\n'
  std::uint64_t buffered_events = 0;
  bool line_open = false;         // the file ends in a partial line left by a failed write
  std::atomic<bool> running{true};
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> dropped{0};
  detail::RateLimitedLog log{"streamll.sinks.jsonl"};
};

JsonlFileSink::JsonlFileSink(JsonlFileSinkOptions options)
    : state_(std::make_unique<State>(std::move(options))) {
  const auto& o = state_->options;
  if (o.path.empty()) throw ConfigError("path", "is empty; give the file to write events to");
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (o.append ? 0 : O_TRUNC);
  int fd;
  do {
    fd = ::open(o.path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw ConfigError("path", "cannot open '" + o.path + "': " + errno_text(errno));
  state_->fd = fd;
  if (o.flush_policy == JsonlFlushPolicy::buffered) {
    state_->buffer.reserve(std::min<std::size_t>(o.buffer_bytes, 1 << 20) + 1024);
  }
}

JsonlFileSink::~JsonlFileSink() {
  try {
    shutdown(std::chrono::seconds(5));
  } catch (...) {
  }
}

void JsonlFileSink::handle(const Event& event) {
  State& s = *state_;
  if (!s.running.load(std::memory_order_relaxed)) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Serialize before taking the lock: concurrent threads only contend for the write itself.
  std::string line = to_json(event);
  if (line.empty()) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  line.push_back('\n');
  std::lock_guard<detail::TimedMutex> lock(s.mutex);
  if (s.fd < 0 || !s.running.load(std::memory_order_relaxed)) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++s.buffered_events;
  if (s.options.flush_policy == JsonlFlushPolicy::every_event) {
    s.buffer.swap(line);  // empty: every_event never leaves anything buffered
    s.write_out_locked();
    return;
  }
  s.buffer.append(line);
  if (s.buffer.size() >= s.options.buffer_bytes) s.write_out_locked();
}

bool JsonlFileSink::flush(std::chrono::milliseconds timeout) {
  State& s = *state_;
  std::unique_lock<detail::TimedMutex> lock(s.mutex, timeout);
  if (!lock.owns_lock()) return false;
  if (s.fd < 0) return true;
  const bool written = s.write_out_locked();
  return s.sync_locked() && written;
}

bool JsonlFileSink::shutdown(std::chrono::milliseconds timeout) {
  State& s = *state_;
  s.running = false;
  std::unique_lock<detail::TimedMutex> lock(s.mutex, timeout);
  if (!lock.owns_lock()) return false;
  if (s.fd < 0) return true;
  bool ok = s.write_out_locked();
  ok = s.sync_locked() && ok;
  if (::close(s.fd) != 0) {
    // Some file systems (NFS) report write errors only here.
    s.log.log(spdlog::level::err,
              "JsonlFileSink: closing '" + s.options.path + "' failed: " + errno_text(errno));
    ok = false;
  }
  s.fd = -1;
  return ok;
}

bool JsonlFileSink::is_running() const noexcept { return state_->running.load(); }
const std::string& JsonlFileSink::path() const noexcept { return state_->options.path; }
std::uint64_t JsonlFileSink::written() const noexcept { return state_->written.load(); }
std::uint64_t JsonlFileSink::write_errors() const noexcept { return state_->write_errors.load(); }
std::uint64_t JsonlFileSink::dropped() const noexcept { return state_->dropped.load(); }

}  // namespace streamll
