// One trace across two processes, with W3C Trace Context (docs/trace-context.md). This program
// plays a gateway: it opens a span (continuing the trace of an upstream `traceparent`, if
// given one), injects the span into a `traceparent` and starts itself again as the service it
// calls, handing the header over as an HTTP client would. The service extracts it, handles
// the request under it (a span and a model call) and reports the header it would send to the
// next hop. Both write to the same Redis stream: every event of both processes is in one
// execution, the service's first span a child of the gateway's.
//
//   trace_propagation --redis redis://127.0.0.1:6379 [--stream KEY] [--traceparent HEADER]
//
// Then: streamll tail --url redis://127.0.0.1:6379 (or XRANGE KEY - +).

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

extern char** environ;

namespace {

struct Arguments {
  bool help = false;
  bool service = false;
  std::string redis = "redis://127.0.0.1:6379";
  std::string stream = "streamll_trace_example";
  std::string traceparent;
  std::string tracestate;
};

bool parse(int argc, char** argv, Arguments& out) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--service") {
      out.service = true;
      continue;
    }
    if (flag == "--help" || flag == "-h") {
      out.help = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (flag == "--redis") {
      out.redis = value;
    } else if (flag == "--stream") {
      out.stream = value;
    } else if (flag == "--traceparent") {
      out.traceparent = value;
    } else if (flag == "--tracestate") {
      out.tracestate = value;
    } else {
      return false;
    }
  }
  return true;
}

void configure(const Arguments& args, const char* module) {
  streamll::RedisSinkOptions sink;
  sink.connection.url = args.redis;
  sink.stream_key = args.stream;
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<streamll::RedisSink>(sink)};
  options.module_name = module;
  streamll::configure(std::move(options));
}

// The service: continue the caller's trace, do the work, say what the next hop would get.
int serve(const Arguments& args) {
  const auto remote = streamll::extract_trace_context(args.traceparent, args.tracestate);
  if (!remote) {
    std::fprintf(stderr, "service: invalid traceparent '%s'\n", args.traceparent.c_str());
    return 2;
  }
  configure(args, "service");
  {
    streamll::ContextScope scope(*remote);
    streamll::Span span("answer_question");
    streamll::LlmCall call("tiny-model", {"local"});
    call.token("Paris");
    call.finish(streamll::LlmUsage{12, 1});
    const streamll::TraceHeaders next = streamll::inject_trace_context();
    std::printf("service: execution %s, next hop gets traceparent %s\n",
                span.execution_id().c_str(), next.traceparent.c_str());
  }
  return streamll::shutdown(std::chrono::seconds(5)) ? 0 : 1;
}

// The gateway: a span, its traceparent, and the service started with it.
int gateway(const Arguments& args, const char* self) {
  configure(args, "gateway");
  std::optional<streamll::Context> upstream;
  if (!args.traceparent.empty()) {
    upstream = streamll::extract_trace_context(args.traceparent, args.tracestate);
    if (!upstream) std::fprintf(stderr, "gateway: invalid upstream traceparent, new trace\n");
  }
  int status = 1;
  {
    streamll::ContextScope scope(upstream.value_or(streamll::Context{}));
    streamll::Span span("gateway_request");
    const streamll::TraceHeaders headers = streamll::inject_trace_context();
    std::printf("gateway: execution %s, calling the service with traceparent %s\n",
                span.execution_id().c_str(), headers.traceparent.c_str());
    std::fflush(stdout);
    std::vector<std::string> words = {
        self,        "--service",     "--redis",           args.redis,     "--stream",
        args.stream, "--traceparent", headers.traceparent, "--tracestate", headers.tracestate};
    std::vector<char*> child_argv;
    for (auto& w : words) child_argv.push_back(w.data());
    child_argv.push_back(nullptr);
    // This very program, whatever directory or PATH it was started from.
    pid_t pid = 0;
    if (const int error =
            posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, child_argv.data(), environ);
        error != 0) {
      span.fail("SpawnFailed", std::strerror(error));
    } else if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
      span.fail("ServiceFailed", "the service did not exit normally");
    } else {
      status = WEXITSTATUS(status);
      span.set("service_exit_status", status);
    }
  }
  const bool delivered = streamll::shutdown(std::chrono::seconds(5));
  return status == 0 && delivered ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  const bool understood = parse(argc, argv, args);
  if (!understood || args.help) {
    std::fprintf(understood ? stdout : stderr,
                 "usage: %s [--redis URL] [--stream KEY] [--traceparent HEADER] "
                 "[--tracestate STATE]\n"
                 "Runs a gateway span, then this program again as the service it calls, the\n"
                 "trace handed over in a W3C traceparent; both write to the stream KEY\n"
                 "(default streamll_trace_example) of the Redis at URL (default\n"
                 "redis://127.0.0.1:6379). --traceparent continues an upstream trace.\n",
                 argv[0]);
    return understood ? 0 : 2;
  }
  return args.service ? serve(args) : gateway(args, argv[0]);
}
