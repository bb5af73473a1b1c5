#include "cli/common.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "streamll/errors.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll::cli {

std::vector<OptionSpec> connection_option_specs() {
  return {
      {"url", "URL", "Redis URL (default: $REDIS_URL, else redis://localhost:6379); password from $REDIS_PASSWORD"},
      {"stream", "KEY", "stream key (default: $STREAMLL_STREAM_KEY, else ml_events)"},
      {"db", "N", "database to SELECT (overrides the URL's)"},
      {"user", "NAME", "ACL user name (default: $REDIS_USERNAME or the URL's)"},
      {"tls", "", "use TLS even with a redis:// URL (rediss:// always does)"},
      {"tls-ca-file", "FILE", "PEM CA bundle to verify the server with"},
      {"tls-ca-dir", "DIR", "OpenSSL hashed CA directory"},
      {"tls-cert-file", "FILE", "client certificate (mutual TLS)"},
      {"tls-key-file", "FILE", "client private key (mutual TLS)"},
      {"tls-server-name", "NAME", "SNI and expected certificate name (default: the URL's host)"},
      {"tls-verify", "MODE", "required (default), optional (chain only) or none"},
      {"connect-timeout", "DURATION", "bound on connecting (default 2s)"},
      {"timeout", "DURATION", "bound on one command round trip (default 2s)"},
  };
}

Target resolve_target(const Args& args) {
  Target t;
  t.connection = RedisConnectionOptions::from_env();
  t.connection.client_name = "streamll-cli";
  if (auto v = args.value("url")) t.connection.url = *v;
  if (auto v = args.unsigned_value("db")) {
    if (*v > 1000000) throw UsageError("--db: " + std::to_string(*v) + " is out of range");
    t.connection.db = static_cast<int>(*v);
  }
  if (auto v = args.value("user")) t.connection.username = *v;
  if (args.flag("tls")) t.connection.ssl = true;
  if (auto v = args.value("tls-ca-file")) t.connection.ssl_ca_file = *v;
  if (auto v = args.value("tls-ca-dir")) t.connection.ssl_ca_dir = *v;
  if (auto v = args.value("tls-cert-file")) t.connection.ssl_cert_file = *v;
  if (auto v = args.value("tls-key-file")) t.connection.ssl_key_file = *v;
  if (auto v = args.value("tls-server-name")) t.connection.ssl_server_name = *v;
  if (auto v = args.value("tls-verify")) {
    if (*v == "required") t.connection.ssl_cert_reqs = SslCertReqs::required;
    else if (*v == "optional") t.connection.ssl_cert_reqs = SslCertReqs::optional;
    else if (*v == "none") t.connection.ssl_cert_reqs = SslCertReqs::none;
    else throw UsageError("--tls-verify: '" + *v + "' is not required, optional or none");
  }
  if (auto v = args.duration_ms("connect-timeout")) t.connection.connect_timeout = std::chrono::milliseconds(*v);
  if (auto v = args.duration_ms("timeout")) t.connection.socket_timeout = std::chrono::milliseconds(*v);
  const char* env_stream = std::getenv("STREAMLL_STREAM_KEY");
  t.stream = args.value_or("stream", env_stream && *env_stream ? env_stream : "ml_events");
  if (t.stream.empty()) throw UsageError("--stream must not be empty");
  t.connection.validate();
  return t;
}

std::unique_ptr<redis::RedisTransport> preflight(const Target& target, bool stream_must_exist) {
  auto transport = redis::make_socket_transport(target.connection);
  transport->connect();
  redis::throw_if_error(transport->command({"PING"}), "PING");
  if (stream_must_exist) {
    const redis::RedisReply type = transport->command({"TYPE", target.stream});
    redis::throw_if_error(type, "TYPE");
    if (type.text == "none") {
      throw redis::StreamNotFoundError("stream '" + target.stream + "' does not exist on " + transport->describe());
    }
    if (type.text != "stream") {
      throw redis::ReplyError("WRONGTYPE key '" + target.stream + "' holds a " + type.text + ", not a stream");
    }
  }
  return transport;
}

int report_error(const std::string& command, const std::exception& error) {
  int code = 1;
  std::string prefix;
  if (dynamic_cast<const UsageError*>(&error)) {
    code = kUsage;
  } else if (dynamic_cast<const ConfigError*>(&error)) {
    code = kUsage;
  } else if (dynamic_cast<const redis::AuthError*>(&error)) {
    code = kAuthFailed;
  } else if (dynamic_cast<const redis::StreamNotFoundError*>(&error)) {
    code = kNoStream;
  } else if (dynamic_cast<const redis::IoError*>(&error)) {
    code = kUnreachable;
    prefix = "cannot reach Redis: ";
  } else if (dynamic_cast<const redis::ReplyError*>(&error)) {
    code = kRefused;
    prefix = "Redis refused: ";
  }
  std::string message = prefix + error.what();
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';  // one line, always
  }
  std::cerr << "streamll " << command << ": " << message << "\n";
  if (code == kUsage && dynamic_cast<const UsageError*>(&error)) {
    std::cerr << "(see streamll " << command << " --help)\n";
  }
  return code;
}

int guarded(const std::string& command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return report_error(command, e);
  }
}

void configure_logging() {
  for (const char* name : {"streamll.consumer", "streamll.sinks.redis", "streamll"}) {
    if (spdlog::get(name)) continue;
    auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("streamll: %l: %v");
    logger->set_level(spdlog::level::warn);
    try {
      spdlog::register_logger(logger);
    } catch (...) {
    }
  }
}

StopOnSignal::StopOnSignal(std::function<void()> on_signal) : on_signal_(std::move(on_signal)) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // our own wake-up at destruction
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this, set] {
    for (;;) {
      int signal = 0;
      if (sigwait(&set, &signal) != 0) continue;
      if (done_.load()) return;
      if (signal == SIGUSR1) continue;
      signalled_.store(true);
      if (on_signal_) on_signal_();
    }
  });
}

StopOnSignal::~StopOnSignal() {
  done_.store(true);
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

std::string default_consumer_name(const std::string& prefix) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return prefix + "-" + host + "-" + std::to_string(::getpid());
}

bool stderr_is_terminal() noexcept { return ::isatty(2) == 1; }

}  // namespace streamll::cli
