// Prints the JSON of one span's events: proves the installed headers and library link.
#include <iostream>
#include <streamll/streamll.hpp>

int main() {
  auto memory = std::make_shared<streamll::MemorySink>();
  streamll::configure({{memory}, {{"environment", "install-check"}}, "consumer"});
  { STREAMLL_SPAN("install_check"); }
  for (const auto& event : memory->events()) std::cout << streamll::to_json(event) << '\n';
  return memory->size() == 2 ? 0 : 1;
}
