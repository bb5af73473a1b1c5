#include "streamll/sinks/jsonl_file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include "logging.hpp"
#include "pipeline/batching_sink_access.hpp"
#include "streamll/sinks/batching_sink.hpp"

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

// Events per write: enough to amortize a write(2) over a burst, few enough that a flush() or
// shutdown() waiting behind a burst is served soon.
constexpr std::size_t kMaxBatch = 256;

// What a JsonlExporter reports beyond its BatchingSink's counters. Shared with the sink, which
// reads it from any thread; the exporter (a flusher given up on at shutdown may outlive the
// sink) writes it.
struct BufferCounts {
  // Events settled as delivered (buffered) and lost when the buffer's write-out failed.
  std::atomic<std::uint64_t> lost_later{0};
  // Lines that reached the file. Counted where they are written: the pipeline's delivered
  // count also holds lines still in the buffer, and rises only after export_batch returns.
  std::atomic<std::uint64_t> written{0};
};

// The file side of a JsonlFileSink, on its BatchingSink's flusher: serializes events into
// whole lines and writes them, at once (every_event) or when the buffer fills (buffered). An
// event whose line fails to reach the file in the same call is failed; one that was buffered
// by an earlier call is counted in BufferCounts::lost_later. Never asks for a retry.
class JsonlExporter final : public Exporter {
 public:
  JsonlExporter(const JsonlFileSinkOptions& options, int fd, std::shared_ptr<BufferCounts> counts)
      : options_(options), fd_(fd), counts_(std::move(counts)) {
    if (options_.flush_policy == JsonlFlushPolicy::buffered) {
      buffer_.reserve(std::min<std::size_t>(options_.buffer_bytes, 1 << 20) + 1024);
    }
    appended_.reserve(kMaxBatch);
  }
  ~JsonlExporter() override {
    if (fd_ >= 0) ::close(fd_);
  }
  JsonlExporter(const JsonlExporter&) = delete;
  JsonlExporter& operator=(const JsonlExporter&) = delete;

  ExportResult export_batch(ExportBatch& batch) override {
    // Given up on, or closed: the pipeline drops what is not settled.
    if (batch.abandoned() || fd_ < 0) return ExportResult::retry_rest(0);
    appended_.clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const std::size_t before = buffer_.size();
      bool ok = append_json(batch[i], buffer_);  // restores `buffer_` when it fails
      if (ok) {
        try {
          buffer_.push_back('\n');
        } catch (...) {
          buffer_.resize(before);
          ok = false;
        }
      }
      if (ok) {
        appended_.push_back(i);  // reserved for a whole batch: cannot throw
      } else {
        batch.fail(i, "out of memory for its JSON");
      }
    }
    lines_ += appended_.size();
    if (options_.flush_policy == JsonlFlushPolicy::every_event ||
        buffer_.size() >= options_.buffer_bytes) {
      write_out(&batch);
    }
    return ExportResult::done();
  }

  bool flush(std::chrono::steady_clock::time_point) noexcept override {
    if (fd_ < 0) return true;
    const bool written = write_out(nullptr);
    return sync() && written;
  }

  bool close(std::chrono::steady_clock::time_point deadline) noexcept override {
    if (fd_ < 0) return true;
    bool ok = flush(deadline);
    if (::close(fd_) != 0) {
      // Some file systems (NFS) report write errors only here.
      const int err = errno;
      try {  // building the message may run out of memory
        log_.log(spdlog::level::err,
                 "JsonlFileSink: closing '" + options_.path + "' failed: " + errno_text(err));
      } catch (...) {
      }
      ok = false;
    }
    fd_ = -1;
    return ok;
  }

  std::uint64_t discard() noexcept override {
    const std::uint64_t held = lines_;
    buffer_.clear();
    lines_ = 0;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return held;
  }

  std::string name() const override { return "jsonl"; }

 private:
  // Writes the buffer out. On failure the lines that did not fully reach the file are lost
  // (those of `batch` failed in it, older ones counted as lost later) and the buffer is
  // emptied, so a full disk cannot grow memory. False when a write failed.
  bool write_out(ExportBatch* batch) noexcept {
    if (buffer_.empty()) return true;
    int err = 0;
    std::size_t done = 0;
    if (line_open_) {
      // A previous failure left a partial line: end it, so this batch parses line by line.
      err = write_all(fd_, "\n", 1, done);
      if (err == 0) line_open_ = false;
    }
    if (err == 0) err = write_all(fd_, buffer_.data(), buffer_.size(), done);
    if (err == 0) {
      counts_->written.fetch_add(lines_, std::memory_order_release);
    } else {
      const auto first = buffer_.begin();
      const auto complete = static_cast<std::uint64_t>(
          std::count(first, first + static_cast<std::ptrdiff_t>(done), '\n'));
      counts_->written.fetch_add(complete, std::memory_order_release);
      if (done > 0 && buffer_[done - 1] != '\n') line_open_ = true;
      const std::uint64_t lost = lines_ - complete;
      // The newest lines are this batch's; older ones were settled by an earlier call.
      const std::size_t mine = batch ? std::min<std::size_t>(lost, appended_.size()) : 0;
      std::string reason;
      try {
        reason = "writing to '" + options_.path + "' failed: " + errno_text(err);
      } catch (...) {
      }
      for (std::size_t k = appended_.size() - mine; k < appended_.size(); ++k) {
        batch->fail(appended_[k], reason);
      }
      if (lost > mine) counts_->lost_later.fetch_add(lost - mine, std::memory_order_release);
      total_lost_ += lost;
      try {  // building the message may run out of memory
        log_.log(spdlog::level::err, "JsonlFileSink: " + reason + "; " + std::to_string(lost) +
                                         " event(s) lost (" + std::to_string(total_lost_) +
                                         " in total)");
      } catch (...) {
      }
    }
    buffer_.clear();
    lines_ = 0;
    return err == 0;
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

  // A copy: a flusher given up on at shutdown may outlive the sink.
  const JsonlFileSinkOptions options_;
  int fd_;              // -1 once closed
  std::string buffer_;  // whole lines, each ending in '\n'
  std::uint64_t lines_ = 0;
  std::vector<std::size_t> appended_;  // this batch's events whose line is in buffer_
  bool line_open_ = false;             // the file ends in a partial line left by a failed write
  std::uint64_t total_lost_ = 0;
  const std::shared_ptr<BufferCounts> counts_;
  detail::RateLimitedLog log_{"streamll.sinks.jsonl"};
};

