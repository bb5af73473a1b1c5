// Reading event data and tags so that a missing key or a wrong type is not mistaken for zero or
// an empty string.

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <streamll/streamll.hpp>

TEST_CASE("get<T> tells a missing key and a wrong type from a zero", "[fields]") {
  const streamll::Fields data{{"output_tokens", 0}, {"cost_usd", 0.25},
                              {"model", "m"},       {"success", false},
                              {"nothing", nullptr}, {"raw", streamll::RawJson{"[1]"}}};
  // What as_int() cannot tell apart:
  CHECK(data["outptu_tokens"].as_int() == 0);
  CHECK(data["output_tokens"].as_int() == 0);
  // get<T> can:
  CHECK(data.get<std::int64_t>("output_tokens") == std::optional<std::int64_t>(0));
  CHECK(data.get<std::int64_t>("outptu_tokens") == std::nullopt);  // missing
  CHECK(data.get<std::int64_t>("model") == std::nullopt);          // a string
  CHECK(data.get<std::int64_t>("cost_usd") == std::nullopt);       // a double is not an integer
  CHECK(data.get<std::int64_t>("success") == std::nullopt);        // nor is a bool
  CHECK(data.get<std::int64_t>("nothing") == std::nullopt);        // nor null
  CHECK(data.get<double>("cost_usd") == 0.25);
  CHECK(data.get<double>("output_tokens") == 0.0);  // an integer reads as a double
  CHECK(data.get<double>("model") == std::nullopt);
  CHECK(data.get<bool>("success") == false);
  CHECK(data.get<bool>("output_tokens") == std::nullopt);
  CHECK(data.get<std::string>("model") == "m");
  CHECK(data.get<std::string>("raw") == std::nullopt);  // raw JSON is not a string
  CHECK(data.get<std::string>("output_tokens") == std::nullopt);
  // The key is there, holding null: contains() tells that apart from missing.
  CHECK(data.contains("nothing"));
  CHECK(data["nothing"].is_null());
  CHECK_FALSE(data.contains("outptu_tokens"));
}

TEST_CASE("get<T> into a narrower integer type is empty when the value does not fit", "[fields]") {
  const streamll::Fields data{{"small", 200}, {"negative", -1}, {"big", std::int64_t{1} << 40}};
  CHECK(data.get<int>("small") == 200);
  CHECK(data.get<std::uint8_t>("small") == std::uint8_t{200});
  CHECK(data.get<std::int8_t>("small") == std::nullopt);
  CHECK(data.get<unsigned>("negative") == std::nullopt);
  CHECK(data.get<int>("negative") == -1);
  CHECK(data.get<int>("big") == std::nullopt);
  CHECK(data.get<std::uint64_t>("big") == (std::uint64_t{1} << 40));
  CHECK(streamll::Value(7).get<long long>() == 7);
}

TEST_CASE("event.tag() reads like data: compare and as_string and value_or", "[event]") {
  auto context = std::make_shared<streamll::EventContext>();
  context->tags = {{"tenant", "acme"}, {"empty", ""}};
  const auto event = streamll::Event::capture(streamll::EventType::start, context);

  CHECK(event.tag("tenant") == "acme");
  CHECK(event.tag("tenant") == std::string("acme"));
  CHECK(event.tag("tenant") == std::string_view("acme"));
  CHECK("acme" == event.tag("tenant"));
  CHECK(event.tag("tenant") != "other");
  CHECK(event.tag("tenant").as_string() == "acme");
  CHECK(event.tag("tenant").has_value());
  // A missing tag equals no string, not even the empty one, unlike a present empty tag.
  CHECK(event.tag("tenatn") != "");
  CHECK_FALSE(event.tag("tenatn").has_value());
  CHECK(event.tag("tenatn").as_string().empty());
  CHECK(event.tag("tenatn").value_or("none") == "none");
  CHECK(event.tag("empty") == "");
  CHECK(event.tag("empty").value_or("none").empty());

  // What worked when tag() returned a pointer still does.
  CHECK(event.tag("missing") == nullptr);
  CHECK(event.tag("tenant") != nullptr);
  CHECK(*event.tag("tenant") == "acme");
  CHECK(event.tag("tenant")->size() == 4);
  const std::string* pointer = event.tag("tenant");
  REQUIRE(pointer != nullptr);
  CHECK(*pointer == "acme");
  if (auto tag = event.tag("tenant")) {
    CHECK(*tag == "acme");
  } else {
    FAIL("the tag is there");
  }
}

TEST_CASE("two tags compare by value and not by address", "[event]") {
  auto first = std::make_shared<streamll::EventContext>();
  first->tags = {{"tenant", "acme"}, {"region", "eu"}};
  auto second = std::make_shared<streamll::EventContext>();
  second->tags = {{"tenant", "acme"}, {"region", "us"}};
  const auto a = streamll::Event::capture(streamll::EventType::start, first);
  const auto b = streamll::Event::capture(streamll::EventType::start, second);

  // Equal strings held by two events (two addresses) are equal tags.
  CHECK(a.tag("tenant") == b.tag("tenant"));
  CHECK_FALSE(a.tag("tenant") != b.tag("tenant"));
  CHECK(a.tag("region") != b.tag("region"));
  // Two missing tags are equal; a missing tag differs from any present one.
  CHECK(a.tag("missing") == b.tag("absent"));
  CHECK(a.tag("missing") != b.tag("tenant"));
  CHECK(b.tag("tenant") != a.tag("missing"));
}
