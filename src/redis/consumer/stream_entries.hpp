#pragma once
// Internal: stream entries out of XRANGE / XREAD / XREADGROUP / XAUTOCLAIM replies, entry id
// arithmetic, and decoding an entry's `event` field into an Event. Shared by the consumers, the
// analytics and the CLI, so that every reader counts the same things as undecodable.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis/transport/reply.hpp"
#include "streamll/event.hpp"
#include "streamll/redis/consumer.hpp"

namespace streamll::redis {

/// One stream entry. `deleted` entries come from a consumer's pending list after the stream
/// was trimmed: the id is known, the fields are gone (nil).
struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  bool deleted = false;

  const std::string* field(std::string_view name) const noexcept {
    for (const auto& [k, v] : fields) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

/// Appends the entries of an XRANGE reply (an array of [id, [field, value, ...]]) to `out`.
/// Throws IoError("protocol error ...") when the reply does not have that shape (an error
/// reply is for the caller to check first).
/// The reply's strings are moved into `out` (the reply is left hollow).
void append_entries(RedisReply& reply, std::vector<StreamEntry>& out);

/// The entries of an XREAD / XREADGROUP reply for one stream (nil = none).
void append_read_entries(RedisReply& reply, std::vector<StreamEntry>& out);

/// XAUTOCLAIM's reply: the cursor for the next call ("0-0" when the scan is complete), the
/// claimed entries, and (Redis 7) how many claimed ids no longer existed in the stream.
struct AutoclaimResult {
  std::string next_cursor;
  std::size_t deleted_ids = 0;
};
AutoclaimResult append_autoclaim_entries(RedisReply& reply, std::vector<StreamEntry>& out);

/// An entry id "<ms>-<seq>".
struct EntryId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;

  static std::optional<EntryId> parse(std::string_view text) noexcept;
  std::string to_string() const;
  bool operator<(const EntryId& o) const noexcept {
    return ms < o.ms || (ms == o.ms && seq < o.seq);
  }
  bool operator==(const EntryId& o) const noexcept { return ms == o.ms && seq == o.seq; }
};

/// True for "0", "$" and valid entry ids ("<ms>" or "<ms>-<seq>").
bool is_start_id(std::string_view text) noexcept;

/// Decodes `entry`'s `event` field. On failure fills `failure` (kind, reason, excerpt; the
/// caller sets stream and entry id) and returns false. Never throws.
bool decode_entry(const StreamEntry& entry, Event& event, DecodeFailure& failure) noexcept;

}  // namespace streamll::redis
