// render_gauges() (src/cli/exporter_gauges.hpp): what the exporter serves from its last read of
// the producers' heartbeats and the consumer groups, and what it serves when a read failed.

#include <catch2/catch.hpp>

#include <string>

#include "cli/exporter_gauges.hpp"

using streamll::cli::GaugeSnapshot;
using streamll::cli::render_gauges;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

GaugeSnapshot snapshot() {
  GaugeSnapshot s;
  streamll::ProducersReport producers;
  producers.server_time_ms = 1'700'000'012'500;
  streamll::ProducerInfo p;
  p.id = "vm:42:1:abcd0123";
  p.service = "rag";
  p.host = "vm";
  p.stream = "ml_events";
  p.delivered = 1000;
  p.failed = 2;
  p.dropped_by_reason = {{"oldest", 7}};
  p.buffered = 3;
  p.breaker = "open";
  p.updated_at_ms = 1'700'000'010'000;
  producers.producers.push_back(p);
  producers.gone.push_back({"vm:41:1:ffff0000", "ml_events", 0, 1'700'000'000'000});
  s.producers = producers;
  streamll::GroupsReport groups;
  streamll::GroupInfo g;
  g.name = "workers";
  g.lag = 12;
  g.pending = 4;
  groups.groups.push_back(g);
  streamll::GroupInfo behind;  // entries past its position were trimmed: Redis cannot tell
  behind.name = "trimmed";
  behind.lag_exact = false;
  behind.pending = 1;
  groups.groups.push_back(behind);
  groups.stream_length = 345;
  s.groups.emplace_back("ml_events", groups);
  s.taken_at_ms = 1'700'000'012'000;
  return s;
}

}  // namespace

TEST_CASE("The exporter's gauges show the producers, the stream and its groups",
          "[exporter][gauges]") {
  const std::string text = render_gauges(snapshot(), 3);
  INFO(text);
  const std::string who =
      R"(producer="vm:42:1:abcd0123",service="rag",host="vm",stream="ml_events")";
  CHECK(has_line(text, "streamll_producer_delivered_total{" + who + "} 1000"));
  CHECK(has_line(text, "streamll_producer_failed_total{" + who + "} 2"));
  CHECK(has_line(text, "streamll_producer_dropped_total{" + who + ",reason=\"oldest\"} 7"));
  CHECK(has_line(text, "streamll_producer_buffered{" + who + "} 3"));
  CHECK(has_line(text, "streamll_producer_breaker_state{" + who + ",state=\"open\"} 1"));
  CHECK(has_line(text, "streamll_producer_breaker_state{" + who + ",state=\"closed\"} 0"));
  CHECK(has_line(text, "streamll_producer_breaker_state{" + who + ",state=\"half_open\"} 0"));
  // Server time minus the heartbeat's updated_at, in seconds.
  CHECK(has_line(text, "streamll_producer_heartbeat_age_seconds{" + who + "} 2.5"));
  CHECK(has_line(text, R"(streamll_producers{state="live"} 1)"));
  CHECK(has_line(text, R"(streamll_producers{state="stopped"} 1)"));
  CHECK(has_line(text, R"(streamll_stream_length{stream="ml_events"} 345)"));
  CHECK(has_line(text, R"(streamll_consumer_group_lag{stream="ml_events",group="workers"} 12)"));
  CHECK(has_line(text, R"(streamll_consumer_group_pending{stream="ml_events",group="workers"} 4)"));
  // A lag Redis cannot tell is left out, not shown as 0; its pending entries are known.
  CHECK(text.find(R"(streamll_consumer_group_lag{stream="ml_events",group="trimmed"})") ==
        std::string::npos);
  CHECK(has_line(text, R"(streamll_consumer_group_pending{stream="ml_events",group="trimmed"} 1)"));
  CHECK(has_line(text, "streamll_exporter_refresh_errors_total 3"));
  CHECK(has_line(text, "streamll_exporter_refresh_success 1"));
  CHECK(has_line(text, "streamll_exporter_refresh_timestamp_seconds 1700000012"));
}

TEST_CASE("A failed read leaves its families without samples rather than showing zeros",
          "[exporter][gauges]") {
  GaugeSnapshot s;  // nothing could be read
  s.errors.push_back("producers: connection refused");
  const std::string text = render_gauges(s, 1);
  INFO(text);
  // Each family is still described (a dashboard finds the name), with no sample that would
  // read as "no producer" or "no lag".
  CHECK(has_line(text, "# TYPE streamll_producers gauge"));
  CHECK(text.find("streamll_producers{") == std::string::npos);
  CHECK(has_line(text, "# TYPE streamll_stream_length gauge"));
  CHECK(text.find("streamll_stream_length{") == std::string::npos);
  CHECK(text.find("streamll_consumer_group_lag{") == std::string::npos);
  CHECK(has_line(text, "streamll_exporter_refresh_errors_total 1"));
  CHECK(has_line(text, "streamll_exporter_refresh_success 0"));
}
