// The ready redactors: hand-written scanners rather than std::regex, which is several times
// slower and would run on every string of every event (docs/performance.md has the figures).

#include "streamll/redact.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "redact_entropy.hpp"

namespace streamll {

namespace detail {

double entropy_bits(std::string_view run) noexcept {
  if (run.empty()) return 0;
  // 32-bit counts: 16-bit ones wrapped for a run of more than 65,535 equal characters.
  std::array<std::uint32_t, 128> counts{};
  for (char c : run) ++counts[static_cast<unsigned char>(c) & 0x7f];
  const auto n = static_cast<double>(run.size());
  double bits = 0;
  for (std::uint32_t count : counts) {
    if (count == 0) continue;
    const double p = count / n;
    bits -= p * std::log2(p);
  }
  return bits;
}

}  // namespace detail

namespace {

struct Span {
  std::size_t begin;
  std::size_t end;
};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) noexcept { return is_digit(c) || is_alpha(c); }
bool is_local_char(char c) noexcept {
  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
bool is_domain_char(char c) noexcept { return is_alnum(c) || c == '-' || c == '.'; }
bool is_key_char(char c) noexcept { return is_alnum(c) || c == '_' || c == '-'; }

// Rewrites `text` with `marker` in place of each span (in order, not overlapping).
std::size_t replace_spans(std::string& text, const std::vector<Span>& spans,
                          std::string_view marker) {
  if (spans.empty()) return 0;
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const Span& s : spans) {
    out.append(text, at, s.begin - at);
    out.append(marker);
    at = s.end;
  }
  out.append(text, at, std::string::npos);
  text = std::move(out);
  return spans.size();
}

// The end of the longest e-mail domain starting at `from` in `text`, or `from` when there is
// none. A domain is dot-separated labels of letters, digits and '-', at least two, the last of
// two or more letters; hyphens at the end of the last label are not part of it ("a@b.co-" is
// a@b.co). One pass over the labels, remembering where the last valid domain ended, so that
// "a@b.b.b.b...1" costs its length, not its length times its dots.
std::size_t email_domain_end(std::string_view text, std::size_t from) noexcept {
  const std::size_t n = text.size();
  std::size_t best = from;
  std::size_t labels = 0;
  for (std::size_t i = from;;) {
    const std::size_t start = i;
    std::size_t kept_end = start;  // the label's end without its trailing hyphens
    bool letters = true;           // so far, letters only (a letter after a hyphen is not)
    for (; i < n && text[i] != '.' && is_domain_char(text[i]); ++i) {
      if (text[i] == '-') continue;
      letters = letters && is_alpha(text[i]) && kept_end == i;
      kept_end = i + 1;
    }
    if (i == start) break;  // an empty label: nothing after it is a domain
    ++labels;
    if (labels >= 2 && letters && kept_end - start >= 2) best = kept_end;
    if (i >= n || text[i] != '.') break;
    ++i;
  }
  return best;
}

bool luhn_valid(std::string_view digits) noexcept {
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

constexpr std::array<std::string_view, 17> kKeyPrefixes = {
    "sk-",         "sk_live_", "sk_test_", "rk_live_", "ghp_",  "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-",   "xoxb-",    "xoxp-",    "xoxa-", "hf_",  "AKIA", "AIza"};
constexpr std::size_t kKeyAfterPrefix = 16;
constexpr std::size_t kGenericKeyLength = 32;
// A long random token: both cases, a character class change (upper, lower, digit, other)
// between at least 35% of neighbours (random base62 changes at 62%, camelCase words at 25 to
// 34%), and 3.5 bits of entropy per character (no repeated pattern). About 0.1% of random
// 32-character base62 keys fail this; the longer the key, the fewer.
constexpr double kGenericKeyClassChanges = 0.35;
constexpr double kGenericKeyEntropyBits = 3.5;

int char_class(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return 0;
  if (c >= 'a' && c <= 'z') return 1;
  return is_digit(c) ? 2 : 3;
}

bool looks_like_key(std::string_view run) noexcept {
  for (std::string_view prefix : kKeyPrefixes) {
    if (run.size() >= prefix.size() + kKeyAfterPrefix && run.substr(0, prefix.size()) == prefix) {
      return true;
    }
  }
  if (run.size() < kGenericKeyLength) return false;
  bool upper = false, lower = false;
  std::size_t changes = 0;
  for (std::size_t i = 0; i < run.size(); ++i) {
    const int c = char_class(run[i]);
    upper = upper || c == 0;
    lower = lower || c == 1;
    changes += i > 0 && c != char_class(run[i - 1]);
  }
  return upper && lower &&
         static_cast<double>(changes) >=
             kGenericKeyClassChanges * static_cast<double>(run.size() - 1) &&
         detail::entropy_bits(run) >= kGenericKeyEntropyBits;
}

}  // namespace

std::size_t redact_emails(std::string& text) {
  std::vector<Span> found;
  std::size_t floor = 0;  // the end of the previous match: a local part starts no earlier
  for (std::size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at + 1)) {
    std::size_t begin = at;
    while (begin > floor && is_local_char(text[begin - 1])) --begin;
    while (begin < at && text[begin] == '.') ++begin;  // a sentence's full stop, not the address
    if (begin == at) continue;
    // The longest domain that is one: "jane@acme.io.4111" is jane@acme.io and a number.
    const std::size_t end = email_domain_end(text, at + 1);
    if (end == at + 1) continue;
    found.push_back({begin, end});
    floor = end;
    at = end - 1;
  }
  return replace_spans(text, found, redacted_email);
}

