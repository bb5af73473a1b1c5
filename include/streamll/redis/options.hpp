#pragma once
// Settings for talking to Redis (RedisConnectionOptions, shared by the sink and the consumers)
// and for the RedisSink (RedisSinkOptions, which holds its RedisConnectionOptions as
// `connection`). Plain aggregates with documented defaults:
//
//   streamll::RedisSinkOptions o;                 // or RedisSinkOptions::from_env()
//   o.connection.url = "rediss://cache.example.com:6380";
//   o.connection.password = secret;
//   o.buffer_size = 50000;
//   o.recovery_timeout = std::chrono::seconds(60);
//
// or, in C++20: streamll::RedisSinkOptions o{.connection = {.url = "rediss://..."},
//                                             .buffer_size = 50000};
//
// Precedence, lowest to highest: the defaults below < the environment (only through from_env())
// < the URL's parts < the explicit fields. "Explicit settings win over the environment" is
// expressed by order: call from_env() first, then assign what you want to force; nothing reads
// the environment behind your back (the RedisSink constructor does not). The environment's
// user name, password, auth token, database and TLS switch are kept apart (in `environment`)
// and used only where neither the URL nor the fields give one, so a URL assigned after
// from_env() keeps its own password and database.
//
// Secrets (password, auth_token, the URL's password) never appear in errors, logs or to_string().

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamll/overflow_strategy.hpp"
#include "streamll/redact.hpp"
#include "streamll/redis/endpoint.hpp"
#include "streamll/redis/url.hpp"

namespace streamll {

/// How the server's TLS certificate is checked (guide's ssl_cert_reqs).
///  - none:     no verification at all (self-signed servers, "AWS manages certificates").
///  - optional: the chain must verify against the CA (ssl_ca_file/ssl_ca_dir or the system
///              store) but the host name is not checked; for servers reached by an address
///              their certificate does not name.
///  - required: chain verified and the host name (ssl_server_name, default the URL's host)
///              must match the certificate's subjectAltName. The default.
enum class SslCertReqs { none, optional, required };

/// "none" | "optional" | "required".
std::string_view to_string(SslCertReqs reqs) noexcept;

/// Looks up an environment variable; nullopt when unset. Injectable so tests never touch the
/// real environment. An empty std::function means the process environment (std::getenv).
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

/// How to reach one Redis server. Copyable value; not synchronized (build it, then hand it over).
struct RedisConnectionOptions {
  /// redis://, rediss:// (TLS) or unix:// URL; see streamll/redis/url.hpp.
  std::string url = "redis://localhost:6379";
  /// ACL user name; overrides the URL's. Empty: the URL's, else none (the "default" user).
  std::string username{};
  /// Overrides the URL's password. Empty: the URL's, else no AUTH.
  std::string password{};
  /// The cloud guides' name for the password (ElastiCache auth token): same meaning. Setting
  /// both password and auth_token to different values is a ConfigError.
  std::string auth_token{};
  /// Database to SELECT; overrides the URL's. nullopt: the URL's, else none (0).
  std::optional<int> db{};
  /// true forces TLS on a redis:// URL; rediss:// always means TLS (ssl=false with rediss:// is
  /// a ConfigError, as is TLS over a unix socket). nullopt: the scheme decides.
  std::optional<bool> ssl{};
  SslCertReqs ssl_cert_reqs = SslCertReqs::required;
  std::string ssl_ca_file{};      ///< PEM CA bundle; empty (and no ca_dir): system default paths
  std::string ssl_ca_dir{};       ///< OpenSSL hashed CA directory
  std::string ssl_cert_file{};    ///< client certificate (PEM) for mutual TLS
  std::string ssl_key_file{};     ///< client private key (PEM); required with ssl_cert_file
  std::string ssl_server_name{};  ///< SNI and verified host name; empty: the URL's host
  /// Bound on establishing a connection: TCP/unix connect + TLS handshake + AUTH/SELECT.
  std::chrono::milliseconds connect_timeout{2000};
  /// Bound on one command round trip (a whole pipeline: write everything, read every reply).
  std::chrono::milliseconds socket_timeout{2000};
  /// Must be 1 (validate() refuses anything else, as from_env() does REDIS_MAX_CONNECTIONS): the
  /// RedisSink's one flusher pipelines every write through one connection, and each consumer
  /// uses one too. The guide's pool (max_connections=20) would add no throughput here.
  std::size_t max_connections = 1;
  /// Sent as CLIENT SETNAME on connect (visible in CLIENT LIST); empty skips it.
  std::string client_name = "streamll";

