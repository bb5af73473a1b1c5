// streamll exporter: Prometheus metrics at /metrics, from a consumer group on the stream(s)
// (ExporterMetrics) and, every --refresh, the producers' heartbeats and the groups' lag
// (exporter_gauges.hpp). Served by cpp-httplib; a scrape copies text under a lock and never
// waits for Redis.

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/exporter_gauges.hpp"
#include "cli/exporter_metrics.hpp"
#include "cli/prometheus_text.hpp"
#include "streamll/redis/consumer.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> exporter_specs() {
  std::vector<OptionSpec> specs = {
      {"listen", "HOST:PORT", "where to serve /metrics (default 127.0.0.1:9464; port 0: any)"},
      {"group", "GROUP", "consumer group to read with (default streamll-exporter)"},
      {"consumer", "NAME", "this exporter's name in the group (default exporter-<host>-<pid>)"},
      {"refresh", "DURATION", "how often producers and groups are read (default 5s)"},
      {"max-label-values", "N",
       "distinct values kept per label (model, operation, error_type, event_type; default 100)"},
      {"max-label-sets", "N",
       "label sets kept in the llm_* families and in errors_total (default 500)"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  specs.push_back(token_stream_option_spec());
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll exporter [--listen HOST:PORT] [--group GROUP] [options]\n\n"
         "Serves Prometheus metrics at http://HOST:PORT/metrics: LLM calls, tokens, cost and\n"
         "latency histograms per model and operation, and error events, counted from a\n"
         "consumer group on the stream (and the token stream with --token-stream); the\n"
         "producers' heartbeats, the stream's length and the groups' lag and pending, read\n"
         "every --refresh. Counters start at 0 when the exporter starts; the group resumes\n"
         "where it stopped (a new group starts at the stream's first entry). Values of model,\n"
         "operation, error_type and event_type past --max-label-values, and label sets past\n"
         "--max-label-sets, are counted as \"other\". Stops on SIGINT/SIGTERM. Exit status:\n"
         "0 stopped, 1 the HTTP server failed, 2 Redis unreachable at start, 3 login refused,\n"
         "5 a command refused (NOPERM, WRONGTYPE), 64 bad options or an address it cannot\n"
         "listen on.\n\n"
      << format_options(specs);
}

// "host:port", "[v6]:port", ":port" (loopback).
std::pair<std::string, int> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw UsageError("--listen: '" + text + "' is not HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  const std::string port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError("--listen: port '" + port_text + "' is not 0 to 65535");
  }
  const int port = std::stoi(port_text);
  if (port > 65535) throw UsageError("--listen: port '" + port_text + "' is not 0 to 65535");
  return {host, port};
}

}  // namespace

