// fork(): what a child inherits from a multi-threaded parent. A development sink's writer
// thread does not exist in the child, so its copy counts what it is handed and never waits;
// the default instrumentor's slot is never inherited locked. Real forks of this test process;
// children report through their exit status and leave with _exit (no Catch2 there).

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "eventually.hpp"
#include "fork_safe_time.hpp"
#include "logging.hpp"
#include "sanitizers.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A child that does not exit within 5 s is killed and reported as hung (-1).
int wait_bounded(pid_t pid) {
  int status = 0;
  bool failed = false;
  const bool ended = streamll::testing::eventually(
      [&] {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        failed = done < 0 && errno != EINTR;
        return done == pid || failed;
      },
      5s);
  if (failed) return -2;
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

streamll::Event tick(int i) {
  auto ctx = std::make_shared<streamll::EventContext>();
  ctx->execution_id = "exec_0000000000000010";
  ctx->operation = "worker";
  return streamll::Event::capture(streamll::EventType::custom, ctx, {{"i", i}}, "tick");
}

std::size_t line_count(const std::string& path) {
  std::ifstream in(path);
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// ThreadSanitizer sleeps atexit_sleep_ms (1 s by default) in every exiting process.
#ifdef STREAMLL_TEST_TSAN
constexpr std::chrono::milliseconds kExitOverhead{1000};
#else
constexpr std::chrono::milliseconds kExitOverhead{0};
#endif

bool within(Clock::time_point start, std::chrono::milliseconds limit) {
  return Clock::now() - start < limit;
}

// Child side: hands `sink` three events, then shuts it down and destroys it. Exit codes say
// which promise broke.
template <typename SinkT>
int child_drops_and_returns(std::unique_ptr<SinkT>& sink, std::uint64_t dropped_before) {
  for (int i = 100; i < 103; ++i) sink->handle(tick(i));
  if (sink->is_running()) return 10;
  if (sink->dropped() != dropped_before + 3) return 11;
  auto start = Clock::now();
  const bool flushed = sink->flush(2s);
  const bool shut_down = sink->shutdown(2s);
  if (!within(start, 100ms)) return 12;  // waited for a writer that does not exist
  if (flushed || shut_down) return 13;   // must say that events were dropped
  start = Clock::now();
  sink.reset();
  if (!within(start, 100ms)) return 14;
  return 0;
}

}  // namespace

TEST_CASE("a forked child's JsonlFileSink and TerminalSink drop and count and never wait",
          "[fork][sinks]") {
  const auto path = (std::filesystem::temp_directory_path() /
                     ("streamll_fork_" + std::to_string(::getpid()) + ".jsonl"))
                        .string();
  std::filesystem::remove(path);
  std::ostringstream terminal_text;
  streamll::TerminalSinkOptions terminal_options;
  terminal_options.output = &terminal_text;
  auto terminal = std::make_unique<streamll::TerminalSink>(terminal_options);
  streamll::JsonlFileSinkOptions jsonl_options;
  jsonl_options.path = path;
  auto jsonl = std::make_unique<streamll::JsonlFileSink>(jsonl_options);
  for (int i = 0; i < 5; ++i) {
    jsonl->handle(tick(i));
    terminal->handle(tick(i));
  }
  REQUIRE(jsonl->flush(5s));
  REQUIRE(terminal->flush(5s));
  REQUIRE(line_count(path) == 5);
  const std::size_t terminal_size = terminal_text.str().size();

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = child_drops_and_returns(jsonl, 0);
    if (code == 0) code = child_drops_and_returns(terminal, 0);
    if (code == 0 && line_count(path) != 5) code = 15;  // nothing the child was handed is written
    ::_exit(code);
  }
  CHECK(wait_bounded(child) == 0);

  // The parent's sinks are untouched by the child's exit.
  for (int i = 5; i < 8; ++i) {
    jsonl->handle(tick(i));
    terminal->handle(tick(i));
  }
  CHECK(jsonl->flush(5s));
  CHECK(terminal->flush(5s));
  CHECK(jsonl->written() == 8);
  CHECK(terminal->written() == 8);
  CHECK(jsonl->dropped() == 0);
  CHECK(line_count(path) == 8);
  CHECK(terminal_text.str().size() > terminal_size);
  CHECK(jsonl->shutdown(5s));
  CHECK(terminal->shutdown(5s));
  std::filesystem::remove(path);
}

