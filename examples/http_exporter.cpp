// Writing an exporter: this one posts batches of events as JSON lines to an HTTP collector.
// BatchingSink does the rest (buffer, batching, the flusher thread, retries behind a circuit
// breaker, flush and shutdown with deadlines, counters). Copy it, and plug your HTTP client
// (libcurl, cpp-httplib, ...) into `Post`. Here an in-process fake collector stands in for the
// network, failing its first request to show a retry, so the example runs anywhere.
#include <streamll/exporter.hpp>
#include <streamll/sinks/batching_sink.hpp>
#include <streamll/streamll.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

using namespace std::chrono_literals;

// Posts batches as JSON lines to an HTTP collector. `Post` is the application's HTTP client:
// status code, or 0 when the request did not go out.
class CollectorExporter final : public streamll::Exporter {
 public:
  using Post = std::function<int(const std::string& body, std::chrono::milliseconds timeout)>;
  explicit CollectorExporter(Post post) : post_(std::move(post)) {}

  streamll::ExportResult export_batch(streamll::ExportBatch& batch) override {
    std::string body;
    for (const streamll::Event& e : batch) {
      streamll::append_json(e, body);
      body += '\n';
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        batch.deadline() - std::chrono::steady_clock::now());
    const int status = post_(body, left);
    if (status >= 200 && status < 300) return streamll::ExportResult::done();
    if (status == 429) {
      return streamll::ExportResult::retry_rest(0, std::chrono::steady_clock::now() + 1s, "429");
    }
    if (status == 0 || status >= 500) {
      return streamll::ExportResult::failure("collector: HTTP " + std::to_string(status));
    }
    for (std::size_t i = 0; i < batch.size(); ++i) batch.fail(i, "collector refused the batch");
    return streamll::ExportResult::done();  // settled: counted failed, reported by flush()
  }
  std::string name() const override { return "collector"; }

 private:
  Post post_;
};

// The stand-in for a collector: counts the lines it accepts; answers 503 to the first request.
class FakeCollector {
 public:
  CollectorExporter::Post poster() {
    return [this](const std::string& body, std::chrono::milliseconds) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (++requests_ == 1) return 503;
      for (const char c : body) received_ += c == '\n' ? 1 : 0;
      return 200;
    };
  }
  int received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

 private:
  mutable std::mutex mutex_;
  int requests_ = 0;
  int received_ = 0;
};

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::printf(
        "usage: http_exporter\nSends a span's events through CollectorExporter, an exporter "
        "written in this file, to an in-process fake collector.\n");
    return 0;
  }
  FakeCollector collector;
  auto sink = std::make_shared<streamll::BatchingSink>(
      std::make_unique<CollectorExporter>(collector.poster()), streamll::BatchingSinkOptions{});
  auto instrumentor = streamll::configure(streamll::InstrumentorOptions{{sink}, {}, {}});
  { STREAMLL_SPAN("answer"); }  // a start and an end event

  const bool flushed = sink->flush(5s);  // waits through the retry after the 503
  const streamll::BatchingSinkStats stats = sink->stats();
  std::printf("delivered %llu, export failures %llu, collector received %d\n",
              static_cast<unsigned long long>(stats.delivered),
              static_cast<unsigned long long>(stats.export_failures), collector.received());
  instrumentor->shutdown();
  return flushed && collector.received() == 2 && stats.export_failures == 1 ? 0 : 1;
}
