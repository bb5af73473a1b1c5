// The ready redactors: a table per redactor with its boundaries (empty, one character, at the
// start and end, adjacent matches, near misses kept), a generated test that plants secrets in
// random text and finds none left, and the event redactor over data, raw JSON and tags.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <streamll/redact.hpp>

#include "redact_entropy.hpp"

namespace {

struct Case {
  const char* given;
  const char* expected;
  std::size_t count;
};

template <typename Redact>
void check_table(Redact redact, const std::vector<Case>& table) {
  for (const Case& c : table) {
    std::string text = c.given;
    CAPTURE(c.given);
    CHECK(redact(text) == c.count);
    CHECK(text == c.expected);
  }
}

}  // namespace

TEST_CASE("redact_emails: addresses replaced and near misses kept", "[privacy][redact]") {
  check_table(streamll::redact_emails,
              {
                  {"", "", 0},
                  {"@", "@", 0},
                  {"a", "a", 0},
                  {"a@b", "a@b", 0},        // no dot
                  {"a@b.c", "a@b.c", 0},    // top-level label of one letter
                  {"a@b.c1", "a@b.c1", 0},  // top-level label with a digit
                  {"a@.com", "a@.com", 0},
                  {"a@b..com", "a@b..com", 0},
                  {"@b.com", "@b.com", 0},  // no local part
                  {"a@b.co", "[EMAIL]", 1},
                  {"jane.doe+llm@mail.example.org", "[EMAIL]", 1},
                  {"mail jane@acme.io.", "mail [EMAIL].", 1},  // the full stop stays
                  {"(jane@acme.io)", "([EMAIL])", 1},
                  {".jane@acme.io", ".[EMAIL]", 1},
                  {"a@b.co,c@d.co", "[EMAIL],[EMAIL]", 2},
                  {"a@b.co c@d.co", "[EMAIL] [EMAIL]", 2},
                  {"a@b.coc@d.co", "[EMAIL]@d.co", 1},  // no local part left for the second
                  {"x@y@z.io", "x@[EMAIL]", 1},
                  {"\"to\":\"ops-team@corp-mail.example\"", "\"to\":\"[EMAIL]\"", 1},
                  {"user@localhost", "user@localhost", 0},
                  {"jane@acme.io.4111", "[EMAIL].4111", 1},
                  {"jane@acme.io.c", "[EMAIL].c", 1},
                  {"a@b.co-", "[EMAIL]-", 1},  // a last label's trailing hyphens are left out
                  {"a@b.co.-.x1", "[EMAIL].-.x1", 1},
                  {"a@-b.c-d.io", "[EMAIL]", 1},  // hyphens inside earlier labels are fine
                  {"a@b.co-x.1", "a@b.co-x.1", 0},
                  {"a@b.c-o", "a@b.c-o", 0},
              });
}

// 1 MiB inputs built to make a quadratic scanner take many minutes (for each '@', each dot of
// the domain; for each digit group, each later group: about 14 minutes and 3 hours for the
// scanners these replaced) and a linear one a fraction of a second. Hidden ([.linear]) from
// the discovered tests: tests/CMakeLists.txt runs them as one test with a TIMEOUT, since
// ctest's default, without one, is 1,000,000 s.
constexpr std::size_t kLongInput = std::size_t{1} << 20;

TEST_CASE("redact_emails: linear on a domain of many labels", "[privacy][redact][.linear]") {
  // One-letter labels: no prefix of the domain is one, and each ends at a dot.
  std::string text = "a@";
  while (text.size() < kLongInput) text += "b.";
  text += "1";
  const std::string single_letters = text;
  CHECK(streamll::redact_emails(text) == 0);
  CHECK(text == single_letters);

  // Two-letter labels: all of it but the last label is one address.
  text = "a@";
  while (text.size() < kLongInput) text += "bc.";
  text += "1";
  CHECK(streamll::redact_emails(text) == 1);
  CHECK(text == "[EMAIL].1");

  // Many addresses, each with many labels, and many '@' without a local part.
  std::string expected;
  text.clear();
  std::size_t addresses = 0;
  while (text.size() < kLongInput) {
    std::string domain;
    for (int i = 0; i < 200; ++i) domain += "b.";
    text += "x@" + domain + "io @" + domain + "io ";
    expected += "[EMAIL] @" + domain + "io ";
    ++addresses;
  }
  CHECK(streamll::redact_emails(text) == addresses);
  CHECK(text == expected);
}

TEST_CASE("redact_card_numbers: linear in the number of digit groups",
          "[privacy][redact][.linear]") {
  // "1 1 1 ...": one run of half a million groups, no number in it (no stretch of 13 to 19
  // ones passes the Luhn check).
  std::string text;
  while (text.size() < kLongInput) text += "1 ";
  text += "1";
  const std::string ones = text;
  CHECK(streamll::redact_card_numbers(text) == 0);
  CHECK(text == ones);

  // One run of card after card, each found where the last ended.
  text = "4111 1111 1111 1111";
  std::string expected = "[CARD]";
  std::size_t cards = 1;
  while (text.size() < kLongInput) {
    text += (cards % 2 == 0 ? " " : "-");
    text += "5500-0055-5555-5559";
    expected += (cards % 2 == 0 ? " [CARD]" : "-[CARD]");
    ++cards;
  }
  CHECK(streamll::redact_card_numbers(text) == cards);
  CHECK(text == expected);
}

