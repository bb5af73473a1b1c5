// RedisConnectionOptions::from_env / RedisSinkOptions::from_env. Unset and empty variables
// leave the default; malformed values throw ConfigError naming the variable and the value
// (the secret variables are copied verbatim, never parsed, so never echoed).

#include <cctype>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "env_variables.hpp"
#include "redis/config/connection_target.hpp"
#include "redis/config/env_list.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/options.hpp"
#include "streamll/redis/url.hpp"

namespace streamll {
namespace {

class Env {
 public:
  explicit Env(const EnvLookup& lookup) : lookup_(lookup) {
    // Only the process environment can be listed; a custom lookup is asked by name alone.
    if (!lookup_) detail::warn_unknown_streamll_variables();
  }

  std::optional<std::string> get(const char* name) const { return redis::read_env(lookup_, name); }

  void string(const char* name, std::string& field) const {
    if (auto v = get(name)) field = std::move(*v);
  }

  void boolean(const char* name, bool& field) const {
    if (auto v = get(name)) field = parse_bool(name, *v);
  }

  void optional_boolean(const char* name, std::optional<bool>& field) const {
    if (auto v = get(name)) field = parse_bool(name, *v);
  }

  void size(const char* name, std::size_t& field) const {
    if (auto v = get(name)) field = static_cast<std::size_t>(parse_uint(name, *v));
  }

  void millis(const char* name, std::chrono::milliseconds& field) const {
    if (auto v = get(name)) field = std::chrono::milliseconds(parse_uint(name, *v));
  }

  static bool parse_bool(const char* name, const std::string& value) {
    std::string lower;
    for (char c : value)
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
    throw ConfigError(name, "'" + value + "' is not a boolean (true/false/1/0/yes/no/on/off)");
  }

  static unsigned long long parse_uint(const char* name, const std::string& value) {
    unsigned long long v = 0;
    bool ok = !value.empty() && value.size() <= 19;
    for (char c : value) {
      if (c < '0' || c > '9') {
        ok = false;
        break;
      }
      v = v * 10 + static_cast<unsigned long long>(c - '0');
    }
    if (!ok || v > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
      throw ConfigError(name, "'" + value + "' is not a non-negative integer");
    }
    return v;
  }

 private:
  const EnvLookup& lookup_;
};

SslCertReqs parse_cert_reqs(const char* name, const std::string& value) {
  if (value == "none") return SslCertReqs::none;
  if (value == "optional") return SslCertReqs::optional;
  if (value == "required") return SslCertReqs::required;
  throw ConfigError(name, "'" + value + "' is not one of none, optional, required");
}

// The URL checked now, so that the error names the variable it came from (validate() can only
// name the option); the message quotes the URL with its password redacted.
std::string checked_url(const char* name, const std::string& url) {
  try {
    (void)parse_redis_url(url);
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    const std::size_t skip = e.option().size() + 2;  // "<option>: "
    throw ConfigError(name, what.size() >= skip ? what.substr(skip) : what);
  }
  return url;
}

void read_connection_env(const Env& env, RedisConnectionOptions& o) {
  if (auto v = env.get("REDIS_URL")) o.url = checked_url("REDIS_URL", *v);
  env.string("REDIS_USERNAME", o.environment.username);
  env.string("REDIS_PASSWORD", o.environment.password);
  env.string("REDIS_AUTH_TOKEN", o.environment.auth_token);
  if (auto v = env.get("REDIS_DB")) {
    const auto db = Env::parse_uint("REDIS_DB", *v);
    if (db > static_cast<unsigned long long>(std::numeric_limits<int>::max())) {
      throw ConfigError("REDIS_DB", "'" + *v + "' is out of range");
    }
    o.environment.db = static_cast<int>(db);
  }
  env.optional_boolean("REDIS_SSL", o.environment.ssl);
  if (!o.environment.password.empty() && !o.environment.auth_token.empty() &&
      o.environment.password != o.environment.auth_token) {
    throw ConfigError("REDIS_AUTH_TOKEN",
                      "differs from REDIS_PASSWORD (they mean the same; set one)");
  }
  if (auto v = env.get("REDIS_SSL_CERT_REQS"))
    o.ssl_cert_reqs = parse_cert_reqs("REDIS_SSL_CERT_REQS", *v);
  env.string("REDIS_SSL_CA_FILE", o.ssl_ca_file);
  env.string("REDIS_SSL_CA_DIR", o.ssl_ca_dir);
  env.string("REDIS_SSL_CERT_FILE", o.ssl_cert_file);
  env.string("REDIS_SSL_KEY_FILE", o.ssl_key_file);
  env.string("REDIS_SSL_SERVER_NAME", o.ssl_server_name);
  env.millis("REDIS_CONNECT_TIMEOUT_MS", o.connect_timeout);
  env.millis("REDIS_SOCKET_TIMEOUT_MS", o.socket_timeout);
  env.size("REDIS_MAX_CONNECTIONS", o.max_connections);
  redis::require_one_connection("REDIS_MAX_CONNECTIONS", o.max_connections);
  if (auto v = env.get("REDIS_SENTINELS")) {
    o.sentinels = redis::split_comma_list(*v);
    for (const auto& item : o.sentinels) {
      if (item.empty()) throw ConfigError("REDIS_SENTINELS", "'" + *v + "' has an empty entry");
      (void)parse_redis_endpoint(item, 26379, "REDIS_SENTINELS");
    }
  }
  env.string("REDIS_SENTINEL_MASTER", o.sentinel_master);
  env.string("REDIS_SENTINEL_USERNAME", o.sentinel_username);
  env.string("REDIS_SENTINEL_PASSWORD", o.sentinel_password);
  env.optional_boolean("REDIS_CLUSTER", o.cluster);
  if (auto v = env.get("REDIS_CLUSTER_ENDPOINT")) {
    if (env.get("REDIS_URL")) {
      throw ConfigError("REDIS_CLUSTER_ENDPOINT", "is set beside REDIS_URL; set one of them");
    }
    const RedisEndpoint endpoint = parse_redis_endpoint(*v, 6379, "REDIS_CLUSTER_ENDPOINT");
    o.url = "redis://" + endpoint.to_string();
    if (!o.cluster) o.cluster = true;
  }
}

// A stream length: a number, or "none" / "0" for no trimming.
void read_stream_length(const Env& env, const char* name, std::optional<std::size_t>& out) {
  const auto v = env.get(name);
  if (!v) return;
  std::string lower;
  for (char c : *v) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "none" || lower == "0") {
    out.reset();
  } else {
    out = static_cast<std::size_t>(Env::parse_uint(name, *v));
  }
}

}  // namespace

