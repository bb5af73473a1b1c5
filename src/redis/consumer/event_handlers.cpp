// EventHandlers: the per-type handler table shared by GroupConsumer and StreamReader.

#include <map>
#include <vector>

#include "logging.hpp"
#include "streamll/redis/consumer.hpp"

namespace streamll {

struct EventHandlers::Table {
  // std::less<> so that lookups by string_view need no temporary string per event.
  std::map<std::string, std::vector<EventHandler>, std::less<>> by_name;
  std::vector<EventHandler> custom;  // every custom type
  std::vector<EventHandler> any;
  std::vector<DecodeFailureHandler> decode_failure;
  std::vector<HandlerErrorHandler> handler_error;
};

EventHandlers::EventHandlers() : table_(std::make_unique<Table>()) {}
EventHandlers::~EventHandlers() = default;
EventHandlers::EventHandlers(EventHandlers&&) noexcept = default;
EventHandlers& EventHandlers::operator=(EventHandlers&&) noexcept = default;

void EventHandlers::on(EventType type, EventHandler handler) {
  if (!handler) return;
  if (type == EventType::custom) {
    table_->custom.push_back(std::move(handler));
  } else {
    on(to_string(type), std::move(handler));
  }
}

void EventHandlers::on(std::string_view type_name, EventHandler handler) {
  if (!handler) return;
  auto it = table_->by_name.find(type_name);
  if (it == table_->by_name.end())
    it = table_->by_name.emplace(std::string(type_name), std::vector<EventHandler>{}).first;
  it->second.push_back(std::move(handler));
}

void EventHandlers::on_any(EventHandler handler) {
  if (handler) table_->any.push_back(std::move(handler));
}

void EventHandlers::on_decode_failure(DecodeFailureHandler handler) {
  if (handler) table_->decode_failure.push_back(std::move(handler));
}

void EventHandlers::on_handler_error(HandlerErrorHandler handler) {
  if (handler) table_->handler_error.push_back(std::move(handler));
}

std::size_t EventHandlers::dispatch(const ConsumedEvent& message) const {
  std::size_t ran = 0;
  if (auto it = table_->by_name.find(message.event.type_name()); it != table_->by_name.end()) {
    for (const auto& handler : it->second) {
      handler(message);
      ++ran;
    }
  }
  if (message.event.type == EventType::custom) {
    for (const auto& handler : table_->custom) {
      handler(message);
      ++ran;
    }
  }
  for (const auto& handler : table_->any) {
    handler(message);
    ++ran;
  }
  return ran;
}

bool EventHandlers::reports_decode_failures() const noexcept {
  return !table_->decode_failure.empty();
}
bool EventHandlers::reports_handler_errors() const noexcept {
  return !table_->handler_error.empty();
}

void EventHandlers::report(const DecodeFailure& failure) const noexcept {
  for (const auto& handler : table_->decode_failure) {
    try {
      handler(failure);
    } catch (...) {
      // A reporting callback that throws must not turn one bad entry into a stuck consumer.
    }
  }
}

void EventHandlers::report_handler_error(const ConsumedEvent& message,
                                         const std::string& what) const noexcept {
  for (const auto& handler : table_->handler_error) {
    try {
      handler(message, what);
    } catch (...) {
    }
  }
}

}  // namespace streamll
