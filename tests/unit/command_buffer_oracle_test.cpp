// CommandBuffer's RESP against hiredis's formatter given the same arguments: every length whose
// digit count changes, binary bytes, empty arguments, argument counts crossing digit
// boundaries and long long extremes. Every command but the RedisSink's XADD is written this
// way, so this is the oracle for all of them (the XADD has its own: xadd_encoder_oracle_test).

#include <catch2/catch.hpp>

#include <climits>
#include <string>
#include <string_view>
#include <vector>

#include "hiredis_format.hpp"
#include "redis/transport/command_buffer.hpp"

namespace {

using streamll::redis::CommandBuffer;
using streamll_test::byte_mismatch;
using streamll_test::hiredis_format;

// Each byte value in turn (NUL, CR, LF and bytes >= 0x80 included), starting at `seed`.
std::string binary_bytes(std::size_t length, unsigned seed = 0) {
  std::string s(length, '\0');
  for (std::size_t i = 0; i < length; ++i) s[i] = static_cast<char>((i + seed) & 0xff);
  return s;
}

void append_argv(CommandBuffer& buffer, const std::vector<std::string>& argv) {
  buffer.begin_command(argv.size());
  for (const std::string& a : argv) buffer.arg(std::string_view(a));
}

const std::vector<std::size_t> kLengths = {
    0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 10001, 99999, 100000, 100001};

}  // namespace

TEST_CASE("CommandBuffer matches hiredis for arguments of every length-digit boundary",
          "[command_buffer][oracle]") {
  for (const std::size_t length : kLengths) {
    CAPTURE(length);
    const std::vector<std::string> argv = {"SET", binary_bytes(length), binary_bytes(length, 7)};
    CommandBuffer buffer;
    append_argv(buffer, argv);
    CHECK(buffer.complete());
    CHECK(buffer.command_count() == 1);
    CHECK(byte_mismatch(buffer.bytes(), hiredis_format(argv)).empty());

    CommandBuffer listed;
    listed.append({argv[0], argv[1], argv[2]});
    CHECK(byte_mismatch(listed.bytes(), hiredis_format(argv)).empty());
  }
}

TEST_CASE("CommandBuffer matches hiredis for empty and NUL-only and CRLF-only arguments",
          "[command_buffer][oracle]") {
  const std::vector<std::string> argv = {"",     std::string(1, '\0'), std::string(10, '\0'),
                                         "\r\n", "$3\r\nfoo\r\n",      "*2\r\n",
                                         "",     "\xff\xfe\x80"};
  CommandBuffer buffer;
  append_argv(buffer, argv);
  CHECK(byte_mismatch(buffer.bytes(), hiredis_format(argv)).empty());
}

TEST_CASE("CommandBuffer matches hiredis for argument counts crossing digit boundaries",
          "[command_buffer][oracle]") {
  const std::vector<std::size_t> counts = {1, 2, 9, 10, 11, 99, 100, 101, 999, 1000, 1001};
  for (const std::size_t argc : counts) {
    CAPTURE(argc);
    std::vector<std::string> argv;
    for (std::size_t i = 0; i < argc; ++i) {
      argv.push_back(binary_bytes(i % 13, static_cast<unsigned>(i)));
    }
    CommandBuffer buffer;
    append_argv(buffer, argv);
    CHECK(buffer.complete());
    CHECK(byte_mismatch(buffer.bytes(), hiredis_format(argv)).empty());
  }
}

TEST_CASE("CommandBuffer matches hiredis for long long arguments up to the extremes",
          "[command_buffer][oracle]") {
  std::vector<long long> values = {0,
                                   LLONG_MIN,
                                   LLONG_MIN + 1,
                                   LLONG_MAX,
                                   LLONG_MAX - 1,
                                   1000000000000000000LL,
                                   -1000000000000000000LL};
  // Every power of ten and its neighbours, both signs: each digit count's first and last.
  for (long long p = 1; p <= LLONG_MAX / 10; p *= 10) {
    for (const long long v : {p - 1, p, p + 1, p * 10 - 1}) {
      values.push_back(v);
      values.push_back(-v);
    }
  }
  CommandBuffer buffer;
  std::string expected;
  for (const long long value : values) {
    buffer.begin_command(3).arg("XTRIM").arg(value).arg(std::string_view("x"));
    expected += hiredis_format({"XTRIM", std::to_string(value), "x"});
  }
  CHECK(buffer.command_count() == values.size());
  CHECK(byte_mismatch(buffer.bytes(), expected).empty());
}

TEST_CASE("CommandBuffer's pipelined commands are hiredis's commands one after another",
          "[command_buffer][oracle]") {
  CommandBuffer buffer;
  std::string expected;
  for (std::size_t i = 0; i < kLengths.size(); ++i) {
    const std::vector<std::string> argv = {"XADD", "streamll:events:{3}", "*", "event",
                                           binary_bytes(kLengths[i], static_cast<unsigned>(i))};
    append_argv(buffer, argv);
    buffer.append({"PING"});
    expected += hiredis_format(argv) + hiredis_format({"PING"});
  }
  CHECK(buffer.command_count() == 2 * kLengths.size());
  CHECK(byte_mismatch(buffer.bytes(), expected).empty());

  // clear() keeps nothing of the previous batch in the bytes.
  buffer.clear();
  buffer.append({"PING"});
  CHECK(byte_mismatch(buffer.bytes(), hiredis_format({"PING"})).empty());
}
