// The server-sent events framing of examples/openai_stream (sse_parser.hpp), against events
// written out by hand from the WHATWG rules: the same events whatever the reads' boundaries
// (every split point, byte by byte), all three line endings, comments, multi-line data, and a
// stream cut short.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sse_parser.hpp"

namespace {

struct Seen {
  std::string event, data, id;
  bool operator==(const Seen& o) const { return event == o.event && data == o.data && id == o.id; }
};

std::ostream& operator<<(std::ostream& out, const Seen& s) {
  return out << "{event: '" << s.event << "', data: '" << s.data << "', id: '" << s.id << "'}";
}

std::vector<Seen> parse_in_pieces(const std::string& stream, const std::vector<std::size_t>& cuts,
                                  bool* incomplete = nullptr) {
  example::SseParser parser;
  std::vector<Seen> seen;
  auto on_event = [&](const example::SseEvent& e) { seen.push_back({e.event, e.data, e.id}); };
  std::size_t from = 0;
  for (const std::size_t cut : cuts) {
    parser.feed(std::string_view(stream).substr(from, cut - from), on_event);
    from = cut;
  }
  parser.feed(std::string_view(stream).substr(from), on_event);
  if (incomplete != nullptr) *incomplete = parser.incomplete();
  return seen;
}

}  // namespace

TEST_CASE("sse parser: events are the same wherever the reads split the stream") {
  const std::string stream =
      "\xEF\xBB\xBF: a comment first, after a byte order mark\n"
      "data: {\"a\":1}\n\n"
      "data:no space\r\n\r\n"
      "event: update\rid: 7\rdata: x\r\r"
      "data: first line\n"
      "data:  two spaces keep one\n"
      ": a keep-alive between the lines\n"
      "data\n\n"
      "retry: 1000\nunknown: field\n\n"  // no data: no event
      "data: [DONE]\r\n\r\n";
  const std::vector<Seen> expected = {
      {"", "{\"a\":1}", ""}, {"", "no space", ""},
      {"update", "x", "7"},  {"", "first line\n two spaces keep one\n", "7"},  // the id persists
      {"", "[DONE]", "7"},
  };
  CHECK(parse_in_pieces(stream, {}) == expected);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("split at " << cut);
    CHECK(parse_in_pieces(stream, {cut}) == expected);
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  CHECK(parse_in_pieces(stream, every_byte) == expected);
}

TEST_CASE("sse parser: a CR LF split between reads ends one line, not two") {
  // Were the "\n" taken as a second line end, it would be an empty line: an event dispatched
  // early, its second data line lost to the next event.
  const std::string stream = "data: a\r\ndata: b\r\n\r\n";
  CHECK(parse_in_pieces(stream, {8}) == std::vector<Seen>{{"", "a\nb", ""}});
  CHECK(parse_in_pieces(stream, {8, 17}) == std::vector<Seen>{{"", "a\nb", ""}});
}

TEST_CASE("sse parser: an empty data line is an event with empty data") {
  CHECK(parse_in_pieces("data:\n\n", {}) == std::vector<Seen>{{"", "", ""}});
  CHECK(parse_in_pieces("data\n\n", {}) == std::vector<Seen>{{"", "", ""}});
  CHECK(parse_in_pieces("\n\n\n", {}).empty());
}

TEST_CASE("sse parser: a stream cut inside an event dispatches nothing and says so") {
  bool incomplete = false;
  CHECK(parse_in_pieces("data: {\"half\":", {}, &incomplete).empty());
  CHECK(incomplete);
  CHECK(parse_in_pieces("data: whole line\n", {}, &incomplete).empty());  // no empty line yet
  CHECK(incomplete);
  CHECK(parse_in_pieces("data: done\n\n", {}, &incomplete).size() == 1);
  CHECK_FALSE(incomplete);
  CHECK(parse_in_pieces(": only a comment\n", {}, &incomplete).empty());
  CHECK_FALSE(incomplete);
}

