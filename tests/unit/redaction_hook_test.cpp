// The redaction hook of every batching sink (BatchingSinkOptions::redact): it runs on the
// flusher thread, once per event, before the exporter sees the event; a redactor that throws
// is counted and its event goes out without data nor tags, and the sink goes on.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <streamll/sinks/batching_sink.hpp>
#include <streamll/sinks/jsonl_file_sink.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/terminal_sink.hpp>
#include <streamll/streamll.hpp>

#include "captured_log_text.hpp"

namespace {

struct Seen {
  std::mutex mutex;
  std::vector<streamll::Event> exported;
  std::vector<std::thread::id> redacted_on;
};

class KeepingExporter final : public streamll::Exporter {
 public:
  explicit KeepingExporter(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  streamll::ExportResult export_batch(streamll::ExportBatch& batch) override {
    std::lock_guard<std::mutex> lock(seen_->mutex);
    for (const auto& e : batch) seen_->exported.push_back(e);
    return streamll::ExportResult::done();
  }
  std::string name() const override { return "keeping"; }

 private:
  std::shared_ptr<Seen> seen_;
};

}  // namespace

TEST_CASE("a batching sink redacts each event once on its flusher thread", "[privacy]") {
  streamll::testing::CapturedLog log("streamll.sinks.batching");
  auto seen = std::make_shared<Seen>();
  streamll::BatchingSinkOptions options;
  const streamll::EventRedactor redact_sensitive = streamll::sensitive_data_redactor();
  options.redact = [seen, redact_sensitive](streamll::Event& e) {
    {
      std::lock_guard<std::mutex> lock(seen->mutex);
      seen->redacted_on.push_back(std::this_thread::get_id());
    }
    // A message quoting the text: the log must not repeat it.
    if (e.data.contains("boom"))
      throw std::runtime_error("cannot redact " + e.data["boom"].as_string());
    redact_sensitive(e);
  };
  auto sink =
      std::make_shared<streamll::BatchingSink>(std::make_unique<KeepingExporter>(seen), options);
  streamll::Instrumentor inst({{sink}, {{"user", "jane@example.com"}}});
  for (int i = 0; i < 50; ++i) {
    inst.emit("note", inst.root_context(), {{"text", "write to jane@example.com"}, {"i", i}});
  }
  inst.emit("note", inst.root_context(), {{"boom", "jane@example.com"}});
  inst.emit("note", inst.root_context(), {{"text", "after jane@example.com"}});
  REQUIRE(inst.flush(std::chrono::seconds(5)));

  std::lock_guard<std::mutex> lock(seen->mutex);
  REQUIRE(seen->exported.size() == 52);
  CHECK(seen->redacted_on.size() == 52);
  for (const auto id : seen->redacted_on) CHECK(id != std::this_thread::get_id());
  for (const auto& e : seen->exported) {
    CHECK(streamll::to_json(e).find("jane@example.com") == std::string::npos);
  }
  CHECK(seen->exported[0].data.get<std::string>("text") == "write to [EMAIL]");
  CHECK(seen->exported[0].tag("user") == "[EMAIL]");
  const auto& failed = seen->exported[50];
  CHECK(failed.data.size() == 1);
  CHECK(failed.data.get<bool>("redaction_failed") == true);
  CHECK(failed.tags().empty());
  CHECK_FALSE(failed.id.is_nil());
  CHECK(seen->exported[51].data.get<std::string>("text") == "after [EMAIL]");
  CHECK(sink->stats().redaction_failures == 1);
  CHECK(sink->stats().delivered == 52);
  const std::string logged = log.text();
  INFO(logged);
  CHECK_THAT(logged, Catch::Contains("the redactor threw (std::runtime_error)"));
  CHECK(logged.find("jane@example.com") == std::string::npos);
}

TEST_CASE("the jsonl and terminal sinks count redaction failures", "[privacy]") {
  const streamll::EventRedactor throwing = [](streamll::Event& e) {
    if (e.data.contains("boom")) throw std::runtime_error("no");
  };
  const auto path = std::filesystem::temp_directory_path() /
                    ("streamll_redaction_" + std::to_string(::getpid()) + ".jsonl");
  std::ostringstream printed;
  {
    streamll::JsonlFileSinkOptions jsonl_options;
    jsonl_options.path = path.string();
    jsonl_options.append = false;
    jsonl_options.redact = throwing;
    auto jsonl = std::make_shared<streamll::JsonlFileSink>(jsonl_options);
    streamll::TerminalSinkOptions terminal_options;
    terminal_options.output = &printed;
    terminal_options.color = streamll::ColorMode::never;
    terminal_options.redact = throwing;
    auto terminal = std::make_shared<streamll::TerminalSink>(terminal_options);
    streamll::Instrumentor inst({{jsonl, terminal}, {}, {}});
    inst.emit("note", inst.root_context(), {{"boom", "SECRET"}});
    inst.emit("note", inst.root_context(), {{"fine", 1}});
    inst.emit("note", inst.root_context(), {{"boom", "SECRET"}});
    REQUIRE(inst.flush(std::chrono::seconds(5)));
    CHECK(jsonl->redaction_failures() == 2);
    CHECK(jsonl->written() == 3);
    CHECK(terminal->redaction_failures() == 2);
    CHECK(terminal->written() == 3);
    REQUIRE(inst.shutdown(std::chrono::seconds(5)));
  }
  std::ifstream in(path);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  CHECK(written.find("SECRET") == std::string::npos);
  CHECK(written.find("redaction_failed") != std::string::npos);
  CHECK(printed.str().find("SECRET") == std::string::npos);
}

TEST_CASE("to_string of RedisSinkOptions says whether a redactor is set", "[privacy]") {
  streamll::RedisSinkOptions o;
  CHECK_THAT(streamll::to_string(o), Catch::Contains("redact=none\n"));
  o.redact = streamll::sensitive_data_redactor();
  CHECK_THAT(streamll::to_string(o), Catch::Contains("redact=set\n"));
}

// The replacement drops everything the redactor might have been hiding, but not the
// sampled_out flag: without it a sampled-out execution's failure reads as a kept one's.
TEST_CASE("a failed redaction keeps the sampled_out flag of a sampled-out error", "[privacy]") {
  auto seen = std::make_shared<Seen>();
  streamll::BatchingSinkOptions options;
  options.redact = [](streamll::Event&) { throw std::runtime_error("no"); };
  auto sink =
      std::make_shared<streamll::BatchingSink>(std::make_unique<KeepingExporter>(seen), options);
  streamll::InstrumentorOptions sampled_out;
  sampled_out.sinks = {sink};
  sampled_out.sample_rate = 0.0;
  auto dropped = std::make_shared<streamll::Instrumentor>(sampled_out);
  streamll::InstrumentorOptions kept_options;
  kept_options.sinks = {sink};
  kept_options.sample_rate = 1.0;
  auto kept = std::make_shared<streamll::Instrumentor>(kept_options);
  {
    streamll::Span root(dropped, "request");
    root.fail("Timeout", "secret detail");
  }
  {
    streamll::Span root(kept, "request");
    root.fail("Timeout", "secret detail");
  }
  REQUIRE(kept->flush(std::chrono::seconds(5)));

  std::lock_guard<std::mutex> lock(seen->mutex);
  std::vector<const streamll::Event*> errors;
  for (const auto& e : seen->exported) {
    if (e.type == streamll::EventType::error) errors.push_back(&e);
  }
  REQUIRE(errors.size() == 2);
  CHECK(errors[0]->data.get<bool>("redaction_failed") == true);
  CHECK(errors[0]->data.get<bool>("sampled_out") == true);
  CHECK(errors[0]->data.size() == 2);
  CHECK(errors[1]->data.get<bool>("redaction_failed") == true);
  CHECK_FALSE(errors[1]->data.contains("sampled_out"));
  CHECK(errors[1]->data.size() == 1);
  CHECK(sink->stats().redaction_failures == seen->exported.size());
}
