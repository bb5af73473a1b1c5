// Validation, display and URL merging of the Redis options. Secrets are never part of a
// message: errors about them name the option only.

#include "streamll/redis/options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <initializer_list>
#include <sstream>

#include "redis/connection_target.hpp"
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
      << "environment.ssl="
      << (o.environment.ssl ? (*o.environment.ssl ? "true" : "false") : "") << "\n";
}

}  // namespace

std::string_view to_string(SslCertReqs reqs) noexcept {
  switch (reqs) {
    case SslCertReqs::none: return "none";
    case SslCertReqs::optional: return "optional";
    case SslCertReqs::required: return "required";
  }
  return "required";
}

void RedisConnectionOptions::validate() const { (void)redis::resolve_connection(*this); }

void RedisSinkOptions::validate() const {
  RedisConnectionOptions::validate();
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
  if (max_stream_length && *max_stream_length == 0) {
    throw ConfigError("max_stream_length",
                      "must be at least 1, got 0 (use std::nullopt for no trimming)");
  }
}

std::string to_string(const RedisConnectionOptions& options) {
  std::ostringstream out;
  write_connection(out, options);
  return out.str();
}

std::string to_string(const RedisSinkOptions& o) {
  std::ostringstream out;
  write_connection(out, o);
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
      << "shutdown_timeout=" << ms(o.shutdown_timeout) << "\n";
  return out.str();
}

namespace redis {

ConnectionTarget resolve_connection(const RedisConnectionOptions& o) {
  const ParsedRedisUrl url = parse_redis_url(o.url);
  ConnectionTarget t;
  t.host = url.host;
  t.port = url.port;
  t.socket_path = url.socket_path;
  t.display = redact_redis_url(o.url);

  if (!o.password.empty() && !o.auth_token.empty() && o.password != o.auth_token) {
    throw ConfigError("auth_token",
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
  t.password = first_set({&o.password, &o.auth_token, &url.password, &env.password, &env.auth_token});
  if (!t.username.empty() && t.password.empty()) {
    throw ConfigError("username", quoted(t.username) + " is set without a password");
  }

  if (o.db && *o.db < 0) throw ConfigError("db", "must not be negative, got " + std::to_string(*o.db));
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
  if (o.max_connections == 0) throw ConfigError("max_connections", "must be at least 1, got 0");

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
      throw ConfigError("client_name", quoted(o.client_name) + " must not contain spaces or control characters");
    }
  }
  t.client_name = o.client_name;
  return t;
}

}  // namespace redis
}  // namespace streamll
