#include "cli/common.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string_view>

#include <nlohmann/json.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "redis/routing/query_connection.hpp"
#include "redis/routing/shard_layout.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/errors.hpp"
#include "streamll/redis/url.hpp"
#include "streamll/sinks/sharded_redis_sink.hpp"

namespace streamll::cli {

std::vector<OptionSpec> connection_option_specs() {
  return {
      {"url", "URL",
       "Redis URL (default: $REDIS_URL, else redis://localhost:6379); password from "
       "$REDIS_PASSWORD"},
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
      {"shard-url", "URL",
       "a shard of a sharded deployment (shard i reads <stream>_shard_<i>); repeatable, in shard "
       "order (default: $STREAMLL_SHARD_URLS)",
       true},
      {"shard-count", "N",
       "N shard streams <stream>_shard_0.. on the deployment --url names, e.g. a cluster (default: "
       "$STREAMLL_SHARD_COUNT)"},
  };
}

OptionSpec token_stream_option_spec() {
  return {"token-stream", "KEY",
          "token events' own stream, as the sink's token_stream_key (default: "
          "$STREAMLL_TOKEN_STREAM_KEY, else none: tokens are in --stream)"};
}

void resolve_token_stream(const Args& args, Target& target) {
  const char* env_token_stream = std::getenv("STREAMLL_TOKEN_STREAM_KEY");
  target.token_stream = args.value_or("token-stream", env_token_stream ? env_token_stream : "");
  if (target.token_stream == target.stream) {
    throw UsageError("--token-stream must differ from --stream ('" + target.stream + "')");
  }
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
    if (*v == "required")
      t.connection.ssl_cert_reqs = SslCertReqs::required;
    else if (*v == "optional")
      t.connection.ssl_cert_reqs = SslCertReqs::optional;
    else if (*v == "none")
      t.connection.ssl_cert_reqs = SslCertReqs::none;
    else
      throw UsageError("--tls-verify: '" + *v + "' is not required, optional or none");
  }
  if (auto v = args.duration_ms("connect-timeout"))
    t.connection.connect_timeout = std::chrono::milliseconds(*v);
  if (auto v = args.duration_ms("timeout"))
    t.connection.socket_timeout = std::chrono::milliseconds(*v);
  const char* env_stream = std::getenv("STREAMLL_STREAM_KEY");
  t.stream = args.value_or("stream", env_stream && *env_stream ? env_stream : "ml_events");
  if (t.stream.empty()) throw UsageError("--stream must not be empty");
  redis::read_shard_env({}, t.shard_urls, t.shard_count);
  const auto shard_count = args.unsigned_value("shard-count");
  if (const auto urls = args.values("shard-url"); !urls.empty()) {
    t.shard_urls = urls;
    t.shard_count = 0;  // the command line's list decides
  } else if (shard_count || args.value("url")) {
    // The command line names the deployment: the environment's list of shard servers is
    // about another one.
    t.shard_urls.clear();
  }
  if (shard_count) {
    if (*shard_count > redis::kMaxShards)
      throw UsageError("--shard-count must be at most " + std::to_string(redis::kMaxShards));
    t.shard_count = static_cast<std::size_t>(*shard_count);  // 0: not sharded
  }
  t.source().validate();
  return t;
}

ShardedStream Target::source() const {
  ShardedStream s;
  s.connection = connection;
  s.stream = stream;
  s.shard_urls = shard_urls;
  s.shard_count = shard_count;
  return s;
}

ConsumerOptions Target::consumer_options() const {
  ConsumerOptions o;
  o.connection = connection;
  o.stream_key = stream;
  o.token_stream_key = token_stream;
  o.shard_urls = shard_urls;
  o.shard_count = shard_count;
  return o;
}

namespace {

// PING, and TYPE when the stream must exist; returns whether it does.
bool check_stream(const RedisConnectionOptions& connection, const std::string& stream) {
  bool exists = false;
  redis::run_query(connection, stream, [&](redis::RedisTransport& t) {
    redis::throw_if_error(t.command({"PING"}), "PING");
    const redis::RedisReply type = t.command({"TYPE", stream});
    redis::throw_if_error(type, "TYPE");
    if (type.text != "none" && type.text != "stream") {
      throw ReplyError("WRONGTYPE key '" + stream + "' holds a " + type.text + ", not a stream");
    }
    exists = type.text == "stream";
  });
  return exists;
}

}  // namespace