// Card numbers are written in groups ("4111 1111 1111 1111"), and two may follow each other
// with the same separator: a run of groups is searched for card numbers at group boundaries,
// the longest first, so two numbers side by side are both found.
std::size_t redact_card_numbers(std::string& text) {
  std::vector<Span> found;
  std::vector<Span> groups;  // of one run, each a maximal stretch of digits
  std::string digits;
  std::array<std::size_t, 19> ends{};  // ends[k]: how many digits groups g..g+k hold
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    if (!is_digit(text[i]) || (i > 0 && is_alnum(text[i - 1]))) {
      ++i;
      continue;
    }
    groups.clear();
    std::size_t j = i;
    while (true) {
      const std::size_t begin = j;
      while (j < n && is_digit(text[j])) ++j;
      groups.push_back({begin, j});
      // One space or dash between two digits continues the run.
      if (j + 1 < n && (text[j] == ' ' || text[j] == '-') && is_digit(text[j + 1])) {
        ++j;
      } else {
        break;
      }
    }
    // A run touching a letter is part of a word: its last group is not a number's end.
    const std::size_t usable = j == n || !is_alpha(text[j]) ? groups.size() : groups.size() - 1;
    for (std::size_t g = 0; g < usable;) {
      // Only groups holding 19 digits at most can make a number: gather those (19 at most,
      // each has a digit) and try them longest first, so a run of G groups costs O(19 * G).
      digits.clear();
      std::size_t count = 0;
      for (std::size_t k = g; k < usable; ++k) {
        const std::size_t size = groups[k].end - groups[k].begin;
        if (digits.size() + size > 19) break;
        digits.append(text, groups[k].begin, size);
        ends[count++] = digits.size();
      }
      std::size_t matched_to = g;  // one past the last group of a match, g for none
      for (std::size_t k = count; k > 0; --k) {
        if (ends[k - 1] >= 13 && luhn_valid(std::string_view(digits).substr(0, ends[k - 1]))) {
          matched_to = g + k;
          break;
        }
      }
      if (matched_to == g) {
        ++g;
        continue;
      }
      found.push_back({groups[g].begin, groups[matched_to - 1].end});
      g = matched_to;
    }
    i = j;  // never restart inside a run: its tail is not a number of its own
  }
  return replace_spans(text, found, redacted_card_number);
}

std::size_t redact_api_keys(std::string& text) {
  std::vector<Span> found;
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    if (!is_key_char(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && is_key_char(text[j])) ++j;
    if (looks_like_key(std::string_view(text).substr(i, j - i))) found.push_back({i, j});
    i = j;
  }
  return replace_spans(text, found, redacted_api_key);
}

std::size_t redact_sensitive_text(std::string& text) {
  return redact_emails(text) + redact_api_keys(text) + redact_card_numbers(text);
}

EventRedactor redact_event_strings(std::function<std::size_t(std::string&)> redact_text) {
  return [redact = std::move(redact_text)](Event& event) {
    std::string scratch;
    // In place, field by field: set(key) would rewrite the first field of a repeated key and
    // leave the later one, whose value is the one written, as it was.
    for (Field& f : event.data) {
      Value& v = f.value;
      if (v.is_string()) {
        scratch = v.as_string();
        if (redact(scratch) > 0) v = Value(std::move(scratch));
      } else if (v.is_raw_json()) {
        scratch = std::get<RawJson>(v.storage()).text;
        if (redact(scratch) > 0) v = Value(RawJson{std::move(scratch)});
      }
    }
    if (!event.context) return;
    std::shared_ptr<EventContext> copy;
    for (std::size_t i = 0; i < event.context->tags.size(); ++i) {
      scratch = event.context->tags[i].second;
      if (redact(scratch) == 0) continue;
      if (!copy) copy = std::make_shared<EventContext>(*event.context);
      copy->tags[i].second = std::move(scratch);
    }
    if (copy) event.context = std::move(copy);
  };
}

EventRedactor sensitive_data_redactor() { return redact_event_strings(redact_sensitive_text); }

}  // namespace streamll
