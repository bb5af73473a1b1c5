// The CLI's error reporting: the JSON error object printed for --json names the exit status the
// process really ends with, after a command's own mapping of codes.

#include <catch2/catch.hpp>

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "cli/common.hpp"

namespace {

// Captures std::cout and std::cerr while alive.
class CapturedOutput {
 public:
  CapturedOutput()
      : out_(std::cout.rdbuf(stdout_.rdbuf())), err_(std::cerr.rdbuf(stderr_.rdbuf())) {}
  ~CapturedOutput() {
    std::cout.rdbuf(out_);
    std::cerr.rdbuf(err_);
  }
  std::string out() const { return stdout_.str(); }

 private:
  std::ostringstream stdout_;
  std::ostringstream stderr_;
  std::streambuf* out_;
  std::streambuf* err_;
};

}  // namespace

TEST_CASE("guarded prints the exit code its mapping returns in the JSON error", "[cli]") {
  const bool json = true;
  std::string printed;
  int code = 0;
  {
    CapturedOutput capture;
    code = streamll::cli::guarded(
        "health", []() -> int { throw std::runtime_error("something unexpected"); }, &json,
        [](int c) { return c == 1 ? 2 : c; });
    printed = capture.out();
  }
  CHECK(code == 2);
  const auto j = nlohmann::json::parse(printed);
  CHECK(j["error"]["exit_code"] == 2);
  CHECK(j["error"]["kind"] == "unreachable");
}

TEST_CASE("json_requested finds --json before the arguments are parsed", "[cli]") {
  char prog[] = "streamll", cmd[] = "stats", since[] = "--since", soon[] = "soon",
       flag[] = "--json";
  char* with[] = {prog, cmd, since, soon, flag, nullptr};
  char* without[] = {prog, cmd, since, soon, nullptr};
  CHECK(streamll::cli::json_requested(5, with, 2));
  CHECK_FALSE(streamll::cli::json_requested(4, without, 2));
}