TEST_CASE("a forked child's exit with a configured TerminalSink is not held up", "[fork][sinks]") {
  // What a child inherits when it simply exits: the exit handlers shut the default
  // instrumentor's sinks down, which must not wait for the parent's writer thread.
  std::ostringstream terminal_text;
  streamll::TerminalSinkOptions terminal_options;
  terminal_options.output = &terminal_text;
  streamll::InstrumentorOptions options;
  options.sinks.push_back(std::make_shared<streamll::TerminalSink>(terminal_options));
  streamll::configure(std::move(options));
  { streamll::Span span("parent_op"); }

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    { streamll::Span span("child_op"); }
    const auto start = Clock::now();
    streamll::configure({});  // what the docs tell a child to do: replaces the inherited sinks
    streamll::shutdown(2s);
    ::_exit(within(start, 100ms) ? 0 : 20);
  }
  CHECK(wait_bounded(child) == 0);

  // A child that just exits: the inherited exit handler shuts the inherited sink down.
  const auto start = Clock::now();
  const pid_t exiting = ::fork();
  REQUIRE(exiting >= 0);
  if (exiting == 0) {
    { streamll::Span span("child_op"); }
    std::exit(0);
  }
  CHECK(wait_bounded(exiting) == 0);
  // A writer waited for would take the whole 2 s exit budget.
  CHECK(within(start, 1000ms + kExitOverhead));
  // Shut down here, not at the reaper later: it writes to terminal_text, on this stack.
  CHECK(streamll::shutdown(5s));
  streamll::configure({});
}

// Run alone, as ctest runs it, its first forks also come while the churning thread's first
// configure() builds the slot: a child then hung on that static's guard until the slot was
// built at load. Not under a sanitizer: their allocators' locks are not known to be guarded across
// fork(), and a child forked while the churning thread allocates was seen to hang or fail (once in
// a full ASan run; 1 in 8 runs under clang's ThreadSanitizer), which is not what this test is
// about. The plain build keeps it.
#if !defined(STREAMLL_TEST_ASAN) && !defined(STREAMLL_TEST_TSAN)
TEST_CASE("a fork while another thread reconfigures never leaves the child's slot locked",
          "[fork][instrumentor]") {
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      streamll::configure({});
      // Mostly inside the slot's lock, so that forks often find it held.
      for (int i = 0; i < 100; ++i) (void)streamll::default_instrumentor();
    }
  });
  int hung_or_failed = 0;
  for (int i = 0; i < 50; ++i) {
    const pid_t child = ::fork();
    if (child == 0) {
      (void)streamll::default_instrumentor();
      { streamll::Span span("child_root"); }
      ::_exit(0);
    }
    if (child < 0 || wait_bounded(child) != 0) {
      ++hung_or_failed;
      break;  // each hung child costs the whole 5 s wait
    }
  }
  stop.store(true);
  churn.join();
  CHECK(hung_or_failed == 0);
  streamll::configure({});
}
#endif

// What a child that should report does (docs/design.md): configure() its own sinks. The first
// configure() of a process builds statics (spdlog's registry, the reaper) whose guards a child
// forked meanwhile inherited held, and its own configure() waited on them forever (about half
// the trials hung). They are built at load now, or under a lock fork() waits for. Each trial is
// a fresh child of this process, so that its first configure() is its first indeed: ctest runs
// this case in a process of its own (after other cases in one process, it proves less).
#if !defined(STREAMLL_TEST_ASAN) && !defined(STREAMLL_TEST_TSAN)  // as above
TEST_CASE("a fork during another thread's first configure leaves the child able to configure",
          "[fork][instrumentor]") {
  int hung_or_failed = 0;
  for (int trial = 0; trial < 100 && hung_or_failed == 0; ++trial) {
    const pid_t process = ::fork();
    REQUIRE(process >= 0);
    if (process == 0) {
      std::thread first([] { streamll::configure({}); });
      const pid_t child = ::fork();
      if (child == 0) {
        ::alarm(3);  // a hung child ends by SIGALRM
        streamll::configure({});
        { streamll::Span span("child_root"); }
        ::_exit(0);
      }
      int status = 0;
      const bool ok = child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) &&
                      WEXITSTATUS(status) == 0;
      first.join();
      ::_exit(ok ? 0 : 1);
    }
    if (wait_bounded(process) != 0) ++hung_or_failed;
  }
  CHECK(hung_or_failed == 0);
}
#endif

// glibc converts times under a lock fork() does not reset. streamll's threads convert under a
// lock of their own that fork() waits for (fork_safe_time.hpp): the TerminalSink's renderer
// per event, and log lines' timestamps. A child's first conversion must not hang however
// often those threads convert. Without the guard, most of these forks hung.
TEST_CASE("a fork never catches streamll's threads converting a time", "[fork]") {
  std::atomic<bool> stop{false};
  std::thread renderer([&] {
    std::tm tm{};
    for (std::time_t t = 0; !stop.load(std::memory_order_relaxed); t += 3600) {
      (void)streamll::detail::calendar_time(t, false, tm);
    }
  });
  std::thread log_lines([&] {
    const auto formatter = streamll::detail::fork_safe_log_formatter();
    spdlog::memory_buf_t line;
    auto when = spdlog::log_clock::now();
    while (!stop.load(std::memory_order_relaxed)) {
      when += std::chrono::seconds(1);  // a new second: the pattern converts again
      const spdlog::details::log_msg msg(when, {}, "streamll.fork", spdlog::level::warn, "x");
      line.clear();
      formatter->format(msg, line);
    }
  });
  int hung_or_failed = 0;
  for (int i = 0; i < 50; ++i) {
    const pid_t child = ::fork();
    if (child == 0) {
      const std::time_t now = std::time(nullptr);
      std::tm local{};
      ::_exit(::localtime_r(&now, &local) != nullptr ? 0 : 3);
    }
    if (child < 0 || wait_bounded(child) != 0) {
      ++hung_or_failed;
      break;  // each hung child costs the whole 5 s wait
    }
  }
  stop.store(true);
  renderer.join();
  log_lines.join();
  CHECK(hung_or_failed == 0);
}

