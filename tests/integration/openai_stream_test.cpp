// examples/openai_stream against examples/openai_stream/replay_server.py: a recorded streaming
// chat completion replayed over HTTP on loopback, with writes split mid-line and delayed. The
// events the example writes (JSONL, read back with nlohmann) must hold every streamed token and
// an llm_call event with the final chunk's usage; a server error, a redirect, a refused
// connection, a stream cut short, an error chunk and a chunk that is not JSON must each give an
// error event and a failed llm_call. The example runs with neither the test's STREAMLL_*
// variables nor its OpenAI key.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "eventually.hpp"
#include "subprocess.hpp"

#ifdef STREAMLL_OPENAI_STREAM_PATH

namespace {

using streamll::test::read_text_file;

const std::string kDir = STREAMLL_OPENAI_STREAM_DIR;

// A file name of this test process: concurrent runs (ctest -j, two build trees) do not share.
std::string temp_file(const std::string& stem) {
  return "/tmp/openai_stream_test_" + std::to_string(::getpid()) + "_" + stem;
}

// A started process, stopped (SIGTERM, then waited for) when this goes out of scope.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess() {
    ::kill(pid_, SIGTERM);
    streamll::test::wait_process(pid_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

 private:
  pid_t pid_;
};

// The replay server for one fixture, on a port it chose; stopped when the test ends, or when
// its start fails a REQUIRE (the process is a member, built before the checks).
class ReplayServer {
 public:
  ReplayServer(const std::string& fixture, const std::string& name)
      : output_(temp_file(name + ".replay_out")),
        requests_(temp_file(name + ".requests")),
        process_(start(fixture, output_, requests_)) {
    const std::string marker = "listening on 127.0.0.1:";
    REQUIRE(streamll::testing::eventually(
        [&] { return read_text_file(output_).find('\n') != std::string::npos; }));
    const std::string printed = read_text_file(output_);
    INFO(printed);
    REQUIRE(printed.rfind(marker, 0) == 0);
    port_ = std::stoi(printed.substr(marker.size()));
  }
  ~ReplayServer() {
    std::remove(output_.c_str());
    std::remove(requests_.c_str());
  }
  ReplayServer(const ReplayServer&) = delete;
  ReplayServer& operator=(const ReplayServer&) = delete;

  // With the API version, as OPENAI_BASE_URL is written for the OpenAI SDKs.
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(requests_);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  static pid_t start(const std::string& fixture, const std::string& output,
                     const std::string& requests) {
    std::remove(output.c_str());
    std::remove(requests.c_str());
    return streamll::test::spawn_process({STREAMLL_REPLAY_PYTHON, kDir + "/replay_server.py",
                                          kDir + "/fixtures/" + fixture, "--request-log", requests},
                                         output);
  }

  std::string output_;
  std::string requests_;
  ChildProcess process_;
  int port_ = 0;
};

struct Run {
  int exit_code = -1;
  std::string printed;
  std::vector<nlohmann::json> events;

  std::vector<nlohmann::json> of_type(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events) {
      if (e.at("event_type") == type) out.push_back(e);
    }
    return out;
  }
  const nlohmann::json& only(const std::string& type) const {
    const nlohmann::json* found = nullptr;
    for (const auto& e : events) {
      if (e.at("event_type") == type) {
        REQUIRE(found == nullptr);
        found = &e;
      }
    }
    REQUIRE(found != nullptr);
    return *found;
  }
};

// A failed call: exit status 1, one error event and one failed llm_call of `error_type`.
// Returns the llm_call event's data.
const nlohmann::json& failed_call(const Run& run, const std::string& error_type) {
  INFO(run.printed);
  CHECK(run.exit_code == 1);
  CHECK(run.only("error").at("data").at("error_type") == error_type);
  const auto& call = run.only("llm_call").at("data");
  CHECK(call.at("success") == false);
  CHECK(call.at("error_type") == error_type);
  return call;
}