TEST_CASE("redact_card_numbers: Luhn-valid runs of 13 to 19 digits", "[privacy][redact]") {
  check_table(streamll::redact_card_numbers,
              {
                  {"", "", 0},
                  {"4", "4", 0},
                  {"4111111111111111", "[CARD]", 1},
                  {"4111111111111112", "4111111111111112", 0},  // Luhn fails
                  {"4111 1111 1111 1111", "[CARD]", 1},
                  {"4111-1111-1111-1111", "[CARD]", 1},
                  {"4111 1111-1111 1111.", "[CARD].", 1},
                  {"4111  1111 1111 1111", "4111  1111 1111 1111", 0},  // two spaces split it
                  {"4111 1111 1111 1111x", "4111 1111 1111 1111x", 0},
                  {"card 4111111111111111 exp", "card [CARD] exp", 1},
                  {"4111111111111111,5500005555555559", "[CARD],[CARD]", 2},
                  {"4111 1111 1111 1111 5500 0055 5555 5559", "[CARD] [CARD]", 2},
                  {"4111111111111111 5500005555555559", "[CARD] [CARD]", 2},
                  {"1 4111 1111 1111 1111", "1 [CARD]", 1},  // a leading group left out
                  {"41111111111111115500005555555559", "41111111111111115500005555555559", 0},
                  {"x4111111111111111", "x4111111111111111", 0},  // part of a word
                  {"4111111111111111x", "4111111111111111x", 0},
                  {"411111111116", "411111111116", 0},  // 12 digits, Luhn-valid: too short
                  {"4222222222222", "[CARD]", 1},       // 13
                  {"6011000990139424", "[CARD]", 1},
                  {"6304000000000000000", "[CARD]", 1},                 // 19, Luhn-valid
                  {"63040000000000000000", "63040000000000000000", 0},  // 20
                  {"2026-12-07 07:35", "2026-12-07 07:35", 0},
              });
}

TEST_CASE("redact_api_keys: known prefixes and long high-entropy tokens", "[privacy][redact]") {
  check_table(
      streamll::redact_api_keys,
      {
          {"", "", 0},
          {"s", "s", 0},
          {"sk-", "sk-", 0},
          {"sk-abcdefghijklmno", "sk-abcdefghijklmno", 0},  // 15 after the prefix
          {"sk-abcdefghijklmnop", "[API_KEY]", 1},          // 16
          {"key=sk-proj-Ab3dEf6hIj9lMn2pQr5t end", "key=[API_KEY] end", 1},
          {"risk-abcdefghijklmnopqrstu", "risk-abcdefghijklmnopqrstu", 0},
          {"AKIAIOSFODNN7EXAMPLE", "[API_KEY]", 1},
          {"ghp_0123456789abcdefABCDEF ghp_0123456789abcdefABCDEF", "[API_KEY] [API_KEY]", 2},
          {"Bearer 9fQ2xLr7TqZ1mVb8Kc3NwYh6Jd0SgPe4", "Bearer [API_KEY]", 1},
          {"9fQ2xLr7TqZ1mVb8Kc3NwYh6Jd0SgPe", "9fQ2xLr7TqZ1mVb8Kc3NwYh6Jd0SgPe", 0},  // 31
          // Hex digests, UUIDs and identifiers are not keys.
          {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0},
          {"252465e1-fa48-48ea-928b-75c2dc30c967", "252465e1-fa48-48ea-928b-75c2dc30c967", 0},
          {"TheRetrievalAugmentedGenerationStep2024", "TheRetrievalAugmentedGenerationStep2024", 0},
          {"getHTTPResponseCodeFromServerV2Async", "getHTTPResponseCodeFromServerV2Async", 0},
          {"Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1", "Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1Aa1", 0},
          {"xKpQmZrTvWbNcYdLfGhJsAeUiOoPqRtY", "[API_KEY]", 1},  // no digit
          {"retrieval_augmented_generation_pipeline_v2",
           "retrieval_augmented_generation_pipeline_v2", 0},
      });
}

TEST_CASE("redact_api_keys: runs longer than 65535 characters are measured exactly",
          "[privacy][redact]") {
  // 16-bit counts wrapped: 70,000 equal characters counted 4,464 and had entropy.
  CHECK(streamll::detail::entropy_bits(std::string(70000, 'a')) == 0.0);
  const double p = 66000.0 / 70000.0;
  const double q = 1 - p;
  CHECK(streamll::detail::entropy_bits(std::string(66000, 'a') + std::string(4000, 'B')) ==
        Approx(-(p * std::log2(p) + q * std::log2(q))));

  std::mt19937_64 random(65536);
  const std::string base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string key;
  for (int i = 0; i < 70000; ++i) key += base62[random() % base62.size()];
  std::string text = "token " + key + " end";
  CHECK(streamll::redact_api_keys(text) == 1);
  CHECK(text == "token [API_KEY] end");
  text = std::string(70000, 'a');
  CHECK(streamll::redact_api_keys(text) == 0);
  CHECK(text == std::string(70000, 'a'));
}