namespace {

// Points this process's stderr at `path` until destroyed.
class StderrRedirect {
 public:
  explicit StderrRedirect(const char* path)
      : saved_(::dup(2)), target_(::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) {
    if (saved_ >= 0 && target_ >= 0) ::dup2(target_, 2);
  }
  ~StderrRedirect() {
    if (saved_ >= 0) ::dup2(saved_, 2);
    if (saved_ >= 0) ::close(saved_);
    if (target_ >= 0) ::close(target_);
  }
  StderrRedirect(const StderrRedirect&) = delete;
  StderrRedirect& operator=(const StderrRedirect&) = delete;
  bool ok() const { return saved_ >= 0 && target_ >= 0; }

 private:
  int saved_;
  int target_;
};

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

enum class ParentLines { through_one_logger, each_looked_up };

// Forks 50 children while another thread writes log lines through the streamll logger
// `name` (each in a new second, so that each converts its timestamp), after `before_forks`;
// with `each_looked_up`, it looks the logger up before every line, as streamll's rate-limited
// warnings do. Each child writes one line to a file of its own and exits. Returns the first
// child's failure: "hung", its exit status, or a line not in streamll's format; empty when all
// passed.
template <typename BeforeForks>
std::string fork_while_logging(const std::string& name, BeforeForks before_forks,
                               ParentLines parent_lines = ParentLines::through_one_logger) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto child_path =
      (dir / ("streamll_fork_log_" + std::to_string(::getpid()) + ".txt")).string();
  // Made while stderr is a file, so that its lines carry no color codes.
  StderrRedirect quiet("/dev/null");
  if (!quiet.ok()) return "stderr not redirected";
  auto logger = streamll::detail::get_logger(name);
  if (!logger) return "no logger";
  before_forks();

  std::atomic<bool> stop{false};
  std::thread lines([&] {
    auto when = spdlog::log_clock::now();
    while (!stop.load(std::memory_order_relaxed)) {
      when += std::chrono::seconds(1);
      auto line_logger = logger;
      if (parent_lines == ParentLines::each_looked_up) {
        // Mostly looking up, so that forks often find a lookup under way.
        for (int i = 0; i < 20; ++i) line_logger = streamll::detail::get_logger(name);
      }
      line_logger->log(when, {}, spdlog::level::warn, "parent line");
    }
  });
  const std::regex streamll_line(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[)" + name +
                                 R"(\] \[warning\] child line \d+\n)");
  std::string failure;
  for (int i = 0; i < 50 && failure.empty(); ++i) {
    const pid_t child = ::fork();
    if (child == 0) {
      const int fd = ::open(child_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0 || ::dup2(fd, 2) < 0) ::_exit(30);
      auto own = streamll::detail::get_logger(name);
      if (!own) ::_exit(31);
      own->warn("child line {}", i);
      own->flush();
      ::_exit(0);
    }
    const int status = child < 0 ? -2 : wait_bounded(child);
    if (status == -1) {
      failure = "hung";
    } else if (status != 0) {
      failure = "exit status " + std::to_string(status);
    } else if (const auto text = file_text(child_path); !std::regex_match(text, streamll_line)) {
      failure = "child wrote: " + text;
    }
  }
  stop.store(true);
  lines.join();
  std::filesystem::remove(child_path);
  return failure;
}

}  // namespace

// spdlog's console sinks write under one process-wide mutex (streamll's loggers use one). A
// child forked while another thread was writing a line inherited it held and hung in its
// first line; it is taken around fork() with the time lock. Without that, most forks hung.
TEST_CASE("a fork while another thread writes log lines leaves the child able to log",
          "[fork][log]") {
  CHECK(fork_while_logging("streamll.fork_test.lines", [] {}) == "");
}

// streamll looks its loggers up under a lock of its own, with spdlog's registry lock inside
// it, and a sink's thread does so for each warning. A child forked during a lookup inherited
// that lock held and hung in its first line; it is taken around fork() with the console lock.
TEST_CASE("a fork while another thread looks up loggers leaves the child able to log",
          "[fork][log]") {
  CHECK(fork_while_logging(
            "streamll.fork_test.lookups", [] {}, ParentLines::each_looked_up) == "");
}

// An application's spdlog::set_pattern() reaches every registered logger's sinks. streamll's
// keep their own formatter, which converts times under the fork-guarded time lock; without
// that the child's line came in the application's pattern.
TEST_CASE("a fork after the application set a pattern leaves the child able to log",
          "[fork][log]") {
  struct DefaultPatternAfter {
    ~DefaultPatternAfter() { spdlog::set_pattern("%+"); }
  } restore;
  CHECK(fork_while_logging("streamll.fork_test.pattern",
                           [] { spdlog::set_pattern("app %H:%M:%S %v"); }) == "");
}