RedisConnectionOptions RedisConnectionOptions::from_env(const EnvLookup& lookup) {
  RedisConnectionOptions o;
  read_connection_env(Env(lookup), o);
  return o;
}

RedisSinkOptions RedisSinkOptions::from_env(const EnvLookup& lookup) {
  const Env env(lookup);
  RedisSinkOptions o;
  read_connection_env(env, o.connection);
  env.string("STREAMLL_STREAM_KEY", o.stream_key);
  env.size("STREAMLL_BUFFER_SIZE", o.buffer_size);
  env.boolean("STREAMLL_CIRCUIT_BREAKER", o.circuit_breaker);
  env.size("STREAMLL_FAILURE_THRESHOLD", o.failure_threshold);
  env.millis("STREAMLL_RECOVERY_TIMEOUT_MS", o.recovery_timeout);
  env.size("STREAMLL_MAX_BATCH_SIZE", o.max_batch_size);
  env.millis("STREAMLL_FLUSH_INTERVAL_MS", o.flush_interval);
  read_stream_length(env, "STREAMLL_MAX_STREAM_LENGTH", o.max_stream_length);
  env.string("STREAMLL_TOKEN_STREAM_KEY", o.token_stream_key);
  read_stream_length(env, "STREAMLL_TOKEN_MAX_STREAM_LENGTH", o.token_max_stream_length);
  env.boolean("STREAMLL_APPROXIMATE_TRIMMING", o.approximate_trimming);
  if (auto v = env.get("STREAMLL_BUFFER_OVERFLOW_STRATEGY")) {
    const auto strategy = try_parse_overflow_strategy(*v);
    if (!strategy) {
      throw ConfigError("STREAMLL_BUFFER_OVERFLOW_STRATEGY",
                        "'" + *v + "' is not one of drop_oldest, drop_newest, raise_error");
    }
    o.buffer_overflow_strategy = *strategy;
  }
  env.string("STREAMLL_CONSUMER_GROUP", o.consumer_group);
  env.string("STREAMLL_CONSUMER_NAME", o.consumer_name);
  env.boolean("STREAMLL_INDEX_FIELDS", o.index_fields);
  env.millis("STREAMLL_SHUTDOWN_TIMEOUT_MS", o.shutdown_timeout);
  env.size("STREAMLL_MIN_REPLICAS_ACK", o.min_replicas_ack);
  env.millis("STREAMLL_REPLICAS_ACK_TIMEOUT_MS", o.replicas_ack_timeout);
  env.size("STREAMLL_MAX_EVENT_BYTES", o.max_event_bytes);
  env.millis("STREAMLL_HEARTBEAT_INTERVAL_MS", o.heartbeat_interval);
  return o;
}

}  // namespace streamll