// Runs the example with the test's STREAMLL_* and OPENAI_* variables removed from its
// environment (env -u) and no key, so that what the developer or CI exported cannot change it.
Run run_example(const std::string& base_url, const std::string& name,
                std::vector<std::string> extra = {}, const std::string& timeout_ms = "20000",
                const std::vector<std::string>& environment = {}) {
  const std::string jsonl = temp_file(name + ".jsonl");
  const std::string log = temp_file(name + ".log");
  std::vector<std::string> args = {"env"};
  for (char** variable = environ; *variable != nullptr; ++variable) {
    const std::string entry = *variable;
    const std::string key = entry.substr(0, entry.find('='));
    if (key.rfind("STREAMLL_", 0) == 0 || key.rfind("OPENAI_", 0) == 0) {
      args.insert(args.end(), {"-u", key});
    }
  }
  args.insert(args.end(), environment.begin(), environment.end());  // NAME=VALUE for env
  args.insert(args.end(), {STREAMLL_OPENAI_STREAM_PATH, "--base-url", base_url, "--api-key", "",
                           "--jsonl", jsonl, "--timeout-ms", timeout_ms});
  args.insert(args.end(), extra.begin(), extra.end());
  Run run;
  run.exit_code = streamll::test::run_bounded(args, 60, log);
  run.printed = read_text_file(log);
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) run.events.push_back(nlohmann::json::parse(line));
  std::remove(jsonl.c_str());
  std::remove(log.c_str());
  return run;
}

// A loopback port the kernel handed out, kept bound but not listening while this lives: a
// connection to it is refused (Linux answers with a reset), and no other process can take it.
class RefusingPort {
 public:
  RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("openai stream: a replayed stream gives its tokens and the final chunk's usage",
          "[openai_stream]") {
  ReplayServer server("chat_stream.json", "ok");
  const Run run = run_example(server.base_url(), "ok", {"--model", "o4-mini"});
  INFO(run.printed);
  REQUIRE(run.exit_code == 0);
  const std::string answer =
      "Retrieval-augmented generation grounds answers in documents fetched at query time.";
  CHECK(run.printed.find(answer) != std::string::npos);

  // What the client sent: a streamed request that asks for usage.
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].at("model") == "o4-mini");
  CHECK(requests[0].at("stream") == true);
  CHECK(requests[0].at("stream_options").at("include_usage") == true);
  CHECK(requests[0].at("messages").at(0).at("role") == "user");

  // Every content delta one token event, in order, whatever the framing they arrived in.
  const auto tokens = run.of_type("token");
  REQUIRE(tokens.size() == 12);
  std::string streamed;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    CHECK(tokens[i].at("data").at("index") == i);
    streamed += tokens[i].at("data").at("token").get<std::string>();
  }
  CHECK(streamed == answer);

  const auto& call = run.only("llm_call");
  const auto& data = call.at("data");
  CHECK(data.at("model") == "o4-mini");
  CHECK(data.at("provider") == "openai");
  CHECK(data.at("response_model") == "o4-mini-2025-04-16");
  CHECK(data.at("response_id") == "chatcmpl-BzX3kQ9fT2rLmN8vWc4yHd7Ep1Ra");
  CHECK(data.at("input_tokens") == 1187);
  CHECK(data.at("output_tokens") == 204);
  CHECK(data.at("tokens_used") == 1391);
  CHECK(data.at("cached_input_tokens") == 1024);
  CHECK(data.at("reasoning_tokens") == 192);
  CHECK(data.at("finish_reason") == "stop");
  CHECK(data.at("success") == true);
  // The first content delta comes after the fixture's 160 ms of delays.
  REQUIRE(data.contains("ttft_ms"));
  CHECK(data.at("ttft_ms").get<double>() >= 150.0);
  CHECK(data.at("response_time_ms").get<double>() >= data.at("ttft_ms").get<double>());
  CHECK(data.contains("inter_token_ms_p50"));

  // One execution: the span, and the call as its leaf with the tokens.
  const auto& start = run.only("start");
  CHECK(start.at("operation") == "chat_completion");
  CHECK(call.at("parent_span_id") == start.at("span_id"));
  for (const auto& token : tokens) CHECK(token.at("span_id") == call.at("span_id"));
  for (const auto& e : run.events) CHECK(e.at("execution_id") == start.at("execution_id"));
  CHECK(run.only("end").at("data").at("success") == true);
  CHECK(run.of_type("error").empty());
}

TEST_CASE("openai stream: an HTTP 500 fails the call with the server's message",
          "[openai_stream]") {
  ReplayServer server("chat_error_500.json", "500");
  // A trailing '/' on the base URL is dropped, not doubled into the path.
  const Run run = run_example(server.base_url() + "/", "500");
  INFO(run.printed);
  CHECK(run.exit_code == 1);
  const auto& error = run.only("error").at("data");
  CHECK(error.at("error_type") == "http_500");
  CHECK(error.at("error_message").get<std::string>().find("The server had an error") !=
        std::string::npos);
  CHECK(error.at("model") == "gpt-4o-mini");
  const auto& call = run.only("llm_call").at("data");
  CHECK(call.at("success") == false);
  CHECK(call.at("error_type") == "http_500");
  CHECK_FALSE(call.contains("ttft_ms"));
  CHECK(run.of_type("token").empty());
  CHECK(run.only("end").at("data").at("success") == false);
  CHECK(server.requests().size() == 1);  // it reached /v1/chat/completions
}