TEST_CASE("redact_sensitive_text: generated text keeps no planted secret", "[privacy][redact]") {
  std::mt19937_64 random(20261207);
  const std::vector<std::string> words = {"the", "answer", "is", "42", ",", ".",    "(",
                                          ")",   "model",  "\n", "-",  "@", "user", "x.y"};
  const std::vector<std::string> secrets = {"jane.doe@example.com", "4111 1111 1111 1111",
                                            "5500-0055-5555-5559", "sk-live0123456789ABCDEFabcdef",
                                            "Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz"};
  for (int round = 0; round < 4000; ++round) {
    // Half the rounds put a space after every piece, the others glue some together.
    const bool spaced = round % 2 == 0;
    std::string text = " ";
    std::vector<std::string> planted;
    const int pieces = static_cast<int>(random() % 12);
    for (int p = 0; p < pieces; ++p) {
      if (random() % 4 == 0) {
        const std::string& s = secrets[random() % secrets.size()];
        planted.push_back(s);
        text += s;
      } else {
        text += words[random() % words.size()];
      }
      if (spaced || random() % 3 != 0) text += ' ';
    }
    std::string redacted = text;
    streamll::redact_sensitive_text(redacted);
    CAPTURE(text, redacted);
    // A secret glued to a word may be kept (it is then not a whole address, number or key),
    // but one with a space on both sides never is.
    for (const std::string& s : planted) {
      if (text.find(" " + s + " ") != std::string::npos) {
        CHECK(redacted.find(" " + s + " ") == std::string::npos);
      }
    }
    // Spaced, the result holds nothing that matches again. (Glued, a marker can end a word
    // and start a new key-like run: "5500-[CARD]-0055...".)
    if (spaced) {
      std::string again = redacted;
      CHECK(streamll::redact_sensitive_text(again) == 0);
    }
  }
}

TEST_CASE("sensitive_data_redactor rewrites data strings raw JSON and tags", "[privacy][redact]") {
  auto context = std::make_shared<streamll::EventContext>();
  context->tags = {{"user_id", "jane@example.com"}, {"environment", "production"}};
  streamll::Event e = streamll::Event::capture(streamll::EventType::custom, context, {}, "x");
  e.data.append_new("question", "mail jane@example.com my card 4111111111111111");
  e.data.append_new("jane@example.com", 1);  // keys are left alone
  e.data.append_new("raw", streamll::RawJson{R"({"to":"a@b.co"})"});
  e.data.append_new("n", 4111111111111111);
  streamll::sensitive_data_redactor()(e);
  CHECK(e.data.get<std::string>("question") == "mail [EMAIL] my card [CARD]");
  CHECK(e.data.contains("jane@example.com"));
  CHECK(std::get<streamll::RawJson>(e.data["raw"].storage()).text == R"({"to":"[EMAIL]"})");
  CHECK(e.data.get<std::int64_t>("n") == 4111111111111111);
  CHECK(e.tag("user_id") == "[EMAIL]");
  CHECK(e.tag("environment") == "production");
  CHECK(context->tags[0].second == "jane@example.com");  // the span's own context is shared
  const auto untouched = e.context;
  streamll::sensitive_data_redactor()(e);
  CHECK(e.context == untouched);  // nothing changed: no copy
}

TEST_CASE("sensitive_data_redactor rewrites every field of a repeated key", "[privacy][redact]") {
  // The JSON carries a repeated key once, at its first position with its last value: the
  // second field must be redacted too, not only the first.
  streamll::Event e;
  e.data.append_new("question", "from jane@example.com");
  e.data.append_new("n", 1);
  e.data.append_new("question", "card 4111111111111111 of joe@example.com");
  e.data.append_new("raw", streamll::RawJson{R"(["a@b.co"])"});
  e.data.append_new("raw", streamll::RawJson{R"(["c@d.co"])"});
  streamll::sensitive_data_redactor()(e);
  REQUIRE(e.data.size() == 5);
  const auto at = [&](std::size_t i) { return (e.data.begin() + static_cast<long>(i))->value; };
  CHECK(at(0) == streamll::Value("from [EMAIL]"));
  CHECK(at(2) == streamll::Value("card [CARD] of [EMAIL]"));
  CHECK(at(3) == streamll::Value(streamll::RawJson{R"(["[EMAIL]"])"}));
  CHECK(at(4) == streamll::Value(streamll::RawJson{R"(["[EMAIL]"])"}));
  const std::string json = streamll::to_json(e);
  CAPTURE(json);
  CHECK(json.find("@example.com") == std::string::npos);
  CHECK(json.find("4111111111111111") == std::string::npos);
  CHECK(json.find("c@d.co") == std::string::npos);
}
