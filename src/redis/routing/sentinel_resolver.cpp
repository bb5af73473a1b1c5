#include "redis/routing/sentinel_resolver.hpp"

#include <algorithm>

#include "redis/transport/command_buffer.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/errors.hpp"
#include "streamll/redis/sentinel.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

}  // namespace

std::optional<RedisEndpoint> parse_master_address(const RedisReply& reply,
                                                  const std::string& sentinel) {
  throw_if_error(reply, "SENTINEL get-master-addr-by-name on " + sentinel);
  if (reply.is_nil()) return std::nullopt;
  if (!reply.is_array() || reply.elements.size() != 2 || !reply.elements[0].is_string() ||
      !reply.elements[1].is_string() || reply.elements[0].text.empty()) {
    throw IoError("unexpected reply to SENTINEL get-master-addr-by-name from " + sentinel + ": " +
                  reply.to_debug_string());
  }
  const std::string& port_text = reply.elements[1].text;
  unsigned long port = 0;
  bool ok = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (!ok || port == 0 || port > 65535) {
    throw IoError("sentinel " + sentinel + " named a master with port '" + port_text + "'");
  }
  return RedisEndpoint{reply.elements[0].text, static_cast<std::uint16_t>(port), true};
}

bool role_is_master(const RedisReply& reply) {
  if (reply.is_error()) return true;
  return !(reply.is_array() && !reply.elements.empty() && reply.elements[0].is_string() &&
           reply.elements[0].text != "master");
}

SentinelResolver::SentinelResolver(ConnectionTarget target, TransportMaker make)
    : sentinel_target_(std::move(target)),
      master_name_(sentinel_target_.master_name),
      sentinels_(sentinel_target_.nodes),
      make_(std::move(make)) {
  if (sentinels_.empty()) throw ConfigError("sentinels", "must list at least one sentinel");
  if (master_name_.empty()) throw ConfigError("sentinel_master", "must not be empty");
  sentinel_target_.username = sentinel_target_.sentinel_username;
  sentinel_target_.password = sentinel_target_.sentinel_password;
  sentinel_target_.db.reset();
  if (!make_) make_ = [](const ConnectionTarget& t) { return make_socket_transport(t); };
}

RedisEndpoint SentinelResolver::master(SteadyClock::time_point deadline, InterruptGate* gate) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string failures;
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    const RedisEndpoint sentinel = sentinels_[i];
    if (SteadyClock::now() >= deadline) {
      failures +=
          (failures.empty() ? "" : "; ") + std::string("no time left for ") + sentinel.to_string();
      break;
    }
    try {
      RedisEndpoint master = ask(sentinel, deadline, gate);
      // The client guidelines: the sentinel that answered is asked first next time.
      std::rotate(sentinels_.begin(), sentinels_.begin() + static_cast<std::ptrdiff_t>(i),
                  sentinels_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return master;
    } catch (const std::exception& e) {
      failures += (failures.empty() ? "" : "; ") + sentinel.to_string() + ": " + e.what();
      if (gate && gate->interrupted()) break;
    }
  }
  throw IoError("no sentinel named a master for '" + master_name_ + "' (" + failures + ")");
}

RedisEndpoint SentinelResolver::ask(const RedisEndpoint& sentinel, SteadyClock::time_point deadline,
                                    InterruptGate* gate) {
  const ConnectionTarget target = sentinel_target_.at(sentinel);
  auto transport = make_(target);
  std::optional<InterruptGate::Scope> scope;
  if (gate) scope.emplace(*gate, *transport);
  transport->connect(std::min(deadline, detail::deadline_in(target.connect_timeout)));
  CommandBuffer query;
  query.append({"SENTINEL", "get-master-addr-by-name", master_name_});
  std::vector<RedisReply> replies;
  transport->execute(query, replies,
                     std::min(deadline, detail::deadline_in(target.socket_timeout)));
  transport->close();
  const auto master = parse_master_address(replies.at(0), sentinel.to_string());
  if (!master) throw IoError("does not know a master named '" + master_name_ + "'");
  return *master;
}

}  // namespace streamll::redis

namespace streamll {

EndpointProvider make_sentinel_endpoint_provider(const RedisConnectionOptions& options) {
  auto resolver = std::make_shared<redis::SentinelResolver>(redis::resolve_connection(options),
                                                            redis::TransportMaker{});
  return [resolver](const EndpointRequest& request) { return resolver->master(request.deadline); };
}

}  // namespace streamll
