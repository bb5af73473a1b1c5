// Validation, display and URL merging of the Redis options. Secrets are never part of a
// message: errors about them name the option only.

#include "streamll/redis/options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <initializer_list>
#include <sstream>

#include "redis/config/connection_target.hpp"
#include "streamll/errors.hpp"

namespace streamll {
namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

void require_positive(const char* option, std::chrono::milliseconds value) {
  if (value.count() <= 0) {
    throw ConfigError(option, "must be positive, got " + std::to_string(value.count()) + "ms");
  }
}

void require_readable_file(const char* option, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), R_OK) != 0) {
    throw ConfigError(option, quoted(path) + " is not a readable file");
  }
}

void require_directory(const char* option, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ConfigError(option, quoted(path) + " is not a directory");
  }
}

std::string secret(const std::string& value) { return value.empty() ? "" : "***"; }

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// Sentinel / cluster / provider settings merged from the URL and the explicit options.
void resolve_topology(const RedisConnectionOptions& o, const ParsedRedisUrl& url,
                      redis::ConnectionTarget& t) {
  const bool sentinel_options = !o.sentinels.empty() || !o.sentinel_master.empty();
  const bool sentinel = sentinel_options || url.deployment == RedisDeployment::sentinel;
  const bool cluster = o.cluster ? *o.cluster : url.deployment == RedisDeployment::cluster;
  if (o.cluster && !*o.cluster && url.deployment == RedisDeployment::cluster) {
    throw ConfigError("cluster", "false contradicts the redis+cluster:// URL");
  }
  if (sentinel && cluster) {
    throw ConfigError("cluster",
                      "cannot be combined with Sentinel (a cluster fails over by itself)");
  }
  if (o.endpoint_provider && (sentinel || cluster)) {
    throw ConfigError("endpoint_provider", std::string("cannot be combined with ") +
                                               (cluster ? "Redis Cluster" : "Sentinel") +
                                               " (each decides where to connect)");
  }
  if (url.is_unix_socket() && (sentinel || cluster || o.endpoint_provider)) {
    throw ConfigError(sentinel  ? "sentinels"
                      : cluster ? "cluster"
                                : "endpoint_provider",
                      "needs a TCP URL, not a unix socket (" + t.display + ")");
  }
  t.provider = o.endpoint_provider;
  if (sentinel) {
    t.deployment = RedisDeployment::sentinel;
    if (!o.sentinels.empty()) {
      for (const auto& s : o.sentinels)
        t.nodes.push_back(parse_redis_endpoint(s, 26379, "sentinels"));
    } else if (url.deployment == RedisDeployment::sentinel) {
      t.nodes = url.nodes;
    }
    t.master_name = !o.sentinel_master.empty() ? o.sentinel_master : url.master_name;
    if (t.nodes.empty())
      throw ConfigError("sentinels", "must list at least one sentinel when sentinel_master is set");
    if (t.master_name.empty())
      throw ConfigError("sentinel_master", "must be set when sentinels are");
  } else if (cluster) {
    t.deployment = RedisDeployment::cluster;
    if (url.deployment == RedisDeployment::cluster) {
      t.nodes = url.nodes;
    } else {
      t.nodes.push_back(RedisEndpoint{url.host, url.port, false});
    }
    if (t.db && *t.db != 0) {
      throw ConfigError("db", "a Redis Cluster has only database 0, got " + std::to_string(*t.db));
    }
  }
  if (!o.sentinel_username.empty() && o.sentinel_password.empty()) {
    throw ConfigError("sentinel_username",
                      quoted(o.sentinel_username) + " is set without a sentinel_password");
  }
  t.sentinel_username = o.sentinel_username;
  t.sentinel_password = o.sentinel_password;
}

void write_connection(std::ostringstream& out, const RedisConnectionOptions& o) {
  out << "url=" << redact_redis_url(o.url) << "\n"
      << "username=" << o.username << "\n"
      << "password=" << secret(o.password) << "\n"
      << "auth_token=" << secret(o.auth_token) << "\n"
      << "db=" << (o.db ? std::to_string(*o.db) : "(from url)") << "\n"
      << "ssl=" << (o.ssl ? (*o.ssl ? "true" : "false") : "(from url)") << "\n"
      << "ssl_cert_reqs=" << to_string(o.ssl_cert_reqs) << "\n"
      << "ssl_ca_file=" << o.ssl_ca_file << "\n"
      << "ssl_ca_dir=" << o.ssl_ca_dir << "\n"
      << "ssl_cert_file=" << o.ssl_cert_file << "\n"
      << "ssl_key_file=" << o.ssl_key_file << "\n"
      << "ssl_server_name=" << o.ssl_server_name << "\n"
      << "connect_timeout=" << ms(o.connect_timeout) << "\n"
      << "socket_timeout=" << ms(o.socket_timeout) << "\n"
      << "max_connections=" << o.max_connections << "\n"
      << "client_name=" << o.client_name << "\n"
      << "environment.username=" << o.environment.username << "\n"
      << "environment.password=" << secret(o.environment.password) << "\n"
      << "environment.auth_token=" << secret(o.environment.auth_token) << "\n"
      << "environment.db=" << (o.environment.db ? std::to_string(*o.environment.db) : "") << "\n"
      << "environment.ssl=" << (o.environment.ssl ? (*o.environment.ssl ? "true" : "false") : "")
      << "\n"
      << "endpoint_provider=" << (o.endpoint_provider ? "(set)" : "") << "\n"
      << "sentinels=" << join(o.sentinels) << "\n"
      << "sentinel_master=" << o.sentinel_master << "\n"
      << "sentinel_username=" << o.sentinel_username << "\n"
      << "sentinel_password=" << secret(o.sentinel_password) << "\n"
      << "cluster=" << (o.cluster ? (*o.cluster ? "true" : "false") : "(from url)") << "\n";
}

}  // namespace

