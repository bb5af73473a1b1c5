#pragma once
// Events per second a GroupConsumer with a no-op handler reads from a prefilled stream: the
// consumer side's baseline, shared by the harnesses that compare against it.

#include <chrono>
#include <iostream>
#include <string>

#include "streamll/redis/consumer.hpp"

namespace streamll::bench {

inline double group_consumer_rate(const std::string& url, const std::string& key, std::size_t n,
                                  std::size_t batch, bool parallel_decode) {
  using Clock = std::chrono::steady_clock;
  ConsumerOptions o;
  o.connection.url = url;
  o.stream_key = key;
  o.group = "bench_" + std::to_string(Clock::now().time_since_epoch().count());
  o.consumer_name = "bench_worker";
  o.batch_size = batch;
  o.parallel_decode = parallel_decode;
  o.connection.socket_timeout = std::chrono::seconds(30);
  GroupConsumer consumer(o);
  std::size_t handled = 0;
  consumer.on_any([&handled](const ConsumedEvent&) { ++handled; });
  consumer.poll(std::chrono::milliseconds(0));  // connect and create the group first
  const auto start = Clock::now();
  while (handled < n) {
    const auto r = consumer.poll(std::chrono::milliseconds(0));
    if (r.connected && r.entries == 0) break;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (handled < n) std::cerr << "consumer handled only " << handled << " of " << n << "\n";
  return static_cast<double>(handled) / secs;
}

}  // namespace streamll::bench
