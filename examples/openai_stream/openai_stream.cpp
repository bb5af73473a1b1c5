// A streaming chat completion from an OpenAI-compatible server (OpenAI, vLLM, llama.cpp's
// server, ...), recorded with streamll: POST /v1/chat/completions with "stream": true over
// libcurl, the server-sent events parsed as they arrive (sse_parser.hpp), each content delta
// fed to LlmCall::token(), and the usage of the final chunk ("stream_options":
// {"include_usage": true}) put into the llm_call event. A failure (connection refused, an HTTP
// error status, a stream cut before `data: [DONE]`, an error chunk) fails the call: an `error`
// event and an llm_call event with success false. docs/integrations.md explains each step.
//
//   openai_stream [--base-url URL] [--model NAME] [--prompt TEXT] [--api-key KEY]
//                 [--jsonl FILE | --redis URL [--stream KEY]] [--timeout-ms N]
//
// Try it without a key against the replay server beside this file: start the server, which
// prints its port, then the client against it (lines kept short: clang-format rewraps).
//   cd examples/openai_stream && python3 replay_server.py fixtures/chat_stream.json
//   openai_stream --base-url http://127.0.0.1:PORT/v1

#include <curl/curl.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <streamll/sinks/jsonl_file_sink.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/terminal_sink.hpp>
#include <streamll/streamll.hpp>

#include "sse_parser.hpp"

namespace {

const char* const kUsage =
    "usage: openai_stream [--base-url URL] [--model NAME] [--prompt TEXT] [--api-key KEY]\n"
    "                     [--jsonl FILE | --redis URL [--stream KEY]] [--timeout-ms N]\n"
    "\n"
    "Streams one chat completion from an OpenAI-compatible server and records it with\n"
    "streamll: a span, the call's token events and its llm_call event with usage.\n"
    "  --base-url URL    API base, /chat/completions is appended (default $OPENAI_BASE_URL,\n"
    "                    else https://api.openai.com/v1)\n"
    "  --model NAME      model to ask (default gpt-4o-mini)\n"
    "  --prompt TEXT     the user message (default: a question about RAG)\n"
    "  --api-key KEY     bearer token (default $OPENAI_API_KEY; none is sent when empty)\n"
    "  --jsonl FILE      write events to FILE, one JSON object a line (truncated first)\n"
    "  --redis URL       write events to a Redis stream (--stream KEY, default streamll_events)\n"
    "                    (neither: events are printed to stderr)\n"
    "  --timeout-ms N    give up on the whole request after N ms (default 60000)\n"
    "Exit status: 0 the call succeeded, 1 it failed (see the error event), 2 bad usage.\n";

struct Arguments {
  std::string base_url;
  std::string model = "gpt-4o-mini";
  std::string prompt = "In one sentence: what does retrieval-augmented generation add?";
  std::string api_key;
  std::string jsonl;
  std::string redis;
  std::string stream = "streamll_events";
  long timeout_ms = 60000;
};

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// 0: go on; 1: --help printed; 2: bad usage.
int parse(int argc, char** argv, Arguments& out) {
  // As the OpenAI SDKs: the base includes the version (".../v1").
  out.base_url = env_or("OPENAI_BASE_URL", "https://api.openai.com/v1");
  out.api_key = env_or("OPENAI_API_KEY", "");
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 1;
    }
    static const char* const kFlags[] = {"--base-url", "--model", "--prompt", "--api-key",
                                         "--jsonl",    "--redis", "--stream", "--timeout-ms"};
    bool known = false;
    for (const char* const known_flag : kFlags) known = known || flag == known_flag;
    if (!known) {
      std::cerr << "openai_stream: unknown option " << flag << "\n" << kUsage;
      return 2;
    }
    if (i + 1 >= argc) {
      std::cerr << "openai_stream: " << flag << " needs a value\n" << kUsage;
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--base-url") {
      out.base_url = value;
    } else if (flag == "--model") {
      out.model = value;
    } else if (flag == "--prompt") {
      out.prompt = value;
    } else if (flag == "--api-key") {
      out.api_key = value;
    } else if (flag == "--jsonl") {
      out.jsonl = value;
    } else if (flag == "--redis") {
      out.redis = value;
    } else if (flag == "--stream") {
      out.stream = value;
    } else if (flag == "--timeout-ms") {
      char* end = nullptr;
      errno = 0;
      out.timeout_ms = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno == ERANGE || out.timeout_ms <= 0) {
        std::cerr << "openai_stream: --timeout-ms wants a positive number of milliseconds\n";
        return 2;
      }
    }
  }
  while (!out.base_url.empty() && out.base_url.back() == '/') out.base_url.pop_back();
  if (!out.jsonl.empty() && !out.redis.empty()) {
    std::cerr << "openai_stream: --jsonl and --redis are exclusive\n";
    return 2;
  }
  return 0;
}

