#include "redis/routing/connector.hpp"

#include <algorithm>
#include <vector>

#include "redis/transport/command_buffer.hpp"
#include "streamll/redis/errors.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

void append_unique(std::vector<RedisEndpoint>& list, const RedisEndpoint& e) {
  if (std::find(list.begin(), list.end(), e) == list.end())
    list.push_back(RedisEndpoint{e.host, e.port, false});
}

}  // namespace

Connector::Connector(const RedisConnectionOptions& options, TransportMaker make)
    : target_(resolve_connection(options)), make_(std::move(make)) {
  if (!make_) make_ = [](const ConnectionTarget& t) { return make_socket_transport(t); };
  if (target_.deployment == RedisDeployment::sentinel) {
    sentinel_ = std::make_unique<SentinelResolver>(target_, make_);
    // Sentinel support is an endpoint provider like the user's, plus the interrupt gate.
    provider_ = [this](const EndpointRequest& request) {
      return sentinel_->master(request.deadline, &gate_);
    };
  } else {
    provider_ = target_.provider;
  }
}

std::unique_ptr<RedisTransport> Connector::open(const ConnectionTarget& target,
                                                Clock::time_point deadline, bool require_master) {
  auto transport = make_(target);
  InterruptGate::Scope scope(gate_, *transport);
  transport->connect(deadline);
  if (require_master) {
    CommandBuffer role;
    role.append({"ROLE"});
    std::vector<RedisReply> replies;
    transport->execute(role, replies,
                       std::min(deadline, detail::deadline_in(target.socket_timeout)));
    if (!role_is_master(replies.at(0))) {
      transport->close();
      throw IoError(target.display + " is not a master (ROLE: " + replies.at(0).elements[0].text +
                    "); its role changed since it was named");
    }
  }
  return transport;
}

std::unique_ptr<RedisTransport> Connector::connect(Clock::time_point deadline,
                                                   std::optional<std::uint16_t> slot) {
  ++attempts_;
  if (gate_.interrupted()) throw ClosedError("interrupted before connecting to " + target_.display);
  try {
    if (target_.deployment == RedisDeployment::cluster) {
      const RedisEndpoint owner = cluster_owner(slot.value_or(0), deadline);
      last_endpoint_ = owner;
      return open(target_.at(owner), deadline, false);
    }
    if (provider_) {
      EndpointRequest request;
      request.attempt = attempts_;
      request.previous_error = previous_error_;
      request.deadline = deadline;
      const RedisEndpoint endpoint = provider_(request);
      if (endpoint.host.empty() || endpoint.port == 0) {
        throw IoError("the endpoint provider returned no host or port");
      }
      last_endpoint_ = endpoint;
      return open(target_.at(endpoint), deadline, endpoint.require_master);
    }
    return open(target_, deadline, false);
  } catch (const std::exception& e) {
    connection_lost(e.what());
    throw;
  }
}

std::unique_ptr<RedisTransport> Connector::connect_to(const RedisEndpoint& endpoint,
                                                      Clock::time_point deadline) {
  return open(target_.at(endpoint), deadline, false);
}

void Connector::connection_lost(const std::string& why) {
  previous_error_ = why;
  if (target_.deployment == RedisDeployment::cluster) {
    slots_stale_ = true;
    last_failed_ = last_endpoint_;
  }
}

void Connector::moved(const Redirect& redirect) {
  slots_.assign(redirect.slot, redirect.to);
  ask_first_ = redirect.to;
  // The MOVED target is trusted for this slot; a full refresh (which might reach a node that
  // has not heard of the move yet) waits for the next failure.
}

RedisEndpoint Connector::cluster_owner(std::uint16_t slot, Clock::time_point deadline) {
  if (slots_stale_ || slots_.empty()) refresh_slot_map(deadline);
  auto owner = slots_.owner(slot);
  if (!owner) {
    slots_stale_ = true;
    throw IoError("no master serves hash slot " + std::to_string(slot) +
                  " (the cluster is not ready, or is resharding)");
  }
  return *owner;
}

void Connector::refresh_slot_map(Clock::time_point deadline) {
  // Who to ask: a MOVED target first, then the masters known (the one that just failed last),
  // then the seeds.
  std::vector<RedisEndpoint> candidates;
  if (ask_first_) append_unique(candidates, *ask_first_);
  for (const auto& m : slots_.masters()) {
    if (!last_failed_ || m != *last_failed_) append_unique(candidates, m);
  }
  for (const auto& seed : target_.nodes) append_unique(candidates, seed);
  if (last_failed_) append_unique(candidates, *last_failed_);

  std::string failures;
  for (const RedisEndpoint& node : candidates) {
    if (SteadyClock::now() >= deadline || gate_.interrupted()) break;
    try {
      const ConnectionTarget target = target_.at(node);
      auto transport =
          open(target, std::min(deadline, detail::deadline_in(target.connect_timeout)), false);
      InterruptGate::Scope scope(gate_, *transport);
      CommandBuffer query;
      query.append({"CLUSTER", "SLOTS"});
      std::vector<RedisReply> replies;
      transport->execute(query, replies,
                         std::min(deadline, detail::deadline_in(target.socket_timeout)));
      auto ranges = parse_cluster_slots(replies.at(0), node.host);
      if (ranges.empty()) throw IoError("it serves no slots yet");
      slots_.assign(ranges);
      slots_stale_ = false;
      ask_first_.reset();
      last_failed_.reset();
      return;
    } catch (const std::exception& e) {
      failures += (failures.empty() ? "" : "; ") + node.to_string() + ": " + e.what();
    }
  }
  throw IoError("could not learn the cluster's slot map (" +
                (failures.empty() ? std::string("no time left") : failures) + ")");
}

}  // namespace streamll::redis