std::string_view to_string(SslCertReqs reqs) noexcept {
  switch (reqs) {
    case SslCertReqs::none:
      return "none";
    case SslCertReqs::optional:
      return "optional";
    case SslCertReqs::required:
      return "required";
  }
  return "required";
}

void RedisConnectionOptions::validate() const { (void)redis::resolve_connection(*this); }

// An event's envelope (id, type, timestamp, ids, keys) alone takes a few hundred bytes: a
// smaller limit would fail ordinary events rather than cut long ones.
constexpr std::size_t kMinMaxEventBytes = 1024;
constexpr std::chrono::milliseconds kMinHeartbeatInterval{100};
// Longer would outlive a producer's index entry (24 h), and overflow the clock's arithmetic.
constexpr std::chrono::milliseconds kMaxHeartbeatInterval{std::chrono::hours(1)};

void RedisSinkOptions::validate() const {
  connection.validate();
  if (stream_key.empty()) throw ConfigError("stream_key", "must not be empty");
  if (buffer_size == 0) throw ConfigError("buffer_size", "must be at least 1, got 0");
  if (max_batch_size == 0) throw ConfigError("max_batch_size", "must be at least 1, got 0");
  if (max_batch_size > buffer_size) {
    throw ConfigError("max_batch_size", "must not exceed buffer_size (" +
                                            std::to_string(buffer_size) + "), got " +
                                            std::to_string(max_batch_size));
  }
  if (failure_threshold == 0) throw ConfigError("failure_threshold", "must be at least 1, got 0");
  require_positive("recovery_timeout", recovery_timeout);
  require_positive("flush_interval", flush_interval);
  require_positive("shutdown_timeout", shutdown_timeout);
  if (min_replicas_ack > 0) require_positive("replicas_ack_timeout", replicas_ack_timeout);
  if (max_stream_length && *max_stream_length == 0) {
    throw ConfigError("max_stream_length",
                      "must be at least 1, got 0 (use std::nullopt for no trimming)");
  }
  if (!token_stream_key.empty()) {
    if (token_stream_key == stream_key) {
      throw ConfigError("token_stream_key",
                        "must differ from stream_key ('" + stream_key +
                            "'); leave it empty to keep token events in stream_key");
    }
    if (token_max_stream_length && *token_max_stream_length == 0) {
      throw ConfigError("token_max_stream_length",
                        "must be at least 1, got 0 (use std::nullopt for no trimming)");
    }
  }
  if (max_event_bytes > 0 && max_event_bytes < kMinMaxEventBytes) {
    throw ConfigError("max_event_bytes", "must be 0 (no limit) or at least " +
                                             std::to_string(kMinMaxEventBytes) + ", got " +
                                             std::to_string(max_event_bytes));
  }
  if (heartbeat_interval.count() < 0 ||
      (heartbeat_interval.count() > 0 && (heartbeat_interval < kMinHeartbeatInterval ||
                                          heartbeat_interval > kMaxHeartbeatInterval))) {
    throw ConfigError("heartbeat_interval", "must be 0 (off) or from " + ms(kMinHeartbeatInterval) +
                                                " to " + ms(kMaxHeartbeatInterval) + ", got " +
                                                ms(heartbeat_interval));
  }
}

std::string to_string(const RedisConnectionOptions& options) {
  std::ostringstream out;
  write_connection(out, options);
  return out.str();
}

std::string to_string(const RedisSinkOptions& o) {
  std::ostringstream out;
  write_connection(out, o.connection);
  out << "stream_key=" << o.stream_key << "\n"
      << "buffer_size=" << o.buffer_size << "\n"
      << "circuit_breaker=" << (o.circuit_breaker ? "true" : "false") << "\n"
      << "failure_threshold=" << o.failure_threshold << "\n"
      << "recovery_timeout=" << ms(o.recovery_timeout) << "\n"
      << "max_batch_size=" << o.max_batch_size << "\n"
      << "flush_interval=" << ms(o.flush_interval) << "\n"
      << "max_stream_length="
      << (o.max_stream_length ? std::to_string(*o.max_stream_length) : "none") << "\n"
      << "approximate_trimming=" << (o.approximate_trimming ? "true" : "false") << "\n"
      << "buffer_overflow_strategy=" << to_string(o.buffer_overflow_strategy) << "\n"
      << "consumer_group=" << o.consumer_group << "\n"
      << "consumer_name=" << o.consumer_name << "\n"
      << "index_fields=" << (o.index_fields ? "true" : "false") << "\n"
      << "shutdown_timeout=" << ms(o.shutdown_timeout) << "\n"
      << "min_replicas_ack=" << o.min_replicas_ack << "\n"
      << "replicas_ack_timeout=" << ms(o.replicas_ack_timeout) << "\n"
      << "max_event_bytes=" << o.max_event_bytes << "\n"
      << "token_stream_key=" << o.token_stream_key << "\n"
      << "token_max_stream_length="
      << (o.token_max_stream_length ? std::to_string(*o.token_max_stream_length) : "none") << "\n"
      << "redact=" << (o.redact ? "set" : "none") << "\n"
      << "heartbeat_interval=" << ms(o.heartbeat_interval) << "\n";
  return out.str();
}