streamll::SinkPtr make_sink(const Arguments& args) {
  if (!args.jsonl.empty()) {
    streamll::JsonlFileSinkOptions options;
    options.path = args.jsonl;
    options.append = false;
    return std::make_shared<streamll::JsonlFileSink>(options);
  }
  if (!args.redis.empty()) {
    streamll::RedisSinkOptions options;
    options.connection.url = args.redis;
    options.stream_key = args.stream;
    return std::make_shared<streamll::RedisSink>(options);
  }
  return std::make_shared<streamll::TerminalSink>();
}

// What one streamed response amounts to: its chunks fed to the call as they arrive, and, once
// the transfer is over, the usage and finish reason of the call or why it failed.
class ChatStream {
 public:
  explicit ChatStream(streamll::LlmCall& call)
      : call_(call), quote_bodies_(streamll::default_instrumentor()->capture_content()) {}

  // libcurl's write callback: every piece of the body, split wherever the network split it.
  // Returning less than given makes libcurl stop the transfer (CURLE_WRITE_ERROR): done on a
  // failure and after `data: [DONE]`, so that a server keeping the connection open (a proxy's
  // keep-alive) is not waited on until the timeout. No exception may leave a callback: it would
  // unwind through libcurl's C frames (undefined behaviour), so any is a failed call.
  static size_t on_body(char* data, size_t size, size_t count, void* self_ptr) noexcept {
    auto& self = *static_cast<ChatStream*>(self_ptr);
    const std::string_view bytes(data, size * count);
    try {
      if (!self.http_ok()) {  // an error body is JSON, not events: kept for the message
        if (self.error_body_.size() < 65536) self.error_body_.append(bytes);
        return bytes.size();
      }
      if (!self.parser_.feed(bytes, [&self](const example::SseEvent& e) { self.on_event(e); }) &&
          self.error_type_.empty()) {
        self.error_type_ = "oversized_event";
        self.error_message_ = "a line or an event of the stream exceeds the parser's limit";
      }
    } catch (...) {
      self.client_failed(std::current_exception());
    }
    return self.error_type_.empty() && !self.done_ ? bytes.size() : 0;
  }
  // libcurl's header callback: the status line comes first, before any body byte.
  static size_t on_header(char* data, size_t size, size_t count, void* self_ptr) noexcept {
    auto& self = *static_cast<ChatStream*>(self_ptr);
    const std::string_view line(data, size * count);
    try {
      int status = 0;
      if (line.rfind("HTTP/", 0) == 0 &&
          std::sscanf(std::string(line).c_str(), "HTTP/%*s %d", &status) == 1) {
        self.status_ = status;  // the last status line wins (a 100 Continue comes first)
      }
    } catch (...) {
      self.client_failed(std::current_exception());
      return 0;
    }
    return line.size();
  }

