#include "redis/sink/poison_isolation.hpp"

#include <algorithm>

#include "redis/sink/batch_replies.hpp"

namespace streamll::redis {

bool PoisonIsolation::after_close(SinkBatches& batches, std::vector<RedisReply>* partial,
                                  const std::string& what, const std::string& current_host) {
  std::size_t answered = partial ? std::min(partial->size(), batches.head().xadds) : 0;
  bool protocol_error = false;
  for (std::size_t i = 0; i < answered; ++i) {
    if (is_protocol_error((*partial)[i])) {
      answered = i;
      protocol_error = true;
      break;
    }
  }
  bool isolated = false;
  for (std::size_t i = batches.count(); i-- > 1;) {  // the head last: settling may complete it
    SinkBatch& batch = batches.at(i);
    if (!batch.started || batch.sent != &batch.commands || batch.xadds != batch.events.size())
      continue;
    // Redis stopped reading at the head's protocol error: this one goes again, whole.
    if (protocol_error) continue;
    batch.isolate = batch.events.size();
    host_.encode(batch);
    isolated = true;
  }
  SinkBatch& head = batches.head();
  if (!head.started || head.sent != &head.commands || head.xadds != head.encodable())
    return isolated;
  if (head.isolate > 0) {  // the event sent alone
    // Answered before the close (durable: the XADD, then the close during WAIT): an outage.
    if (partial && !partial->empty() && !protocol_error) return false;
    suspect_pending_ = true;
    suspect_reason_ = protocol_error ? partial->front().text : what;
    return true;
  }
  // Up to and including the event answered with the protocol error, one at a time, unless
  // the replies before it settle their events.
  head.isolate = protocol_error ? answered + 1 : head.events.size();
  // Replies are trusted only with the protocol error that explains the close (an error a
  // server sends as it closes, such as maxclients, is not an answer to an XADD). Durable:
  // an answered XADD is not delivered before WAIT confirms it; it is sent again.
  if (protocol_error && answered > 0 && !durable_) {
    partial->resize(answered);
    const BatchReplies r = read_batch_replies(*partial, answered, false, false, current_host);
    if (r.transient.empty() && !r.redirect && r.settled == answered) {
      if (answered == head.events.size()) {
        head.isolate = 0;  // every event was answered before the close
        host_.complete(head, r);
      } else {
        head.isolate = 1;  // the event answered with the protocol error, now first
        host_.settle_prefix(head, answered, r);
      }
      return true;
    }
  }
  host_.encode(head);
  return true;
}

void PoisonIsolation::fail_suspect(SinkBatches& batches) {
  if (batches.count() == 0 || batches.head().isolate == 0) return;
  SinkBatch& batch = batches.head();
  // Counted before fail_first() takes the event out of the buffer: whoever sees it gone (a
  // flush(), stats().buffered) sees it counted.
  SinkCounters::add(counters_.failed_protocol);
  host_.fail_first(batch, "an event for stream '" + stream_key_ +
                              "' made Redis close the connection when sent alone too; it was "
                              "dropped, the rest of its batch is delivered: " +
                              suspect_reason_);
  batch.isolate = 0;
  batch.started = false;
  if (batch.events.empty()) {
    host_.complete(batch, BatchReplies{});
  } else {
    host_.encode(batch);
  }
}

}  // namespace streamll::redis
