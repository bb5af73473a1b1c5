// A fake RAG pipeline instrumented with streamll, streaming its events to Redis.
//
// Each run: a `rag_query` span around a `retrieval` span (occasionally failing) and an
// `answer_generation` span whose LLM call streams tokens, then reports usage and cost.
// Redis from REDIS_URL (default redis://localhost:6379), stream from STREAMLL_STREAM_KEY
// (default ml_events); every other STREAMLL_* / REDIS_* variable of RedisSinkOptions::from_env
// applies too.
//
//   rag_pipeline --runs 5 --terminal

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/terminal_sink.hpp>
#include <streamll/streamll.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Args {
  int runs = 3;
  int error_every = 4;
  bool terminal = false;
  int token_delay_ms = 15;
};

void usage(std::ostream& out) {
  out << "usage: rag_pipeline [--runs N] [--error-every K] [--terminal] [--token-delay-ms MS]\n"
         "\n"
         "Runs a fake RAG pipeline N times (default 3) and streams its events to Redis.\n"
         "  --runs N            pipeline runs\n"
         "  --error-every K     every K-th run's retrieval fails (0: never; default 4)\n"
         "  --terminal          also print the events to the terminal as they happen\n"
         "  --token-delay-ms MS pause between streamed tokens (default 15)\n"
         "Environment: REDIS_URL (redis://localhost:6379), STREAMLL_STREAM_KEY (ml_events),\n"
         "REDIS_PASSWORD, and the other variables of RedisSinkOptions::from_env().\n";
}

int parse_int(const std::string& flag, const char* value) {
  if (!value) throw std::invalid_argument(flag + " needs a value");
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  if (*value == '\0' || *end != '\0' || v < 0 || v > 1000000) {
    throw std::invalid_argument(flag + ": not a number from 0 to 1000000: " + value);
  }
  return static_cast<int>(v);
}

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "-h" || a == "--help") {
      usage(std::cout);
      std::exit(0);
    } else if (a == "--runs") {
      args.runs = parse_int(a, next), ++i;
    } else if (a == "--error-every") {
      args.error_every = parse_int(a, next), ++i;
    } else if (a == "--token-delay-ms") {
      args.token_delay_ms = parse_int(a, next), ++i;
    } else if (a == "--terminal") {
      args.terminal = true;
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  return args;
}

struct Document {
  std::string id;
  double score;
};

std::vector<Document> retrieve(const std::string& question, bool fail) {
  STREAMLL_SPAN_VAR(span, "retrieval");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the vector store
  if (fail) throw std::runtime_error("vector store timed out after 20 ms");
  std::vector<Document> docs = {{"doc-17", 0.91}, {"doc-4", 0.87}, {"doc-23", 0.80}};
  span.set("documents", static_cast<std::int64_t>(docs.size()));
  span.set("top_score", docs.front().score);
  span.emit("retrieved", {{"query_chars", static_cast<std::int64_t>(question.size())},
                          {"ids", streamll::RawJson{R"(["doc-17","doc-4","doc-23"])"}}});
  return docs;
}

std::string generate(const std::vector<Document>& docs, int token_delay_ms) {
  STREAMLL_SPAN_VAR(span, "answer_generation");
  span.set("context_documents", static_cast<std::int64_t>(docs.size()));
  const std::vector<std::string> tokens = {"Redis",  " Streams", " keep",  " every",
                                           " event", " in",      " order", "."};
  STREAMLL_LLM_CALL(call, "gemini/gemini-2.0-flash", {"google", {}, {}});
  std::string answer;
  for (const auto& token : tokens) {
    std::this_thread::sleep_for(std::chrono::milliseconds(token_delay_ms));  // the model
    call.token(token);
    answer += token;
  }
  streamll::LlmUsage usage;
  usage.input_tokens = 279;
  usage.output_tokens = static_cast<std::int64_t>(tokens.size());
  usage.cost_usd = 0.0023;
  usage.finish_reason = "stop";
  call.finish(usage);
  return answer;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::shared_ptr<streamll::RedisSink> redis;
  try {
    args = parse_args(argc, argv);
    redis = std::make_shared<streamll::RedisSink>(streamll::RedisSinkOptions::from_env());
  } catch (const std::exception& e) {
    std::cerr << "rag_pipeline: " << e.what() << "\n";
    return 2;
  }

  std::vector<streamll::SinkPtr> sinks = {redis};
  if (args.terminal) sinks.push_back(std::make_shared<streamll::TerminalSink>());
  streamll::configure({sinks, {{"environment", "demo"}, {"user_id", "user_123"}}, "ProductionRAG"});

  int failures = 0;
  for (int run = 1; run <= args.runs; ++run) {
    try {
      STREAMLL_SPAN_VAR(query, "rag_query");
      query.tag("run", std::to_string(run));
      const bool fail = args.error_every > 0 && run % args.error_every == 0;
      const auto docs = retrieve("How does streamll ship events?", fail);
      query.set("answer", generate(docs, args.token_delay_ms));
    } catch (const std::exception& e) {
      ++failures;  // the spans already recorded the error events
    }
  }

  // The default instrumentor lives until the process ends: shut its sinks down explicitly so
  // everything buffered reaches Redis first.
  const bool delivered = streamll::shutdown(std::chrono::seconds(10));
  const auto stats = redis->stats();
  std::cout << "\nrag_pipeline: " << args.runs << " runs (" << failures << " with an error), "
            << stats.enqueued << " events enqueued, " << stats.delivered << " delivered to stream '"
            << redis->options().stream_key << "', " << stats.dropped() << " dropped, "
            << stats.failed << " failed\n";
  if (!delivered) {
    std::cerr << "rag_pipeline: not every event reached Redis"
              << (stats.last_error.empty() ? "" : ": " + stats.last_error) << "\n";
    return 1;
  }
  return 0;
}