BatchingSinkOptions pipeline_options(const JsonlFileSinkOptions& options) {
  BatchingSinkOptions o;
  o.buffer_size = options.queue_size;
  // A full queue refuses the new event and keeps the older ones, so the file is in emission
  // order with gaps at most.
  o.overflow = OverflowStrategy::drop_newest;
  o.max_batch_size = kMaxBatch;
  o.retry.circuit_breaker = false;  // never asked to retry
  o.logger = "streamll.sinks.jsonl";
  o.redact = options.redact;
  return o;
}

}  // namespace

struct JsonlFileSink::State {
  State(JsonlFileSinkOptions o, std::unique_ptr<Exporter> exporter,
        std::shared_ptr<BufferCounts> buffer_counts)
      : options(std::move(o)),
        counts(std::move(buffer_counts)),
        writer(detail::BatchingSinkAccess::make(std::move(exporter), pipeline_options(options),
                                                tuning(options, counts))) {}

  static detail::PipelineTuning tuning(const JsonlFileSinkOptions& options,
                                       const std::shared_ptr<BufferCounts>& counts) {
    detail::PipelineTuning t;
    t.log_name = "JsonlFileSink '" + options.path + "'";
    t.buffer_size_option = "queue_size";
    t.late_losses = [counts] { return counts->lost_later.load(std::memory_order_acquire); };
    return t;
  }

  const JsonlFileSinkOptions options;
  const std::shared_ptr<BufferCounts> counts;
  BatchingSink writer;
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
  std::unique_ptr<Exporter> exporter;
  auto counts = std::make_shared<BufferCounts>();
  try {
    exporter = std::make_unique<JsonlExporter>(options, fd, counts);
  } catch (...) {
    ::close(fd);  // the exporter owns the descriptor only once it exists
    throw;
  }
  state_ = std::make_unique<State>(std::move(options), std::move(exporter), std::move(counts));
}

JsonlFileSink::~JsonlFileSink() {
  try {
    shutdown(std::chrono::seconds(5));
  } catch (...) {
  }
}

void JsonlFileSink::handle(const Event& event) { state_->writer.handle(event); }
void JsonlFileSink::handle_owned(Event&& event) { state_->writer.handle_owned(std::move(event)); }

bool JsonlFileSink::flush(std::chrono::milliseconds timeout) {
  return state_->writer.flush(timeout);
}

bool JsonlFileSink::shutdown(std::chrono::milliseconds timeout) {
  return state_->writer.shutdown(timeout);
}

bool JsonlFileSink::is_running() const noexcept { return state_->writer.is_running(); }
const std::string& JsonlFileSink::path() const noexcept { return state_->options.path; }
std::uint64_t JsonlFileSink::written() const noexcept {
  return state_->counts->written.load(std::memory_order_acquire);
}
std::uint64_t JsonlFileSink::write_errors() const noexcept {
  return state_->writer.stats().failed + state_->counts->lost_later.load(std::memory_order_acquire);
}
std::uint64_t JsonlFileSink::dropped() const noexcept { return state_->writer.stats().dropped(); }
std::uint64_t JsonlFileSink::redaction_failures() const noexcept {
  return state_->writer.stats().redaction_failures;
}

}  // namespace streamll
