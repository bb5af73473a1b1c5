// The guide's "Production-Grade Setup", in C++: every resilience, performance and stream
// setting spelled out, then the guide's circuit-breaker monitoring loop.
//
//   production_config [redis-url]   (default: REDIS_URL, else redis://localhost:6379)

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

void check_circuit_state(const streamll::RedisSink& sink) {
  const auto breaker = sink.circuit_breaker();
  std::cout << "Circuit breaker open: " << (breaker.is_open ? "true" : "false") << " (state "
            << streamll::to_string(breaker.state) << ")\n"
            << "Failure count: " << breaker.failure_count << "\n"
            << "Last failure: "
            << (breaker.last_failure_time
                    ? std::to_string(
                          std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now() - *breaker.last_failure_time)
                              .count()) +
                          " s ago"
                    : std::string("never"))
            << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::cout << "usage: production_config [redis-url]\nShows a fully configured RedisSink "
                 "and its circuit-breaker monitoring.\n";
    return 0;
  }
  streamll::RedisSinkOptions options;
  const char* env_url = std::getenv("REDIS_URL");
  options.connection.url = argc > 1              ? argv[1]
                           : env_url && *env_url ? env_url
                                                 : "redis://localhost:6379";
  options.stream_key = "dspy_production_events";

  // Resilience settings
  options.buffer_size = 50000;     // buffer 50k events during outages
  options.circuit_breaker = true;  // enable circuit breaker
  options.failure_threshold = 5;   // open after 5 consecutive failures
  options.recovery_timeout = 60s;  // try recovery every 60 seconds

  // Performance settings
  options.max_batch_size = 500;  // batch up to 500 events
  options.flush_interval = 1s;   // longest idle sleep; delays nothing (docs/redis-sink.md)

  // Stream management
  options.max_stream_length = 1000000;  // keep the last 1M events
  options.approximate_trimming = true;  // MAXLEN ~

  // Buffer overflow strategy
  options.buffer_overflow_strategy = streamll::OverflowStrategy::drop_oldest;

  std::cout << streamll::to_string(options) << "\n";  // secrets print as ***
  auto sink = std::make_shared<streamll::RedisSink>(options);
  streamll::Instrumentor instrumentor({{sink}, {{"environment", "production"}}, "ProductionRAG"});

  for (int i = 0; i < 3; ++i) {
    streamll::Span span(instrumentor, "rag_query");
    streamll::LlmCall call(instrumentor, "gpt-4o-mini");
    call.token("Hello");
    call.finish({});
  }
  sink->flush(5s);
  check_circuit_state(*sink);
  const auto stats = sink->stats();
  std::cout << "Delivered: " << stats.delivered << ", buffered: " << sink->buffered()
            << ", dropped: " << stats.dropped() << "\n";
  return stats.delivered == stats.enqueued ? 0 : 1;
}
