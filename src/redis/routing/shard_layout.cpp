// The sharding rules shared by the ShardedRedisSink and every reader of its streams.

#include "redis/routing/shard_layout.hpp"

#include "md5.hpp"
#include "redis/config/env_list.hpp"
#include "streamll/redis/sharding.hpp"

namespace streamll {

namespace {

std::size_t fnv1a_shard(std::string_view execution_id, std::size_t shards) noexcept {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64-bit offset basis
  for (const char c : execution_id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;  // FNV prime
  }
  return static_cast<std::size_t>(hash % shards);
}

// The digest as a 128-bit big-endian number modulo `shards`, exactly (Python's int(hex, 16) %
// n): Horner's rule a byte at a time while r * 256 + 255 cannot overflow, a bit at a time
// (doubling modulo n without overflow) for larger counts.
std::size_t digest_modulo(const detail::Md5Digest& digest, std::size_t shards) noexcept {
  std::uint64_t r = 0;
  const std::uint64_t n = shards;
  if (n <= (std::uint64_t{1} << 55)) {
    for (const unsigned char byte : digest) r = (r * 256 + byte) % n;
    return static_cast<std::size_t>(r);
  }
  for (const unsigned char byte : digest) {
    for (int bit = 7; bit >= 0; --bit) {
      r = r >= n - r ? r - (n - r) : r + r;  // 2r mod n
      if ((byte >> bit) & 1u) r = r == n - 1 ? 0 : r + 1;
    }
  }
  return static_cast<std::size_t>(r);
}

}  // namespace

std::string_view to_string(ShardHash hash) noexcept {
  return hash == ShardHash::fnv1a ? "fnv1a" : "md5";
}

std::size_t shard_for_execution(std::string_view execution_id, std::size_t shards,
                                ShardHash hash) noexcept {
  if (shards <= 1) return 0;
  if (hash == ShardHash::fnv1a) return fnv1a_shard(execution_id, shards);
  detail::Md5Digest digest{};
  if (!detail::md5(execution_id, digest)) return 0;
  return digest_modulo(digest, shards);
}

std::string shard_stream_key(const std::string& stream_key, std::size_t index) {
  return redis::shard_stream_key_of(stream_key, index);
}

namespace redis {

std::string shard_stream_key_of(const std::string& stream_key, std::size_t index) {
  return stream_key + "_shard_" + std::to_string(index);
}

std::size_t shard_total(const std::vector<std::string>& shard_urls,
                        std::size_t shard_count) noexcept {
  return shard_urls.empty() ? shard_count : shard_urls.size();
}

void validate_shard_layout(const std::vector<std::string>& shard_urls, std::size_t shard_count,
                           bool required) {
  if (!shard_urls.empty() && shard_count != 0 && shard_count != shard_urls.size()) {
    throw ConfigError("shard_count", std::to_string(shard_count) + " disagrees with the " +
                                         std::to_string(shard_urls.size()) + " shard_urls");
  }
  const std::size_t n = shard_total(shard_urls, shard_count);
  if (required && n == 0)
    throw ConfigError("shard_count", "no shards: set shard_urls or shard_count");
  if (n > kMaxShards) {
    throw ConfigError("shard_count", "at most " + std::to_string(kMaxShards) + " shards, got " +
                                         std::to_string(n));
  }
}

void read_shard_env(const EnvLookup& lookup, std::vector<std::string>& shard_urls,
                    std::size_t& shard_count) {
  if (auto urls = read_env(lookup, "STREAMLL_SHARD_URLS")) {
    shard_urls.clear();
    for (std::string& url : split_comma_list(*urls)) {
      // Sentinel and cluster URLs hold commas themselves: a part without a scheme continues
      // the previous URL's host list.
      if (!shard_urls.empty() && url.find("://") == std::string::npos) {
        shard_urls.back() += "," + url;
      } else if (!url.empty()) {
        shard_urls.push_back(std::move(url));
      }
    }
  }
  if (auto count = read_env(lookup, "STREAMLL_SHARD_COUNT")) {
    std::size_t n = 0;
    bool ok = !count->empty() && count->size() < 10;
    for (char c : *count) {
      if (c < '0' || c > '9') ok = false;
      if (ok) n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (!ok)
      throw ConfigError("STREAMLL_SHARD_COUNT", "'" + *count + "' is not a non-negative integer");
    shard_count = n;
  }
}

void rethrow_for_shard(const ConfigError& error, std::size_t index) {
  const std::string what = error.what();
  const std::size_t skip = error.option().size() + 2;  // "<option>: "
  throw ConfigError(error.option(), "shard " + std::to_string(index) + ": " +
                                        (what.size() >= skip ? what.substr(skip) : what));
}

}  // namespace redis
}  // namespace streamll