  // After curl_easy_perform: finishes or fails the call.
  bool complete(CURLcode result, const char* curl_message) {
    if (error_type_.empty() && client_failed_) {
      error_type_ = "client_error";  // the message could not even be kept (out of memory)
    }
    if (error_type_.empty()) {
      if (status_ != 0 && !http_ok()) {
        // Any final status but 2xx, redirects included (they are not followed: a POST's body
        // would not be sent again).
        error_type_ = "http_" + std::to_string(status_);
        error_message_ = http_error_message();
      } else if (done_) {
        // Success, whatever `result` says: the write callback stopped the transfer at [DONE].
      } else if (result == CURLE_OPERATION_TIMEDOUT) {
        error_type_ = "timeout";
        error_message_ = curl_message;
      } else if (result != CURLE_OK && status_ == 0) {
        error_type_ = "connection_error";  // refused, unresolved, TLS: no response at all
        error_message_ = curl_message;
      } else {
        error_type_ = "incomplete_stream";  // cut off, with or without a transport error
        error_message_ = std::string("the stream ended before data: [DONE]") +
                         (result != CURLE_OK ? std::string(" (") + curl_message + ")" : "");
      }
    }
    if (!error_type_.empty()) {
      call_.fail(error_type_, error_message_);
      return false;
    }
    call_.finish(std::move(usage_));
    return true;
  }
  const std::string& error_type() const { return error_type_; }
  const std::string& error_message() const { return error_message_; }

 private:
  bool http_ok() const noexcept { return status_ >= 200 && status_ < 300; }

  // Keeps why the client failed; noexcept, so that it is safe in a catch block.
  void client_failed(const std::exception_ptr& error) noexcept {
    client_failed_ = true;
    if (!error_type_.empty()) return;
    try {
      error_type_ = "client_error";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        error_message_ = e.what();
      } catch (...) {
        error_message_ = "unknown exception";
      }
    } catch (...) {
      error_type_.clear();  // complete() names it from client_failed_
      error_message_.clear();
    }
  }

  void on_event(const example::SseEvent& event) {
    if (done_ || !error_type_.empty()) return;
    if (event.data.empty()) return;  // a heartbeat (`data:` alone): no chunk
    if (event.data == "[DONE]") {
      done_ = true;
      return;
    }
    const auto chunk = nlohmann::json::parse(event.data, nullptr, /*allow_exceptions=*/false);
    if (!chunk.is_object()) {
      error_type_ = "invalid_chunk";
      error_message_ = "not a JSON object: " + quoted(event.data);
      return;
    }
    if (const auto error = chunk.find("error"); error != chunk.end()) {
      error_type_ = "stream_error";
      error_message_ = message_of(*error);
      return;
    }
    if (const auto model = text(chunk, "model")) usage_.extra.set("response_model", *model);
    if (const auto id = text(chunk, "id")) usage_.extra.set("response_id", *id);
    if (const auto choices = chunk.find("choices");
        choices != chunk.end() && choices->is_array() && !choices->empty()) {
      const auto& choice = choices->front();  // n = 1: one choice per chunk
      if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
        // Reasoning models on some servers (vLLM, DeepSeek) stream their thinking apart.
        if (const auto reasoning = text(*delta, "reasoning_content");
            reasoning && !reasoning->empty()) {
          call_.token(*reasoning, "reasoning");
        }
        if (const auto content = text(*delta, "content"); content && !content->empty()) {
          call_.token(*content);
          std::cout << *content << std::flush;
        }
      }
      if (const auto reason = text(choice, "finish_reason")) usage_.finish_reason = *reason;
    }
    // The last chunk before [DONE], with "choices": [], when include_usage was asked for.
    if (const auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
      usage_.input_tokens = count(*usage, "prompt_tokens");
      usage_.output_tokens = count(*usage, "completion_tokens");
      usage_.tokens_used = count(*usage, "total_tokens");
      if (const auto details = usage->find("prompt_tokens_details");
          details != usage->end() && details->is_object()) {
        usage_.cached_input_tokens = count(*details, "cached_tokens");
      }
      if (const auto details = usage->find("completion_tokens_details");
          details != usage->end() && details->is_object()) {
        usage_.reasoning_tokens = count(*details, "reasoning_tokens");
      }
    }
  }

  static std::optional<std::string> text(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  }
  static std::optional<std::int64_t> count(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
  }
  static std::string message_of(const nlohmann::json& error) {
    if (error.is_object()) {
      if (const auto message = text(error, "message")) return *message;
    }
    return error.dump();
  }
  // OpenAI's error body: {"error": {"message": ..., "type": ...}}; anything else as sent.
  std::string http_error_message() const {
    const auto body = nlohmann::json::parse(error_body_, nullptr, false);
    std::string message = "HTTP " + std::to_string(status_);
    if (body.is_object() && body.contains("error"))
      return message + ": " + message_of(body["error"]);
    return error_body_.empty() ? message : message + ": " + quoted(error_body_);
  }
  // A body's first 200 bytes, or only its size with content capture off: error_message stays
  // when capture is off, and a chunk or a proxy's page may hold the answer's text.
  std::string quoted(const std::string& body) const {
    if (!quote_bodies_) return std::to_string(body.size()) + " bytes (content capture is off)";
    return body.substr(0, 200);
  }

  streamll::LlmCall& call_;
  const bool quote_bodies_;
  example::SseParser parser_;
  streamll::LlmUsage usage_;
  long status_ = 0;  // of the last response; 0: none came
  bool done_ = false;
  bool client_failed_ = false;
  std::string error_body_;
  std::string error_type_;
  std::string error_message_;
};