namespace redis {

void require_one_connection(const char* option, std::size_t value) {
  if (value == 1) return;
  throw ConfigError(option, "must be 1, got " + std::to_string(value) +
                                ": streamll uses one connection per sink (its one flusher thread "
                                "pipelines every write) and per consumer; a pool would not add "
                                "throughput and would reorder events. Leave it unset");
}

ConnectionTarget resolve_connection(const RedisConnectionOptions& o) {
  const ParsedRedisUrl url = parse_redis_url(o.url);
  ConnectionTarget t;
  t.host = url.host;
  t.port = url.port;
  t.socket_path = url.socket_path;
  t.display = redact_redis_url(o.url);

  if (!o.password.empty() && !o.auth_token.empty() && o.password != o.auth_token) {
    throw ConfigError(
        "auth_token",
        "password and auth_token are both set and differ (they mean the same; set one)");
  }
  const auto first_set = [](std::initializer_list<const std::string*> candidates) {
    for (const std::string* value : candidates) {
      if (!value->empty()) return *value;
    }
    return std::string();
  };
  // The fields, then the URL's parts, then what from_env() read.
  const auto& env = o.environment;
  t.username = first_set({&o.username, &url.username, &env.username});
  t.password =
      first_set({&o.password, &o.auth_token, &url.password, &env.password, &env.auth_token});
  if (!t.username.empty() && t.password.empty()) {
    throw ConfigError("username", quoted(t.username) + " is set without a password");
  }

  if (o.db && *o.db < 0)
    throw ConfigError("db", "must not be negative, got " + std::to_string(*o.db));
  t.db = o.db ? o.db : url.db ? url.db : env.db;

  if (o.ssl && !*o.ssl && url.tls) {
    throw ConfigError("ssl", "false contradicts the rediss:// URL (which means TLS)");
  }
  t.tls = url.tls || (o.ssl ? *o.ssl : env.ssl.value_or(false));
  if (t.tls && url.is_unix_socket()) {
    throw ConfigError("ssl", "TLS is not supported over a unix socket (" + t.display + ")");
  }

  require_positive("connect_timeout", o.connect_timeout);
  require_positive("socket_timeout", o.socket_timeout);
  require_one_connection("max_connections", o.max_connections);

  t.cert_reqs = o.ssl_cert_reqs;
  t.ca_file = o.ssl_ca_file;
  t.ca_dir = o.ssl_ca_dir;
  t.cert_file = o.ssl_cert_file;
  t.key_file = o.ssl_key_file;
  t.server_name = o.ssl_server_name.empty() ? url.host : o.ssl_server_name;
  if (t.tls) {
    if (t.cert_reqs != SslCertReqs::none) {
      if (!t.ca_file.empty()) require_readable_file("ssl_ca_file", t.ca_file);
      if (!t.ca_dir.empty()) require_directory("ssl_ca_dir", t.ca_dir);
    }
    if (t.cert_file.empty() != t.key_file.empty()) {
      throw ConfigError(t.cert_file.empty() ? "ssl_cert_file" : "ssl_key_file",
                        "mutual TLS needs both ssl_cert_file and ssl_key_file");
    }
    if (!t.cert_file.empty()) require_readable_file("ssl_cert_file", t.cert_file);
    if (!t.key_file.empty()) require_readable_file("ssl_key_file", t.key_file);
  }
  t.connect_timeout = o.connect_timeout;
  t.socket_timeout = o.socket_timeout;
  for (char c : o.client_name) {
    if (c <= ' ' || c > '~') {
      throw ConfigError("client_name",
                        quoted(o.client_name) + " must not contain spaces or control characters");
    }
  }
  t.client_name = o.client_name;
  t.server_name_explicit = !o.ssl_server_name.empty();
  resolve_topology(o, url, t);
  return t;
}

ConnectionTarget ConnectionTarget::at(const RedisEndpoint& endpoint) const {
  ConnectionTarget t = *this;
  t.host = endpoint.host;
  t.port = endpoint.port;
  t.socket_path.clear();
  if (!server_name_explicit) t.server_name = endpoint.host;
  t.display = endpoint.to_string();
  t.provider = nullptr;
  t.nodes.clear();
  t.deployment = RedisDeployment::standalone;
  return t;
}

}  // namespace redis
}  // namespace streamll
