// Writing your own sink: this one counts events per type, reports errors on stderr as they
// happen and prints a summary when shut down. Copy it as the start of a metrics exporter or a
// log forwarder.
#include <streamll/streamll.hpp>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

// handle() is called from many threads at once, hence the mutex. It must return quickly and
// never wait on the network: hand slow work to a thread of your own.
class CountingSink final : public streamll::Sink {
 public:
  void handle(const streamll::Event& event) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_[std::string(event.type_name())];
    if (event.type == streamll::EventType::error) {
      std::fprintf(stderr, "error in %s: %s\n", event.operation().c_str(),
                   event.data["error_message"].as_string().c_str());
    }
  }
  bool shutdown(std::chrono::milliseconds /*timeout*/) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_.exchange(false)) {
      for (const auto& [type, n] : counts_) std::printf("%-10s %d\n", type.c_str(), n);
    }
    return true;
  }
  bool is_running() const noexcept override { return running_; }
  std::string name() const override { return "counting"; }

  int count(const std::string& type) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = counts_.find(type);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, int> counts_;
  std::atomic<bool> running_{true};
};

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::printf(
        "usage: custom_sink\nRuns a small pipeline into CountingSink, a sink written in "
        "this file, and prints its counts.\n");
    return 0;
  }
  auto sink = std::make_shared<CountingSink>();
  auto instrumentor = streamll::configure(streamll::InstrumentorOptions{{sink}, {}, {}});

  for (const char* question : {"refunds", "shipping", ""}) {
    try {
      STREAMLL_SPAN("answer");
      if (*question == '\0') throw std::invalid_argument("empty question");
      STREAMLL_LLM_CALL(call, "tiny-model");
      call.token("See");
      call.token(" the FAQ.");
      call.finish();
    } catch (const std::invalid_argument&) {
      // Reported by the span as an error event; the application carries on.
    }
  }
  instrumentor->shutdown();  // prints the summary
  // start 3, token 4, llm_call 2, end 2, error 1
  return sink->count("token") == 4 && sink->count("error") == 1 ? 0 : 1;
}