bool preflight(const Target& target, bool stream_must_exist) {
  if (!target.sharded()) {
    const bool exists = check_stream(target.connection, target.stream);
    // The token stream may not exist yet (token modes summary and off write none), but one
    // that cannot be read (NOPERM, WRONGTYPE) must not pass for empty.
    if (!target.token_stream.empty()) (void)check_stream(target.connection, target.token_stream);
    if (!exists && stream_must_exist) {
      throw StreamNotFoundError("stream '" + target.stream + "' does not exist on " +
                                redact_redis_url(target.connection.url));
    }
    return exists;
  }
  const ShardedStream source = target.source();
  const std::size_t n = redis::shard_total(source.shard_urls, source.shard_count);
  std::exception_ptr first_error;
  bool reached = false;
  bool exists = false;
  for (std::size_t i = 0; i < n; ++i) {
    RedisConnectionOptions shard = source.connection;
    if (!source.shard_urls.empty()) shard.url = source.shard_urls[i];
    try {
      exists = check_stream(shard, shard_stream_key(source.stream, i)) || exists;
      if (!target.token_stream.empty()) {
        (void)check_stream(shard, shard_stream_key(target.token_stream, i));
      }
      reached = true;
    } catch (const AuthError&) {
      throw;  // a refused login is a configuration mistake, not an outage
    } catch (const IoError&) {
      if (!first_error) first_error = std::current_exception();
    } catch (const ReplyError& e) {
      // A shard that cannot serve right now (LOADING, MASTERDOWN, BUSY) is an outage of that
      // shard, which the consumer rides out; a stream key of the wrong type or a missing
      // permission is a mistake in every shard's setup.
      if (e.prefix() == "WRONGTYPE" || e.prefix() == "NOPERM") throw;
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (!reached) std::rethrow_exception(first_error);
  if (stream_must_exist && !exists) {
    throw StreamNotFoundError("no shard of stream '" + source.stream + "' exists (" +
                              shard_stream_key(source.stream, 0) + " .. " +
                              shard_stream_key(source.stream, n - 1) + ")");
  }
  return exists;
}

bool report_disconnected_shards(const std::string& command, const Target& target,
                                const std::vector<ConsumerStats>& shards) {
  // One stream is reported by the command's own error; a shard's pair of streams here.
  if (!target.sharded() && target.token_stream.empty()) return true;
  const auto streams_of = [&target](std::size_t i) {
    std::string names = target.sharded() ? shard_stream_key(target.stream, i) : target.stream;
    if (!target.token_stream.empty()) {
      names += "', '";
      names += target.sharded() ? shard_stream_key(target.token_stream, i) : target.token_stream;
    }
    return names;
  };
  bool all = true;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    // A shard never tried (the command had its --count from the shards before it) did not
    // fail.
    if (shards[i].connected || (shards[i].last_error.empty() && shards[i].transport_errors == 0))
      continue;
    all = false;
    std::cerr << "streamll " << command << ": "
              << (target.sharded() ? "shard " + std::to_string(i) + " " : std::string()) << "('"
              << streams_of(i) << "') was not connected at the end: "
              << (shards[i].last_error.empty() ? "never connected" : shards[i].last_error) << "\n";
  }
  return all;
}

std::string describe_unavailable_shard(const ShardStatus& s) {
  if (s.ok) return {};
  std::string error = s.error;
  for (char& c : error) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "shard " + std::to_string(s.shard) + " ('" + s.stream + "' on " + s.server +
         ") could not be read: " + error + "\n";
}

namespace {

std::string one_line(std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

}  // namespace

const char* exit_code_kind(int code) noexcept {
  switch (code) {
    case kUnreachable:
      return "unreachable";
    case kAuthFailed:
      return "auth_failed";
    case kNoStream:
      return "stream_missing";
    case kRefused:
      return "refused";
    case kUsage:
      return "usage";
    default:
      return "error";
  }
}

int report_error(const std::string& command, const std::exception& error) {
  int code = 1;
  std::string prefix;
  if (dynamic_cast<const UsageError*>(&error)) {
    code = kUsage;
  } else if (dynamic_cast<const ConfigError*>(&error)) {
    code = kUsage;
  } else if (dynamic_cast<const AuthError*>(&error)) {
    code = kAuthFailed;
  } else if (dynamic_cast<const StreamNotFoundError*>(&error)) {
    code = kNoStream;
  } else if (dynamic_cast<const IoError*>(&error)) {
    code = kUnreachable;
    prefix = "cannot reach Redis: ";
  } else if (dynamic_cast<const ReplyError*>(&error)) {
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

int guarded(const std::string& command, const std::function<int()>& body, const bool* json_output,
            const std::function<int(int)>& map_code) {
  try {
    return body();
  } catch (const std::exception& e) {
    int code = report_error(command, e);
    if (map_code) code = map_code(code);
    if (json_output && *json_output) {
      const nlohmann::json j = {
          {"error",
           {{"kind", exit_code_kind(code)}, {"message", one_line(e.what())}, {"exit_code", code}}}};
      std::cout << j.dump(2) << "\n" << std::flush;
    }
    return code;
  }
}

bool json_requested(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--json") return true;
  }
  return false;
}

void configure_logging() {
  for (const char* name : {"streamll.consumer", "streamll.sinks.redis", "streamll"}) {
    if (spdlog::get(name)) continue;
    auto logger =
        std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
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
