#include "redis/routing/query_connection.hpp"

#include "redis/routing/cluster_slots.hpp"
#include "redis/routing/connector.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {

void run_query(const RedisConnectionOptions& options, const std::string& key,
               const std::function<void(RedisTransport&)>& query, const TransportMaker& make) {
  constexpr int kMaxRedirects = 5;  // the sink's and consumers' bound: nodes that disagree
  Connector connector(options, make);
  std::optional<std::uint16_t> slot;
  if (connector.deployment() == RedisDeployment::cluster) slot = key_slot(key);
  for (int attempt = 0;; ++attempt) {
    auto transport = connector.connect(detail::deadline_in(options.connect_timeout), slot);
    try {
      query(*transport);
      return;
    } catch (const ReplyError& e) {
      const auto redirect = parse_redirect(e.server_message(), connector.current_host());
      if (!redirect || redirect->kind != Redirect::Kind::moved || attempt >= kMaxRedirects) throw;
      connector.moved(*redirect);
    }
  }
}

}  // namespace streamll::redis
