#include "redis/sink/event_truncation.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

namespace streamll::redis {
namespace {

// A value that may be cut: data field or tag number `index`.
struct Candidate {
  std::string_view text;
  bool is_raw_json;
  bool is_tag;
  std::size_t index;
  std::size_t keep;  // bytes kept by the current plan; == text.size() when not cut
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

// Bytes of JSON string text one byte of a string becomes, at least: an escape takes two or
// six, a byte of a multi-byte character one (three when invalid and replaced by U+FFFD).
std::size_t json_cost(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  if (b == '"' || b == '\\') return 2;
  if (b >= 0x20) return 1;
  return b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f' ? 2 : 6;
}

// Cuts candidates, longest first, until their JSON shrinks by at least `excess` bytes. The
// cut falls between whole characters, so a string's JSON loses at least the json_cost of the
// bytes cut, and the marker adds at most marker_bound(). Raw JSON, written compacted and once
// cut as a string (its quotes escaped), is counted a byte a byte, which can err high: the
// caller checks the result and asks again for more. False when even cutting every candidate
// down to its marker would not shrink it enough.
bool plan_cuts(std::vector<Candidate>& candidates, std::size_t excess) noexcept {
  std::size_t needed = excess;
  for (Candidate& c : candidates) {
    c.keep = c.text.size();
    if (needed == 0) continue;
    const std::size_t marker = marker_bound(c.text.size());
    std::size_t keep = c.text.size();
    std::size_t saved = 0;
    while (keep > 0 && saved < needed + marker) {
      --keep;
      saved += c.is_raw_json ? 1 : json_cost(c.text[keep]);
    }
    if (saved <= marker) continue;  // a short value would only grow
    c.keep = keep;
    needed -= std::min(needed, saved - marker);
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
    if (c.keep == c.text.size()) continue;
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
      std::string& value = context->tags[i].second;
      if (tag_cut[i]) value = truncated(value, tag_cut[i]->keep);
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
      candidates.push_back({field.value.as_string(), field.value.is_raw_json(), false, index, 0});
    }
    ++index;
  }
  index = 0;
  for (const auto& tag : event.tags()) {
    candidates.push_back({tag.second, false, true, index++, 0});
  }
  // Longest first; among equals, in the event's order (data before tags).
  std::stable_sort(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.text.size() > b.text.size(); });

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
