// The guide's "Environment Variables": REDIS_URL, REDIS_PASSWORD, STREAMLL_STREAM_KEY,
// STREAMLL_BUFFER_SIZE, STREAMLL_CIRCUIT_BREAKER (and the other documented variables) fill
// the options; anything assigned afterwards wins over the environment.
//
//   REDIS_URL=redis://localhost:6379/0 STREAMLL_STREAM_KEY=ml_events_prod env_config

#include <iostream>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::cout << "usage: env_config\nBuilds RedisSinkOptions from the environment, prints them "
                 "(secrets hidden) and sends one span.\n";
    return 0;
  }
  try {
    auto options = streamll::RedisSinkOptions::from_env();
    options.connection.client_name =
        "env_config_example";  // explicit: wins over any environment value
    std::cout << streamll::to_string(options) << "\n";

    auto sink = std::make_shared<streamll::RedisSink>(options);
    streamll::Instrumentor instrumentor({{sink}, {{"environment", "env-example"}}, ""});
    { streamll::Span span(instrumentor, "configured_from_env"); }
    const bool delivered = sink->flush(std::chrono::seconds(5));
    std::cout << (delivered ? "delivered to " : "NOT delivered to ") << options.stream_key << "\n";
    return delivered ? 0 : 1;
  } catch (const streamll::ConfigError& e) {
    // A malformed variable names itself (STREAMLL_BUFFER_SIZE=abc...); secrets are never echoed.
    std::cerr << "env_config: configuration error: " << e.what() << "\n";
    return 2;
  }
}