  /// What from_env() read for the connection's identity (REDIS_USERNAME, REDIS_PASSWORD,
  /// REDIS_AUTH_TOKEN, REDIS_DB, REDIS_SSL): fallbacks under the URL's parts and the fields
  /// above. REDIS_SSL=true makes a redis:// URL use TLS; REDIS_SSL=false does not override a
  /// rediss:// URL.
  struct Environment {
    std::string username{};
    std::string password{};
    std::string auth_token{};
    std::optional<int> db{};
    std::optional<bool> ssl{};
  } environment{};

  // High availability (docs/high-availability.md). At most one of: endpoint_provider,
  // Sentinel, Cluster. Each keeps the credentials, database and TLS settings above.

  /// Asked on every connection attempt where to connect; the URL's host and port are then not
  /// used (its credentials and db are). The C++ form of the guide's `client=`. See
  /// streamll/redis/endpoint.hpp.
  EndpointProvider endpoint_provider{};
  /// Sentinel: "host[:port]" of each sentinel (port 26379 by default). Empty: those of a
  /// redis+sentinel:// URL, if any. Needs sentinel_master.
  std::vector<std::string> sentinels{};
  /// The master's name as the sentinels know it (`sentinel monitor <name> ...`). Empty: the
  /// redis+sentinel:// URL's.
  std::string sentinel_master{};
  /// Credentials for the sentinels themselves (often none; the URL's and password/username are
  /// the master's). A user name needs a password.
  std::string sentinel_username{};
  std::string sentinel_password{};
  /// Redis Cluster: the URL's host(s) are seed nodes; the slot map is learned from them and
  /// every command goes to the master owning its key's slot (MOVED and ASK followed). nullopt:
  /// the scheme decides (redis+cluster://). Database must be 0.
  std::optional<bool> cluster{};

  /// Defaults overridden by these variables (unset or empty ones are ignored):
  ///   REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD, REDIS_AUTH_TOKEN, REDIS_DB,
  ///   REDIS_SSL (bool), REDIS_SSL_CERT_REQS (none|optional|required), REDIS_SSL_CA_FILE,
  ///   REDIS_SSL_CA_DIR, REDIS_SSL_CERT_FILE, REDIS_SSL_KEY_FILE, REDIS_SSL_SERVER_NAME,
  ///   REDIS_CONNECT_TIMEOUT_MS, REDIS_SOCKET_TIMEOUT_MS, REDIS_MAX_CONNECTIONS,
  ///   REDIS_SENTINELS (comma-separated host:port list), REDIS_SENTINEL_MASTER,
  ///   REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD, REDIS_CLUSTER (bool),
  ///   REDIS_CLUSTER_ENDPOINT (host:port of a cluster's configuration endpoint: sets the URL to
  ///   redis://host:port and cluster mode; a ConfigError beside REDIS_URL).
  /// Booleans: true/false/1/0/yes/no/on/off, any case. A malformed value throws ConfigError
  /// naming the variable (secrets are never echoed), a malformed REDIS_URL and
  /// REDIS_MAX_CONNECTIONS other than 1 included. Otherwise does not validate(); the consumer
  /// does. Reading the process environment (no `env`), warns once per name about STREAMLL_*
  /// variables streamll does not know (a typo would otherwise be ignored silently).
  static RedisConnectionOptions from_env(const EnvLookup& env = {});