TEST_CASE("openai stream: a redirect fails the call as http_307", "[openai_stream]") {
  ReplayServer server("chat_redirect_307.json", "307");
  const Run run = run_example(server.base_url(), "307");
  failed_call(run, "http_307");
  CHECK(run.of_type("token").empty());
}

TEST_CASE("openai stream: a refused connection fails the call", "[openai_stream]") {
  const RefusingPort refusing;
  const Run run =
      run_example("http://127.0.0.1:" + std::to_string(refusing.port()) + "/v1", "refused");
  CHECK(failed_call(run, "connection_error").at("tokens_used") == 0);
}

TEST_CASE("openai stream: a stream cut before [DONE] fails the call and keeps its tokens",
          "[openai_stream]") {
  ReplayServer server("chat_truncated.json", "truncated");
  const Run run = run_example(server.base_url(), "truncated");
  const auto& call = failed_call(run, "incomplete_stream");
  CHECK(run.of_type("token").size() == 3);
  CHECK(call.at("tokens_used") == 3);
  CHECK(call.contains("ttft_ms"));
}

TEST_CASE("openai stream: an error chunk mid-stream fails the call with its message",
          "[openai_stream]") {
  ReplayServer server("chat_stream_error.json", "stream_error");
  const Run run = run_example(server.base_url(), "stream_error");
  const auto& call = failed_call(run, "stream_error");
  INFO(run.printed);
  CHECK(run.only("error").at("data").at("error_message") == "The model produced invalid content.");
  // The deltas before it stay, the heartbeat between them is no failure, none after is read.
  const auto tokens = run.of_type("token");
  REQUIRE(tokens.size() == 2);
  CHECK(tokens[0].at("data").at("token") == "Retrieval");
  CHECK(tokens[1].at("data").at("token") == "-augmented");
  CHECK(call.at("tokens_used") == 2);
}

TEST_CASE("openai stream: a chunk that is not JSON fails the call as invalid_chunk",
          "[openai_stream]") {
  ReplayServer server("chat_invalid_chunk.json", "invalid_chunk");
  const Run run = run_example(server.base_url(), "invalid_chunk");
  failed_call(run, "invalid_chunk");
  INFO(run.printed);
  CHECK(
      run.only("error").at("data").at("error_message").get<std::string>().find("502 Bad Gateway") !=
      std::string::npos);
  CHECK(run.of_type("token").size() == 1);

  // With content capture off neither the chunk nor the token text leaves: its size only.
  ReplayServer quiet_server("chat_invalid_chunk.json", "invalid_chunk_quiet");
  const Run quiet = run_example(quiet_server.base_url(), "invalid_chunk_quiet", {}, "20000",
                                {"STREAMLL_CAPTURE_CONTENT=0"});
  failed_call(quiet, "invalid_chunk");
  const std::string message = quiet.only("error").at("data").at("error_message");
  CHECK(message.find("502 Bad Gateway") == std::string::npos);
  CHECK_THAT(message, Catch::Contains("bytes (content capture is off)"));
  REQUIRE(quiet.of_type("token").size() == 1);
  CHECK_FALSE(quiet.of_type("token")[0].at("data").contains("token"));
}

TEST_CASE("openai stream: the call ends at [DONE] though the server keeps the stream open",
          "[openai_stream]") {
  ReplayServer server("chat_open_after_done.json", "open_after_done");
  // The server holds the response open for 60 s after [DONE]: waiting for its end would time out.
  const auto start = std::chrono::steady_clock::now();
  const Run run = run_example(server.base_url(), "open_after_done", {}, "10000");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  INFO(run.printed);
  CHECK(run.exit_code == 0);
  CHECK(run.of_type("error").empty());
  CHECK(run.of_type("token").size() == 2);
  const auto& call = run.only("llm_call").at("data");
  CHECK(call.at("success") == true);
  CHECK(call.at("tokens_used") == 14);
  CHECK(elapsed < std::chrono::seconds(10));
}

#endif
