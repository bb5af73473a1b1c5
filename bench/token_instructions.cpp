// Streams N tokens of one call through a BatchingSink whose exporter drops them, with content
// capture on, off, or on with sensitive_data_redactor() on the sink. Run under callgrind by
// bench/instructions.sh, which counts the application thread's instructions per token:
// free of this shared machine's timing noise, and the redactor's own work (on the sink's
// flusher thread) is not in the count, as it is not in the application's.
//
//   token_instructions N on|off|redactor

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "streamll/redact.hpp"
#include "streamll/sinks/batching_sink.hpp"
#include "streamll/streamll.hpp"

namespace {

class DropExporter final : public streamll::Exporter {
 public:
  streamll::ExportResult export_batch(streamll::ExportBatch&) override {
    return streamll::ExportResult::done();
  }
  std::string name() const override { return "drop"; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::atol(argv[1]) <= 0 ||
      (std::strcmp(argv[2], "on") != 0 && std::strcmp(argv[2], "off") != 0 &&
       std::strcmp(argv[2], "redactor") != 0)) {
    std::cerr << "usage: token_instructions N on|off|redactor\n";
    return 2;
  }
  const long tokens = std::atol(argv[1]);
  const std::string variant = argv[2];
  streamll::BatchingSinkOptions sink_options;
  sink_options.buffer_size = static_cast<std::size_t>(tokens) + 16;  // nothing dropped
  if (variant == "redactor") sink_options.redact = streamll::sensitive_data_redactor();
  auto sink =
      std::make_shared<streamll::BatchingSink>(std::make_unique<DropExporter>(), sink_options);
  streamll::InstrumentorOptions options;
  options.sinks = {sink};
  options.capture_content = variant != "off";
  options.token_mode = streamll::TokenMode::each;
  options.sample_rate = 1.0;
  auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  {
    streamll::Span request(instrumentor, "request");
    streamll::LlmCall call(*instrumentor, "m");
    for (long i = 0; i < tokens; ++i) call.token("hello world token");
    call.finish();
  }
  return instrumentor->shutdown(std::chrono::seconds(60)) ? 0 : 1;
}
