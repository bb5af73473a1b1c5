// The guide's "Quick Setup": a RedisSink on a URL and a stream key, one instrumented module,
// then the guide's "Verify Events": read the stream back and count what is there.
//
//   basic_setup [redis-url]      (default: REDIS_URL, else redis://localhost:6379)
//   redis-cli XRANGE ml_events - +    shows what arrived

#include <cstdlib>
#include <iostream>
#include <streamll/redis/consumer.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::cout << "usage: basic_setup [redis-url]\nWrites one span to stream ml_events and "
                 "checks Redis acknowledged it.\n";
    return 0;
  }
  streamll::RedisSinkOptions options;
  const char* env_url = std::getenv("REDIS_URL");
  options.connection.url = argc > 1              ? argv[1]
                           : env_url && *env_url ? env_url
                                                 : "redis://localhost:6379";
  options.stream_key = "ml_events";
  auto sink = std::make_shared<streamll::RedisSink>(options);
  streamll::Instrumentor instrumentor(
      {{sink}, {{"environment", "production"}}, "ProductionModule"});

  {
    streamll::Span span(instrumentor, "answer_generation");
    span.set("question", "What is a Redis Stream?");
  }

  // Everything handed to the sink was acknowledged by Redis...
  if (!sink->flush(std::chrono::seconds(5))) {
    std::cerr << "events did not reach " << options.connection.url << ": "
              << sink->stats().last_error << "\n";
    return 1;
  }

  // ...and, the guide's "Verify Events", reading the stream from the beginning shows them.
  streamll::ConsumerOptions read_options;
  read_options.connection = options.connection;
  read_options.stream_key = options.stream_key;
  read_options.start_id = "0";
  streamll::StreamReader reader(read_options);
  std::size_t events = 0;
  reader.on_any([&](const streamll::ConsumedEvent&) { ++events; });
  while (reader.poll(std::chrono::milliseconds(100)).entries > 0) {
  }
  std::cout << "Stream: " << options.stream_key << ", Events: " << events << "\n";
  return events > 0 ? 0 : 1;
}