  /// Throws ConfigError naming the first bad option and its value: malformed URL, negative
  /// db, non-positive timeouts, max_connections other than 1, password != auth_token, ssl=false
  /// with rediss://, TLS over a unix socket, unreadable CA/cert/key files when TLS is on, a key
  /// without a certificate or the other way round; sentinels without sentinel_master or the
  /// other way round, a malformed sentinel address, more than one of endpoint_provider /
  /// Sentinel / Cluster, any of them with a unix:// URL, a cluster with db other than 0.
  void validate() const;
};

/// Everything the RedisSink needs: the connection plus the guide's sink parameters.
struct RedisSinkOptions {
  /// Where Redis is and how to log in (URL, credentials, TLS, timeouts, Sentinel, Cluster).
  RedisConnectionOptions connection{};
  /// Stream the events are XADDed to. Must not be empty.
  std::string stream_key = "ml_events";
  /// Events held locally (while Redis is slow or down) before the overflow strategy applies.
  std::size_t buffer_size = 10000;
  /// false: no breaker gate (still reconnects with backoff).
  bool circuit_breaker = true;
  /// Consecutive transport failures that open the breaker. >= 1.
  std::size_t failure_threshold = 3;
  /// How long the breaker stays open before a half-open probe. > 0.
  std::chrono::milliseconds recovery_timeout{30000};
  /// Events per pipelined write (one XADD each). 1..buffer_size.
  std::size_t max_batch_size = 100;
  /// The longest the flusher sleeps while idle: a bound even if a wake-up were lost. It delays
  /// nothing (an event on an idle sink goes out within about a millisecond; under load batches
  /// form while a round trip is in flight). > 0.
  std::chrono::milliseconds flush_interval{1000};
  /// MAXLEN on each XADD; nullopt: no trimming. 0 is rejected (it would empty the stream).
  std::optional<std::size_t> max_stream_length = std::size_t{1000000};
  /// MAXLEN ~ (cheap, keeps a little more) instead of exact MAXLEN.
  bool approximate_trimming = true;
  /// What handle() does when buffer_size events are already waiting.
  OverflowStrategy buffer_overflow_strategy = OverflowStrategy::drop_oldest;
  /// When set, the sink creates this consumer group (XGROUP CREATE <stream> <group> 0 MKSTREAM,
  /// BUSYGROUP tolerated) on every (re)connect.
  std::string consumer_group{};
  /// This producer's name: the connection's client name (CLIENT SETNAME, visible in CLIENT
  /// LIST) unless client_name was set to something else than its default. Consumers use their
  /// own names.
  std::string consumer_name{};
  /// Also write flat `event_type`, `operation`, `execution_id` fields beside `event`.
  bool index_fields = false;
  /// Bound for the destructor's final flush. > 0.
  std::chrono::milliseconds shutdown_timeout{5000};
  /// Durable acknowledgements: when > 0, each batch is followed by `WAIT <min_replicas_ack>
  /// <replicas_ack_timeout>` in the same pipeline, and counts as delivered only once at least
  /// this many replicas have it. Otherwise it is kept (counted in replica_ack_shortfalls) and
  /// WAIT alone is asked again on the same connection, or the whole batch is sent again on a
  /// new one (e.g. to the new master after a failover): at-least-once still holds, and an
  /// event acknowledged to the sink survives the loss of its master. 0: no WAIT (Redis
  /// replication stays asynchronous). See docs/high-availability.md for the cost.
  std::size_t min_replicas_ack = 0;
  /// The WAIT timeout: how long Redis waits for the replicas before answering. > 0 when
  /// min_replicas_ack is set; a round trip with WAIT is bounded by socket_timeout plus this.
  std::chrono::milliseconds replicas_ack_timeout{1000};
  /// Largest JSON of one event, in bytes; 0: no limit. Over it, the event's longest string
  /// values (data values, raw JSON written as a string, tag values) are cut, longest first,
  /// each ending in "...[truncated <n> bytes]", until it fits (counted in `truncated`); an
  /// event that still does not fit is failed (`failed_too_large`). Why 1 MiB, far below
  /// Redis' own 512 MB bulk limit: every buffered event holds its size in memory (buffer_size
  /// of them), a batch carries max_batch_size of them in one write, and consumers and
  /// dashboards load whole entries. 0 or at least 1024 (an event's envelope alone takes a few
  /// hundred bytes).
  std::size_t max_event_bytes = std::size_t{1} << 20;
  // Added after the above, so that code brace-initializing them by position still compiles.
  /// When set, token events go to this stream instead of stream_key, trimmed by
  /// token_max_stream_length: a fast token rate then no longer trims the spans and llm_call
  /// events out of stream_key's history. Consumers, `streamll tail`, `stats` and `health` read
  /// both when told this key (ConsumerOptions::token_stream_key, `--token-stream`). Must differ
  /// from stream_key. On a Redis Cluster both keys must hash to the same slot (give them the
  /// same hash tag, e.g. "{llm}events" and "{llm}tokens"): one batch is one pipeline to one
  /// master. A ShardedRedisSink gives each shard "<token_stream_key>_shard_<i>".
  std::string token_stream_key{};
  /// MAXLEN of the token stream (only with token_stream_key); nullopt: no trimming. 0 is
  /// rejected. approximate_trimming applies to it too.
  std::optional<std::size_t> token_max_stream_length = std::size_t{1000000};
  /// Runs on the flusher thread over each event before it is serialized, so what it removes
  /// never leaves the process (EventRedactor; sensitive_data_redactor() is a ready one). Empty:
  /// none. Must be safe to call from several threads at once in a ShardedRedisSink.
  EventRedactor redact = {};
  /// Producer heartbeats (docs/monitoring.md): every heartbeat_interval the flusher writes this
  /// sink's counters, breaker state and last error, with its name, host and pid, to
  /// producer_heartbeat_key(stream_key, id) (a hash expiring after 3 intervals) and lists it in
  /// producers_index_key(stream_key) (a sorted set), for `streamll producers` and
  /// `streamll health`; on the events' connection, between batches, so the sink connects when
  /// it starts rather than at its first event. A failed heartbeat never counts for the breaker
  /// nor sets last_error; a clean shutdown() removes it. 0: off. Otherwise 100 ms to 1 h, and
  /// the flusher wakes for it whatever flush_interval says.
  std::chrono::milliseconds heartbeat_interval{5000};

