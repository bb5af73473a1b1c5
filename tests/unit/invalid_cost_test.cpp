// Analytics add up only costs that are finite numbers >= 0: an llm_call whose cost_usd is
// negative, NaN or infinite (written as null), a string or a nested value is still a call, but
// its cost is left out of total_cost_usd and counted in invalid_cost. The same through a full
// Event, through the JSON a sink writes (the fast decoder), and across merged shards.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <streamll/streamll.hpp>

#include "redis/analytics/usage_accumulator.hpp"

namespace {

using streamll::Event;
using streamll::EventType;
using streamll::Value;

Event call_costing(Value cost) {
  return Event::capture(EventType::llm_call, nullptr,
                        {{"model", "m"}, {"tokens_used", 10}, {"cost_usd", std::move(cost)}});
}

streamll::redis::StreamEntry entry_of(const Event& event) {
  streamll::redis::StreamEntry entry;
  entry.id = "1-0";
  entry.fields = {{"event", streamll::to_json(event)}};
  return entry;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("A negative, non-finite or non-number cost is counted as invalid, not summed",
          "[analytics]") {
  const std::vector<Value> valid = {0.5, 2, 0.0, -0.0, 1e-9};
  const std::vector<Value> invalid = {
      -0.25,  -1, std::nan(""), kInf, -kInf, "0.5", nullptr, true, streamll::RawJson{"[1]"},
      -1e-300};
  const double valid_sum = 0.5 + 2 + 1e-9;

  streamll::UsageQuery q;
  streamll::redis::UsageAccumulator via_events(q), via_json(q);
  for (const auto* costs : {&valid, &invalid}) {
    for (const Value& cost : *costs) {
      const Event event = call_costing(cost);
      via_events.add(event);
      via_json.add_entry(entry_of(event));
    }
  }
  // Without a cost at all a call is neither: nothing to sum, nothing wrong.
  const Event no_cost = Event::capture(EventType::llm_call, nullptr, {{"model", "m"}});
  via_events.add(no_cost);
  via_json.add_entry(entry_of(no_cost));
  // Another event type's cost is not read at all.
  const Event custom = Event::capture(EventType::custom, nullptr, {{"cost_usd", -5}}, "x");
  via_events.add(custom);
  via_json.add_entry(entry_of(custom));

  for (const auto& s : {via_events.result(), via_json.result()}) {
    CHECK(s.total_calls == valid.size() + invalid.size() + 1);
    CHECK(s.total_tokens == static_cast<std::int64_t>(10 * (valid.size() + invalid.size())));
    CHECK(s.total_cost_usd == Approx(valid_sum).epsilon(1e-12));
    CHECK(s.invalid_cost == invalid.size());
    CHECK(s.undecodable.total() == 0);
  }
}

TEST_CASE("invalid_cost adds up across merged shards", "[analytics]") {
  streamll::UsageQuery q;
  streamll::redis::UsageAccumulator a(q), b(q), merged(q);
  a.add(call_costing(-1.0));
  a.add(call_costing(1.0));
  b.add(call_costing(-2.0));
  b.add(call_costing(std::nan("")));
  merged.merge(a);
  merged.merge(b);
  const auto s = merged.result();
  CHECK(s.total_calls == 4);
  CHECK(s.total_cost_usd == 1.0);
  CHECK(s.invalid_cost == 3);
}

TEST_CASE("The last cost_usd of an event decides, as for every data key", "[analytics]") {
  // Through the fast decoder: a repeated key in the JSON text.
  streamll::redis::UsageAccumulator acc{streamll::UsageQuery{}};
  streamll::redis::StreamEntry entry;
  entry.fields = {{"event", R"({"event_type":"llm_call","data":{"cost_usd":-1,"cost_usd":0.5}})"}};
  acc.add_entry(entry);
  entry.fields = {{"event", R"({"event_type":"llm_call","data":{"cost_usd":0.5,"cost_usd":-1}})"}};
  acc.add_entry(entry);
  const auto s = acc.result();
  CHECK(s.total_calls == 2);
  CHECK(s.total_cost_usd == 0.5);
  CHECK(s.invalid_cost == 1);
}