int run_exporter(int argc, char** argv, int first) {
  return guarded("exporter", [&] {
    const auto specs = exporter_specs();
    const Args args(specs, argc, argv, first);
    if (args.help()) {
      usage(std::cout, specs);
      return int(kOk);
    }
    Target target = resolve_target(args);
    resolve_token_stream(args, target);
    const auto [host, port] = parse_listen(args.value_or("listen", "127.0.0.1:9464"));
    ConsumerOptions options = target.consumer_options();
    options.group = args.value_or("group", "streamll-exporter");
    options.consumer_name = args.value_or("consumer", default_consumer_name("exporter"));
    const auto refresh = std::chrono::milliseconds(args.duration_ms("refresh").value_or(5000));
    if (refresh.count() <= 0) throw UsageError("--refresh must be positive");
    const auto max_values = args.unsigned_value("max-label-values").value_or(100);
    const auto max_sets = args.unsigned_value("max-label-sets").value_or(500);

    configure_logging();
    preflight(target, /*stream_must_exist=*/false);

    std::mutex metrics_mutex;
    ExporterMetrics metrics(max_values, max_sets);
    std::mutex gauges_mutex;
    GaugeSnapshot not_read_yet;
    not_read_yet.errors.push_back("not read yet");
    std::string gauges_text = render_gauges(not_read_yet, 0);

    GroupConsumer consumer(options);
    consumer.on_any([&](const ConsumedEvent& m) {
      std::lock_guard<std::mutex> lock(metrics_mutex);
      metrics.apply(m.event);
    });
    SkippedEntryReporter skipped("exporter");
    consumer.on_decode_failure(std::ref(skipped));

    httplib::Server server;
    server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
      std::string body;
      {
        std::lock_guard<std::mutex> lock(metrics_mutex);
        PrometheusText text(body);
        metrics.render(text);
      }
      {
        std::lock_guard<std::mutex> lock(gauges_mutex);
        body += gauges_text;
      }
      res.set_content(body, "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("streamll exporter: metrics at /metrics\n", "text/plain; charset=utf-8");
    });
    // A kept-alive scrape connection would hold stop() up to httplib's default of 5 s.
    server.set_keep_alive_timeout(1);
    // SO_REUSEADDR, not httplib's default SO_REUSEPORT: a second exporter on the same port
    // must fail to start, not share the scrapes (each would then read as a counter reset).
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    const int bound = port == 0                         ? server.bind_to_any_port(host)
                      : server.bind_to_port(host, port) ? port
                                                        : -1;
    if (bound <= 0)
      throw UsageError("--listen: cannot listen on " + host + ":" + std::to_string(port));

    std::mutex stop_mutex;
    std::condition_variable stop_cv;
    bool stopping = false;
    StopOnSignal signals([&] {
      consumer.stop();
      server.stop();
      std::lock_guard<std::mutex> lock(stop_mutex);
      stopping = true;
      stop_cv.notify_all();
    });
    std::atomic<bool> http_done{false};
    std::atomic<bool> http_failed{false};
    std::thread http([&] {
      // False when accepting failed (httplib then closes the socket): without /metrics the
      // exporter is of no use, so it stops rather than consume on unseen.
      bool served = false;
      try {
        served = server.listen_after_bind();
      } catch (const std::exception& e) {
        std::cerr << "streamll exporter: HTTP server: " << e.what() << "\n";
      }
      if (!served && !signals.signalled() && !consumer.stopping()) {
        http_failed = true;
        std::cerr << "streamll exporter: the HTTP server stopped accepting connections\n";
        consumer.stop();
      }
      http_done = true;
    });
    std::thread poller([&] {
      std::uint64_t failures = 0;
      std::unique_lock<std::mutex> lock(stop_mutex);
      while (!stopping) {
        lock.unlock();
        try {
          const GaugeSnapshot snapshot = read_gauges(target.source(), target.token_stream);
          for (const auto& e : snapshot.errors) std::cerr << "streamll exporter: " << e << "\n";
          if (!snapshot.errors.empty()) ++failures;
          std::string text = render_gauges(snapshot, failures);
          std::lock_guard<std::mutex> gauges_lock(gauges_mutex);
          gauges_text = std::move(text);
        } catch (const std::exception& e) {  // e.g. bad_alloc
          ++failures;
          std::cerr << "streamll exporter: refresh failed: " << e.what() << "\n";
          try {  // at least the failure shows; if even this fails, the last text stays
            GaugeSnapshot failed;
            failed.errors.push_back(e.what());
            std::string text = render_gauges(failed, failures);
            std::lock_guard<std::mutex> gauges_lock(gauges_mutex);
            gauges_text = std::move(text);
          } catch (const std::exception&) {
          }
        }
        lock.lock();
        stop_cv.wait_for(lock, refresh, [&] { return stopping; });
      }
    });
    std::cerr << "streamll exporter: serving http://" << host << ":" << bound << "/metrics (group '"
              << options.group << "' on stream '" << target.stream << "')" << std::endl;
    // Whatever ends run() (a signal, or an exception such as a login refused after a
    // restart), both threads stop and are joined. httplib's stop() does nothing until
    // listen_after_bind() has started serving, so it is repeated until that thread is done.
    const auto stop_threads = [&] {
      {
        std::lock_guard<std::mutex> lock(stop_mutex);
        stopping = true;
      }
      stop_cv.notify_all();
      while (!http_done) {
        server.stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      http.join();
      poller.join();
    };
    try {
      consumer.run();
    } catch (...) {
      stop_threads();
      throw;
    }
    stop_threads();
    return int(http_failed ? kAlert : kOk);
  });
}

}  // namespace streamll::cli
