#include "redis/transport/command_buffer.hpp"

#include <charconv>

namespace streamll::redis {

void CommandBuffer::append_length_line(char type, std::size_t n) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, n);
  bytes_.push_back(type);
  bytes_.append(digits, result.ptr);
  bytes_.append("\r\n", 2);
}

CommandBuffer& CommandBuffer::begin_command(std::size_t argc) {
  append_length_line('*', argc);
  ++commands_;
  pending_args_ = argc;
  return *this;
}

CommandBuffer& CommandBuffer::arg(std::string_view value) {
  append_length_line('$', value.size());
  bytes_.append(value.data(), value.size());
  bytes_.append("\r\n", 2);
  if (pending_args_ > 0) --pending_args_;
  return *this;
}

CommandBuffer& CommandBuffer::arg(long long value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  return arg(std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
}

CommandBuffer& CommandBuffer::append(std::initializer_list<std::string_view> args) {
  begin_command(args.size());
  for (std::string_view a : args) arg(a);
  return *this;
}

}  // namespace streamll::redis
