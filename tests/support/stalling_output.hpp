#pragma once
// Outputs that stall, for testing that the development sinks never make the application wait:
// a stream buffer with a gate (a terminal paused with Ctrl-S), a stream buffer over a file
// descriptor (for real pipes nobody reads), and a way to run a call that might hang without
// hanging the test.
//
// Waiting is always for a condition with a generous deadline, never for a fixed time.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <streambuf>
#include <string>
#include <thread>

namespace streamll::testing {

/// Generous: on a loaded two-core machine under ThreadSanitizer, work that normally takes
/// microseconds can take seconds. Only a failing test ever waits this long.
inline constexpr std::chrono::seconds kPatience{30};

/// Keeps what is written to it, except that while its gate is closed every write blocks until
/// the gate opens. Thread-safe.
class GateStreambuf : public std::streambuf {
 public:
  explicit GateStreambuf(bool open) : open_(open) {}

  void open_gate() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }

  /// Waits until a write is blocked at the closed gate; false after `timeout`.
  bool wait_until_blocked(std::chrono::milliseconds timeout = kPatience) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return blocked_ > 0; });
  }

  /// Writes blocked at the gate right now.
  int blocked() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocked_;
  }

  std::string str() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::unique_lock<std::mutex> lock(mutex_);
    pass_gate(lock);
    text_.append(s, static_cast<std::size_t>(n));
    return n;
  }

  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    std::unique_lock<std::mutex> lock(mutex_);
    pass_gate(lock);
    text_.push_back(traits_type::to_char_type(c));
    return c;
  }

 private:
  void pass_gate(std::unique_lock<std::mutex>& lock) {
    if (open_) return;
    ++blocked_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    --blocked_;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool open_;
  int blocked_ = 0;
  std::string text_;
};

/// Unbuffered: every write goes straight to write(2) on the descriptor (not owned), and blocks
/// when the descriptor does.
class FdStreambuf : public std::streambuf {
 public:
  explicit FdStreambuf(int fd) : fd_(fd) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::streamsize done = 0;
    while (done < n) {
      const ssize_t w = ::write(fd_, s + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += w;
    }
    return done;
  }

  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  int fd_;
};

/// Writes newlines into the pipe's write end until it is full. Leaves the descriptor blocking.
/// Returns how many bytes it took.
inline std::size_t fill_pipe(int write_fd) {
  const int flags = ::fcntl(write_fd, F_GETFL);
  ::fcntl(write_fd, F_SETFL, flags | O_NONBLOCK);
  const std::string chunk(4096, '\n');
  std::size_t total = 0;
  while (true) {
    const ssize_t n = ::write(write_fd, chunk.data(), chunk.size());
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: no room for a whole chunk
  }
  // Writes of 4096 bytes are all or nothing (PIPE_BUF): top up whatever room is left.
  while (::write(write_fd, "\n", 1) == 1) ++total;
  ::fcntl(write_fd, F_SETFL, flags & ~O_NONBLOCK);
  return total;
}

/// Runs `work` on another thread and waits up to `timeout` for it. When it has not finished by
/// then, runs `unstick` (which must make it finish). Joins the thread either way; true when
/// `work` finished in time. `work` must not use Catch2 assertions (they are not thread-safe).
template <typename Work, typename Unstick>
bool finishes_within(std::chrono::milliseconds timeout, Work&& work, Unstick&& unstick) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::thread worker([&] {
    work();
    done.set_value();
  });
  const bool in_time = finished.wait_for(timeout) == std::future_status::ready;
  if (!in_time) unstick();
  worker.join();
  return in_time;
}

}  // namespace streamll::testing