TEST_CASE("sse parser: a line at its limit is kept and one byte more stops the parser") {
  const std::size_t limit = example::SseLimits{}.max_line;
  REQUIRE(limit == 1024 * 1024);
  const std::string at_limit = "data:" + std::string(limit - 5, 'x');  // the line, exactly
  example::SseParser parser;
  std::vector<std::string> data;
  auto on_event = [&](const example::SseEvent& e) { data.push_back(e.data); };
  CHECK(parser.feed(at_limit + "\n\n", on_event));
  REQUIRE(data.size() == 1);
  CHECK(data[0].size() == limit - 5);
  CHECK_FALSE(parser.oversized());

  // One byte over, whether it comes in the same read or alone in the next one.
  for (const bool split : {false, true}) {
    example::SseParser over;
    data.clear();
    const std::string line = at_limit + "y";
    const bool fed = split ? over.feed(at_limit, on_event) && over.feed("y", on_event)
                           : over.feed(line, on_event);
    CHECK_FALSE(fed);
    CHECK(over.oversized());
    // Everything after is ignored, even an event that would be valid on its own.
    CHECK_FALSE(over.feed("\n\ndata: later\n\n", on_event));
    CHECK(data.empty());
  }
}

TEST_CASE("sse parser: an event's data is capped across its lines") {
  example::SseLimits limits;
  limits.max_line = 64;
  limits.max_data = 20;
  std::vector<std::string> data;
  auto on_event = [&](const example::SseEvent& e) { data.push_back(e.data); };
  {
    // 9 + '\n' + 10 = 20 bytes as dispatched: at the limit.
    example::SseParser parser(limits);
    CHECK(parser.feed("data: 123456789\ndata: 0123456789\n\n", on_event));
    REQUIRE(data.size() == 1);
    CHECK(data[0] == "123456789\n0123456789");
  }
  {
    // 21 bytes: the second line does not fit, and nothing is dispatched.
    data.clear();
    example::SseParser parser(limits);
    CHECK_FALSE(parser.feed("data: 123456789\ndata: 0123456789A\n\n", on_event));
    CHECK(parser.oversized());
    CHECK(data.empty());
  }
  {
    // The default: 8 MiB of data in lines of 1 MiB or less.
    REQUIRE(example::SseLimits{}.max_data == 8 * 1024 * 1024);
    data.clear();
    example::SseParser parser;
    const std::string line = "data:" + std::string(1024 * 1024 - 5, 'z') + "\n";
    bool fed = true;
    for (int i = 0; i < 9 && fed; ++i) fed = parser.feed(line, on_event);
    CHECK_FALSE(fed);
    CHECK(parser.oversized());
    CHECK(data.empty());
  }
}

TEST_CASE("sse parser: field rules for event names ids and raw bytes") {
  using namespace std::string_literals;
  SECTION("the event name lasts one event, even one never dispatched") {
    CHECK(parse_in_pieces("event: a\ndata: 1\n\ndata: 2\n\n", {}) ==
          std::vector<Seen>{{"a", "1", ""}, {"", "2", ""}});
    CHECK(parse_in_pieces("event: lost\n\ndata: 3\n\n", {}) == std::vector<Seen>{{"", "3", ""}});
  }
  SECTION("an id holding NUL is ignored and the previous id stays") {
    CHECK(parse_in_pieces("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"s, {}) ==
          std::vector<Seen>{{"", "a", "1"}, {"", "b", "1"}});
  }
  SECTION("an empty id clears the last id") {
    CHECK(parse_in_pieces("id: 1\ndata: a\n\nid\ndata: b\n\n", {}) ==
          std::vector<Seen>{{"", "a", "1"}, {"", "b", ""}});
  }
  SECTION("a byte order mark is dropped only at the very start of the stream") {
    // Later, it is part of the line: a field named "\xEF\xBB\xBF" "data", which is unknown.
    CHECK(parse_in_pieces("data: a\n\n\xEF\xBB\xBF"
                          "data: b\n\n",
                          {}) == std::vector<Seen>{{"", "a", ""}});
    CHECK(parse_in_pieces("\n\xEF\xBB\xBF"
                          "data: c\n\n",
                          {})
              .empty());
  }
  SECTION("NUL and bytes that are not UTF-8 pass through data unchanged (not WHATWG's U+FFFD)") {
    const std::string value = "a\0b\xff\xfe\x80z"s;
    CHECK(parse_in_pieces("data: " + value + "\n\n", {}) == std::vector<Seen>{{"", value, ""}});
  }
}