// One request, in a span; true when the call succeeded.
bool chat(const Arguments& args) {
  // Everything the handle points to (the body, the header list, the error buffer, the stream)
  // is declared before it, so that the handle is cleaned up first.
  const std::string url = args.base_url + "/chat/completions";
  const std::string body =
      nlohmann::json{{"model", args.model},
                     {"messages", {{{"role", "user"}, {"content", args.prompt}}}},
                     {"stream", true},
                     {"stream_options", {{"include_usage", true}}}}
          .dump();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: text/event-stream");
  const std::string authorization = "Authorization: Bearer " + args.api_key;
  if (!args.api_key.empty()) headers = curl_slist_append(headers, authorization.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers,
                                                                          curl_slist_free_all);

  streamll::Span span("chat_completion");
  span.set("url", url);
  streamll::LlmCallOptions call_options;
  call_options.provider = "openai";
  streamll::LlmCall call(args.model, call_options);  // ttft_ms counts from here
  ChatStream stream(call);
  char curl_message[CURL_ERROR_SIZE] = "";
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("curl_easy_init failed");  // fails the call as it unwinds
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &ChatStream::on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &stream);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &ChatStream::on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &stream);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, curl_message);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, args.timeout_ms);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  const CURLcode result = curl_easy_perform(handle);
  if (result != CURLE_OK && curl_message[0] == '\0') {
    std::snprintf(curl_message, sizeof curl_message, "%s", curl_easy_strerror(result));
  }
  const bool ok = stream.complete(result, curl_message);
  std::cout << '\n';
  span.set("success", ok);
  if (!ok)
    std::cerr << "openai_stream: " << stream.error_type() << ": " << stream.error_message() << '\n';
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  if (const int parsed = parse(argc, argv, args); parsed != 0) return parsed == 1 ? 0 : 2;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::cerr << "openai_stream: curl_global_init failed\n";
    return 1;
  }
  bool ok = false;
  try {
    streamll::InstrumentorOptions options;
    options.sinks = {make_sink(args)};
    options.module_name = "openai_stream";
    streamll::configure(std::move(options));
    ok = chat(args);
  } catch (const std::exception& e) {
    std::cerr << "openai_stream: " << e.what() << '\n';
  }
  streamll::shutdown(std::chrono::seconds(5));
  curl_global_cleanup();
  return ok ? 0 : 1;
}
