#include "redis/event_truncation.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

namespace streamll::redis {
namespace {

// A value that may be cut: data field or tag number `index`, `size` bytes as held.
struct Candidate {
  std::size_t size;
  bool is_tag;
  std::size_t index;
  std::size_t keep;  // bytes kept by the current plan; == size when not cut
};

std::size_t decimal_digits(std::size_t n) noexcept {
  std::size_t digits = 1;
  for (; n >= 10; n /= 10) ++digits;
  return digits;
}

// The marker's length for a value of `size` bytes, at most: the count it names is <= size.
std::size_t marker_bound(std::size_t size) noexcept {
  return kTruncationMarkerPrefix.size() + decimal_digits(size) + kTruncationMarkerSuffix.size();
}

// Cuts candidates, longest first, until their JSON shrinks by at least `excess` bytes. Each
// byte cut removes at least one byte of JSON (a byte is written as itself, an escape or a
// replacement character, and the cut falls between whole characters) and the marker adds at
// most marker_bound(), so the shrink is at least the bytes cut less the markers. Raw JSON
// can break that bound (once cut, it is a string, and escaping its quotes lengthens it): the
// caller checks the result and asks again for more. False when even cutting every candidate
// down to its marker would not shrink it enough.
bool plan_cuts(std::vector<Candidate>& candidates, std::size_t excess) noexcept {
  std::size_t needed = excess;
  for (Candidate& c : candidates) {
    c.keep = c.size;
    const std::size_t marker = marker_bound(c.size);
    if (needed == 0 || c.size <= marker) continue;  // a short value would only grow
    const std::size_t cut = std::min(c.size, needed + marker);
    c.keep = c.size - cut;
    needed -= std::min(needed, cut - marker);
  }
  return needed == 0;
}

// `keep` moved back so that the kept prefix does not end inside a UTF-8 character.
std::size_t character_boundary(std::string_view s, std::size_t keep) noexcept {
  for (int back = 0; back < 3 && keep > 0 && keep < s.size(); ++back) {
    if ((static_cast<unsigned char>(s[keep]) & 0xC0) != 0x80) break;  // not a continuation
    --keep;
  }
  return keep;
}

std::string truncated(std::string_view s, std::size_t keep) {
  keep = character_boundary(s, keep);
  const std::string count = std::to_string(s.size() - keep);
  std::string out;
  out.reserve(keep + kTruncationMarkerPrefix.size() + count.size() +
              kTruncationMarkerSuffix.size());
  out.append(s.substr(0, keep));
  out.append(kTruncationMarkerPrefix);
  out.append(count);
  out.append(kTruncationMarkerSuffix);
  return out;
}

// `event` with the planned cuts: data and tags rebuilt, the rest shared or copied.
Event with_cuts(const Event& event, const std::vector<Candidate>& candidates) {
  std::vector<const Candidate*> field_cut(event.data.size(), nullptr);
  std::vector<const Candidate*> tag_cut(event.tags().size(), nullptr);
  bool tags_cut = false;
  for (const Candidate& c : candidates) {
    if (c.keep == c.size) continue;
    (c.is_tag ? tag_cut : field_cut)[c.index] = &c;
    tags_cut = tags_cut || c.is_tag;
  }
  Event copy;
  copy.type = event.type;
  copy.custom_type = event.custom_type;
  copy.timestamp = event.timestamp;
  copy.id = event.id;
  copy.context = event.context;
  if (tags_cut) {
    auto context = std::make_shared<EventContext>(*event.context);
    for (std::size_t i = 0; i < context->tags.size(); ++i) {
      if (tag_cut[i]) context->tags[i].second = truncated(context->tags[i].second, tag_cut[i]->keep);
    }
    copy.context = std::move(context);
  }
  copy.data.reserve(event.data.size());
  std::size_t i = 0;
  for (const Field& field : event.data) {
    if (const Candidate* cut = field_cut[i++]) {
      copy.data.append_new(field.key, Value(truncated(field.value.as_string(), cut->keep)));
    } else {
      copy.data.append_new(field.key, field.value);
    }
  }
  return copy;
}

}  // namespace

bool append_truncated_json(const Event& event, std::size_t json_bytes, std::size_t max_bytes,
                           std::string& out) {
  std::vector<Candidate> candidates;
  std::size_t index = 0;
  for (const Field& field : event.data) {
    if (field.value.is_string() || field.value.is_raw_json()) {
      candidates.push_back({field.value.as_string().size(), false, index, 0});
    }
    ++index;
  }
  index = 0;
  for (const auto& tag : event.tags()) {
    candidates.push_back({tag.second.size(), true, index++, 0});
  }
  // Longest first; among equals, in the event's order (data before tags).
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.size > b.size; });

  const std::size_t start = out.size();
  std::size_t excess = json_bytes - max_bytes;
  // Strings always fit after one round; each further round (raw JSON that grew as a string)
  // asks for at least one more byte, and a handful of rounds is plenty in practice.
  for (int round = 0; round < 8; ++round) {
    if (!plan_cuts(candidates, excess)) return false;
    if (!append_json(with_cuts(event, candidates), out)) throw std::bad_alloc();
    const std::size_t written = out.size() - start;
    if (written <= max_bytes) return true;
    out.resize(start);
    excess += written - max_bytes;
  }
  return false;
}

}  // namespace streamll::redis
