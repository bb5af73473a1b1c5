#pragma once
// Internal: Redis Cluster's key-to-node routing. A key belongs to one of 16384 hash slots
// (CRC16 of the key, or of its hash tag, mod 16384); each slot is served by one master. The
// map comes from CLUSTER SLOTS and is corrected by MOVED replies; an ASK reply redirects one
// command during a slot migration without changing the map. Shared by the sink and the
// consumers: pure functions plus a map that is not synchronized (its owner serializes).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/transport/reply.hpp"
#include "streamll/redis/endpoint.hpp"

namespace streamll::redis {

constexpr std::uint16_t kClusterSlots = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
std::uint16_t crc16(std::string_view data) noexcept;

/// The hash slot of `key`: when the key holds a '{' followed later by a '}' with at least one
/// character between them, only the characters between the first '{' and the next '}' are
/// hashed (so "{user1}.a" and "{user1}.b" share a slot); otherwise the whole key.
std::uint16_t key_slot(std::string_view key) noexcept;

/// One contiguous range of slots and the master serving it (replicas are not used: the sink
/// writes, and consumers that read replicas are not built on this).
struct SlotRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  RedisEndpoint master;
};

/// Parses a CLUSTER SLOTS reply. A master whose endpoint is NULL, "" or "?" (unknown to the
/// cluster, e.g. behind a load balancer) is reached at `asked_host`, the host the command was
/// sent to, with the port given. Throws IoError ("malformed CLUSTER SLOTS reply ...") when the
/// reply is not that shape, ReplyError when it is an error reply (e.g. cluster support
/// disabled: "ERR This instance has cluster support disabled").
std::vector<SlotRange> parse_cluster_slots(const RedisReply& reply, const std::string& asked_host);

/// A redirection in an error reply: "MOVED <slot> <host>:<port>" (the slot has a new owner for
/// good: update the map) or "ASK <slot> <host>:<port>" (this key is being migrated: send this
/// command to that node once, preceded by ASKING).
struct Redirect {
  enum class Kind { moved, ask };
  Kind kind = Kind::moved;
  std::uint16_t slot = 0;
  RedisEndpoint to;
};

/// The redirection an error reply text carries, or nullopt when it is not MOVED/ASK or is
/// malformed. An empty host (":6381", Redis 7 with an unknown endpoint) means `current_host`,
/// the host of the node that answered. IPv6 hosts come without brackets ("::1:6381": the port
/// is after the last ':').
std::optional<Redirect> parse_redirect(std::string_view error_text,
                                       const std::string& current_host);

/// Which master serves each slot, as last learned. Not thread-safe.
class ClusterSlotMap {
 public:
  /// Replaces the whole map with `ranges` (slots not covered become unknown).
  void assign(const std::vector<SlotRange>& ranges);
  /// One slot changed hands (a MOVED reply).
  void assign(std::uint16_t slot, const RedisEndpoint& master);
  /// The master serving `slot`, nullopt when unknown.
  std::optional<RedisEndpoint> owner(std::uint16_t slot) const;
  /// Every distinct master in the map, in first-seen order: where a refresh asks first.
  const std::vector<RedisEndpoint>& masters() const noexcept { return masters_; }
  bool empty() const noexcept { return masters_.empty(); }

 private:
  std::size_t index_of(const RedisEndpoint& master);

  std::vector<RedisEndpoint> masters_;
  // Index into masters_ + 1 per slot; 0: unknown. 32 KiB, no allocation per lookup.
  std::array<std::uint16_t, kClusterSlots> owner_{};
};

}  // namespace streamll::redis
