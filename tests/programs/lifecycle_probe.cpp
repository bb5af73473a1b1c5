// A program that never calls streamll::shutdown(), for the exit-flush tests: it sends
// <spans> spans (two events each) to a RedisSink at <url>, then leaves by <how>:
//   return      returns from main
//   exit        std::exit(0) from inside a function, with a span open around it
//   quick_exit  std::quick_exit(0)
// usage: lifecycle_probe <url> <return|exit|quick_exit> <spans>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

namespace {

void leave(const std::string& how) {
  if (how == "exit") {
    streamll::Span last("exiting");  // never ends: exit does not unwind
    std::exit(0);
  }
  if (how == "quick_exit") std::quick_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: lifecycle_probe <url> <return|exit|quick_exit> <spans>\n");
    return 2;
  }
  streamll::RedisSinkOptions redis;
  redis.url = argv[1];
  redis.stream_key = "ml_events";
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<streamll::RedisSink>(redis)};
  streamll::configure(std::move(options));

  const int spans = std::atoi(argv[3]);
  for (int i = 0; i < spans; ++i) {
    streamll::Span span("probe");
    span.set("index", i);
  }
  leave(argv[2]);
  return 0;
}
