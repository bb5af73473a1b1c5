// The optional spdlog sink as a user includes it from an installed streamll: a log line in a
// span becomes a `log` event of that span. Prints the event's JSON.
#include <spdlog/spdlog.h>

#include <iostream>
#include <streamll/integrations/spdlog_sink.hpp>
#include <streamll/streamll.hpp>

int main() {
  auto memory = std::make_shared<streamll::MemorySink>();
  streamll::configure({{memory}, {}, "spdlog_consumer"});
  auto logger = std::make_shared<spdlog::logger>("app", std::make_shared<streamll::SpdlogSink>());
  {
    STREAMLL_SPAN("install_check");
    logger->info("hello from spdlog");
  }
  const auto logs = memory->events_of_type("log");
  for (const auto& event : logs) std::cout << streamll::to_json(event) << '\n';
  return logs.size() == 1 ? 0 : 1;
}
