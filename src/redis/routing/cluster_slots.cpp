#include "redis/routing/cluster_slots.hpp"

#include <algorithm>

#include "streamll/redis/errors.hpp"

namespace streamll::redis {
namespace {

[[noreturn]] void malformed(const std::string& why, const std::string& host) {
  throw IoError("malformed CLUSTER SLOTS reply from " + host + ": " + why);
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool parse_slot(std::string_view text, std::uint16_t& slot) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value >= kClusterSlots) return false;
  slot = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::uint16_t crc16(std::string_view data) noexcept {
  std::uint16_t crc = 0;
  for (const char c : data) {
    crc = static_cast<std::uint16_t>(
        crc ^ (static_cast<std::uint16_t>(static_cast<unsigned char>(c)) << 8));
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) % kClusterSlots);
}

std::vector<SlotRange> parse_cluster_slots(const RedisReply& reply, const std::string& asked_host) {
  throw_if_error(reply, "CLUSTER SLOTS on " + asked_host);
  if (!reply.is_array()) malformed("not an array", asked_host);
  std::vector<SlotRange> out;
  out.reserve(reply.elements.size());
  for (const RedisReply& range : reply.elements) {
    // [first, last, [host, port, id, ...], [replica...]...]
    if (!range.is_array() || range.elements.size() < 3 || !range.elements[0].is_integer() ||
        !range.elements[1].is_integer() || !range.elements[2].is_array() ||
        range.elements[2].elements.size() < 2 || !range.elements[2].elements[1].is_integer()) {
      malformed("unexpected range entry " + range.to_debug_string(), asked_host);
    }
    const long long first = range.elements[0].integer;
    const long long last = range.elements[1].integer;
    const long long port = range.elements[2].elements[1].integer;
    if (first < 0 || last < first || last >= kClusterSlots || port <= 0 || port > 65535) {
      malformed("slot range or port out of bounds in " + range.to_debug_string(), asked_host);
    }
    const RedisReply& host = range.elements[2].elements[0];
    SlotRange r;
    r.first = static_cast<std::uint16_t>(first);
    r.last = static_cast<std::uint16_t>(last);
    r.master.host =
        (host.is_string() && !host.text.empty() && host.text != "?") ? host.text : asked_host;
    r.master.port = static_cast<std::uint16_t>(port);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Redirect> parse_redirect(std::string_view text, const std::string& current_host) {
  Redirect r;
  if (text.rfind("MOVED ", 0) == 0) {
    r.kind = Redirect::Kind::moved;
    text.remove_prefix(6);
  } else if (text.rfind("ASK ", 0) == 0) {
    r.kind = Redirect::Kind::ask;
    text.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = text.find(' ');
  if (space == std::string_view::npos || !parse_slot(text.substr(0, space), r.slot))
    return std::nullopt;
  const std::string_view address = text.substr(space + 1);
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || !parse_port(address.substr(colon + 1), r.to.port)) {
    return std::nullopt;
  }
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  r.to.host = host.empty() ? current_host : std::string(host);
  if (r.to.host.empty()) return std::nullopt;
  return r;
}

std::size_t ClusterSlotMap::index_of(const RedisEndpoint& master) {
  const auto it = std::find(masters_.begin(), masters_.end(), master);
  if (it != masters_.end()) return static_cast<std::size_t>(it - masters_.begin());
  masters_.push_back(RedisEndpoint{master.host, master.port, false});
  return masters_.size() - 1;
}

void ClusterSlotMap::assign(const std::vector<SlotRange>& ranges) {
  masters_.clear();
  owner_.fill(0);
  for (const SlotRange& r : ranges) {
    const auto index = static_cast<std::uint16_t>(index_of(r.master) + 1);
    for (std::size_t slot = r.first; slot <= r.last; ++slot) owner_[slot] = index;
  }
}

void ClusterSlotMap::assign(std::uint16_t slot, const RedisEndpoint& master) {
  if (slot >= kClusterSlots) return;
  owner_[slot] = static_cast<std::uint16_t>(index_of(master) + 1);
}

std::optional<RedisEndpoint> ClusterSlotMap::owner(std::uint16_t slot) const {
  if (slot >= kClusterSlots || owner_[slot] == 0) return std::nullopt;
  return masters_[owner_[slot] - 1u];
}

}  // namespace streamll::redis
