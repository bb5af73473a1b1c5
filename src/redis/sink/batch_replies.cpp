#include "redis/sink/batch_replies.hpp"

namespace streamll::redis {

bool is_transient_server_error(const std::string& prefix) {
  return prefix == "LOADING" || prefix == "BUSY" || prefix == "MASTERDOWN" ||
         prefix == "READONLY" || prefix == "TRYAGAIN" || prefix == "CLUSTERDOWN" ||
         prefix == "NOREPLICAS";
}

bool is_protocol_error(const RedisReply& reply) {
  return reply.is_error() && reply.text.find("Protocol error") != std::string::npos;
}

BatchReplies read_batch_replies(const std::vector<RedisReply>& replies, std::size_t xadds,
                                bool asking, bool wait, const std::string& host) {
  BatchReplies out;
  const std::size_t stride = asking ? 2 : 1;
  std::string transient;
  for (std::size_t i = 0; i < xadds; ++i) {
    const std::size_t at = i * stride + stride - 1;
    if (at >= replies.size()) break;
    const RedisReply& reply = replies[at];
    if (!reply.is_error()) {
      ++out.accepted;
      ++out.settled;
      continue;
    }
    if (auto redirect = parse_redirect(reply.text, host)) {
      out.redirect = std::move(redirect);
      break;
    }
    if (transient.empty() && is_transient_server_error(reply.error_prefix()))
      transient = reply.text;
    if (out.first_refusal.empty()) out.first_refusal = reply.text;
    out.refused_at.push_back(i);
    if (is_protocol_error(reply)) ++out.protocol_errors;
    ++out.refused;
    ++out.settled;
  }
  if (!transient.empty() && out.accepted == 0) {
    // Nothing got in: the server is not taking writes; none of these is a refusal for good.
    out.transient = std::move(transient);
    out.settled = out.refused = out.protocol_errors = 0;
    out.refused_at.clear();
    out.first_refusal.clear();
    out.redirect.reset();
  }
  if (wait) {
    const std::size_t at = xadds * stride;
    if (at < replies.size()) {
      const RedisReply& reply = replies[at];
      if (reply.is_integer()) {
        out.replicas = reply.integer;
      } else {
        out.wait_error =
            reply.is_error() ? reply.text : "unexpected reply " + reply.to_debug_string();
      }
    } else {
      out.wait_error = "no reply to WAIT";
    }
  }
  return out;
}

}  // namespace streamll::redis
