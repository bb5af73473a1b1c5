#include "redis/sink/durable_ack.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {

DurableAck::DurableAck(const RedisSinkOptions& options, const detail::ClockSource& clock,
                       SinkCounters& counters)
    : min_replicas_(static_cast<long long>(options.min_replicas_ack)),
      timeout_(detail::clamp_to_a_year(options.replicas_ack_timeout)),
      clock_(clock),
      counters_(counters) {
  append_wait(wait_command_);
}

void DurableAck::append_wait(CommandBuffer& commands) const {
  if (!enabled()) return;
  commands.append({"WAIT", std::to_string(min_replicas_), std::to_string(timeout_.count())});
}

std::chrono::milliseconds DurableAck::reply_timeout(
    std::chrono::milliseconds socket_timeout) const noexcept {
  return detail::clamp_to_a_year(socket_timeout) +
         (enabled() ? timeout_ : std::chrono::milliseconds(0));
}

bool DurableAck::holding_back(const SinkBatch& head) const noexcept {
  return head.awaiting_replicas && clock_.steady_now() < retry_at_;
}

DurableAck::Verdict DurableAck::check(SinkBatch& batch, const BatchReplies& r, bool wait_only,
                                      bool via_ask) {
  SinkCounters::add(counters_.replica_waits, r.replicas || !r.wait_error.empty() ? 1 : 0);
  if (r.replicas && *r.replicas >= min_replicas_) return {};
  SinkCounters::add(counters_.replica_ack_shortfalls);
  if (!wait_only && !r.redirect) {
    batch.pending = r;
  }
  // Written through an ASK connection, the batch cannot be confirmed by WAIT on the main one.
  // Refused (an ACL, or a master demoted to replica while the connection lived), it goes whole
  // on a new connection.
  const bool refused = !r.redirect && !r.wait_error.empty();
  batch.awaiting_replicas = !refused && (wait_only || (!r.redirect && !via_ask));
  Verdict verdict;
  verdict.answer = refused ? Answer::refused : Answer::too_few;
  verdict.why = r.wait_error.empty()
                    ? "WAIT: " + std::to_string(r.replicas.value_or(0)) + " of " +
                          std::to_string(min_replicas_) + " replicas acknowledged within " +
                          std::to_string(timeout_.count()) + " ms"
                    : "WAIT refused: " + r.wait_error;
  return verdict;
}

void DurableAck::shortfall_answered(const SinkBatch& batch) {
  if (std::chrono::steady_clock::now() - batch.started_at < timeout_ / 2) {
    retry_at_ = clock_.steady_now() + timeout_;
  }
}

}  // namespace streamll::redis