  /// RedisConnectionOptions::from_env() plus:
  ///   STREAMLL_STREAM_KEY, STREAMLL_BUFFER_SIZE, STREAMLL_CIRCUIT_BREAKER (bool),
  ///   STREAMLL_FAILURE_THRESHOLD, STREAMLL_RECOVERY_TIMEOUT_MS, STREAMLL_MAX_BATCH_SIZE,
  ///   STREAMLL_FLUSH_INTERVAL_MS, STREAMLL_MAX_STREAM_LENGTH (a number, or "none"/"0" for no
  ///   trimming), STREAMLL_APPROXIMATE_TRIMMING (bool), STREAMLL_BUFFER_OVERFLOW_STRATEGY
  ///   (drop_oldest|drop_newest|raise_error), STREAMLL_CONSUMER_GROUP, STREAMLL_CONSUMER_NAME,
  ///   STREAMLL_INDEX_FIELDS (bool), STREAMLL_SHUTDOWN_TIMEOUT_MS, STREAMLL_MIN_REPLICAS_ACK,
  ///   STREAMLL_REPLICAS_ACK_TIMEOUT_MS, STREAMLL_MAX_EVENT_BYTES (0: no limit),
  ///   STREAMLL_TOKEN_STREAM_KEY, STREAMLL_TOKEN_MAX_STREAM_LENGTH (as
  ///   STREAMLL_MAX_STREAM_LENGTH), STREAMLL_HEARTBEAT_INTERVAL_MS (0: off).
  static RedisSinkOptions from_env(const EnvLookup& env = {});

  /// RedisConnectionOptions::validate() plus: empty stream_key, buffer_size 0, max_batch_size
  /// 0 or > buffer_size, failure_threshold 0, non-positive recovery_timeout / flush_interval /
  /// shutdown_timeout, max_stream_length 0, non-positive replicas_ack_timeout with
  /// min_replicas_ack, max_event_bytes 1 to 1023, token_stream_key equal to stream_key,
  /// token_max_stream_length 0 with a token_stream_key, heartbeat_interval negative, 1 to 99
  /// ms or over 1 h. The RedisSink constructor calls it.
  void validate() const;
};

/// One line per option, secrets (password, auth_token, the URL's password) shown as "***".
std::string to_string(const RedisConnectionOptions& options);
std::string to_string(const RedisSinkOptions& options);

}  // namespace streamll
