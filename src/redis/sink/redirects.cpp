#include "redis/sink/redirects.hpp"

#include <exception>

namespace streamll::redis {

bool Redirects::one_too_many() noexcept {
  if (++in_a_row_ <= kMaxInARow) return false;
  in_a_row_ = 0;
  return true;
}

Redirects::AskResult Redirects::ask(const SinkBatch& batch, const RedisEndpoint& to,
                                    const XaddEncoder& encoder, const DurableAck& durable,
                                    Connector& connector, const RedisConnectionOptions& connection,
                                    const DeadlineFor& deadline_for,
                                    std::vector<RedisReply>& replies, std::string& error) {
  ask_commands_.clear();
  for (const std::uint32_t index : batch.xadd_events) {  // the events that encoded before
    ask_commands_.append({"ASKING"});
    const EncodeResult result = encoder.append_command(batch.events[index], ask_commands_);
    if (result != EncodeResult::ok && result != EncodeResult::truncated) {
      return AskResult::cannot_encode;
    }
  }
  durable.append_wait(ask_commands_);
  const auto timeout = durable.reply_timeout(connection.socket_timeout);
  try {
    auto asked = connector.connect_to(to, deadline_for(connection.connect_timeout));
    asked->execute(ask_commands_, replies, deadline_for(timeout));
  } catch (const std::exception& e) {
    error = e.what();
    return AskResult::failed;
  }
  return AskResult::answered;
}

}  // namespace streamll::redis
