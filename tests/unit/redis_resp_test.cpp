// RESP encoding (CommandBuffer) and decoding (RespReader) without a server.

#include <catch2/catch.hpp>

#include <string>

#include "redis/transport/command_buffer.hpp"
#include "redis/transport/resp_reader.hpp"
#include "sanitizers.hpp"
#include "streamll/redis/errors.hpp"

using streamll::IoError;
using streamll::ReplyError;
using streamll::redis::CommandBuffer;
using streamll::redis::RedisReply;
using streamll::redis::ReplyType;
using streamll::redis::RespReader;

TEST_CASE("CommandBuffer formats RESP arrays of bulk strings", "[redis_transport]") {
  CommandBuffer buffer;
  CHECK(buffer.empty());
  buffer.append({"PING"});
  buffer.begin_command(3).arg("SET").arg(std::string_view("k\r\n\0v", 5)).arg(-42LL);
  CHECK(buffer.command_count() == 2);
  CHECK(buffer.complete());
  std::string expected = "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$5\r\nk\r\n";
  expected += '\0';
  expected += "v\r\n$3\r\n-42\r\n";
  CHECK(buffer.bytes() == expected);

  buffer.begin_command(2).arg("GET");
  CHECK_FALSE(buffer.complete());

  const auto capacity = buffer.bytes().capacity();
  buffer.clear();
  CHECK(buffer.empty());
  CHECK(buffer.complete());
  CHECK(buffer.bytes().empty());
  CHECK(buffer.bytes().capacity() == capacity);  // reused, not reallocated
}

TEST_CASE("RespReader parses every RESP2 type, fed byte by byte", "[redis_transport]") {
  const std::string wire =
      "+OK\r\n"
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
      ":1000\r\n"
      "$5\r\nhe\r\no\r\n"
      "$-1\r\n"
      "*-1\r\n"
      "*0\r\n"
      "*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$5\r\nevent\r\n$2\r\n{}\r\n:7\r\n";
  RespReader reader;
  std::vector<RedisReply> replies;
  for (char c : wire) {
    reader.feed(&c, 1);
    while (auto reply = reader.next()) replies.push_back(std::move(*reply));
  }
  REQUIRE(replies.size() == 8);
  CHECK(replies[0].is_status());
  CHECK(replies[0].text == "OK");
  CHECK(replies[1].is_error());
  CHECK(replies[1].error_prefix() == "WRONGTYPE");
  CHECK(replies[2].integer == 1000);
  CHECK(replies[3].is_string());
  CHECK(replies[3].text == "he\r\no");
  CHECK(replies[4].is_nil());
  CHECK(replies[5].is_nil());
  CHECK(replies[6].is_array());
  CHECK(replies[6].elements.empty());
  const RedisReply& nested = replies[7];
  REQUIRE(nested.elements.size() == 2);
  CHECK(nested.elements[0].elements[0].text == "1-0");
  CHECK(nested.elements[0].elements[1].elements[1].text == "{}");
  CHECK(nested.elements[1].integer == 7);
  CHECK(nested.to_debug_string() == "[[\"1-0\", [\"event\", \"{}\"]], (integer) 7]");
}

TEST_CASE("RespReader rejects protocol garbage with IoError", "[redis_transport]") {
  RespReader reader;
  reader.feed("?what\r\n", 7);
  CHECK_THROWS_AS(reader.next(), IoError);
  reader.reset();
  reader.feed("+PONG\r\n", 7);
  const auto reply = reader.next();
  REQUIRE(reply);
  CHECK(reply->text == "PONG");
}

TEST_CASE("error replies: prefixes and throw_if_error", "[redis_transport]") {
  CHECK(ReplyError::prefix_of("NOGROUP No such key 'x'") == "NOGROUP");
  CHECK(ReplyError::prefix_of("BUSYGROUP Consumer Group name already exists") == "BUSYGROUP");
  CHECK(ReplyError::prefix_of("OOM command not allowed when used memory > 'maxmemory'.") == "OOM");
  CHECK(ReplyError::prefix_of("invalid username-password pair") == "");
  CHECK(ReplyError::prefix_of("ERR") == "ERR");
  CHECK(ReplyError::prefix_of("ERRx y") == "");

  CHECK_NOTHROW(streamll::redis::throw_if_error(RedisReply::make_status("OK")));
  try {
    streamll::redis::throw_if_error(RedisReply::make_error("NOGROUP No such key"), "XREADGROUP");
    FAIL("no exception");
  } catch (const ReplyError& e) {
    CHECK(e.prefix() == "NOGROUP");
    CHECK(e.server_message() == "NOGROUP No such key");
    CHECK(std::string(e.what()) == "XREADGROUP: NOGROUP No such key");
  }
  CHECK_THROWS_AS(streamll::redis::throw_if_error(
                      RedisReply::make_error("WRONGPASS invalid username-password pair")),
                  streamll::AuthError);
  CHECK(RedisReply::make_error("x").type == ReplyType::error);
}

TEST_CASE("RespReader grows arrays past their first reservation as elements arrive",
          "[redis_transport]") {
  // 3000 entries (more than the room an array header reserves), each a nested array, so that
  // growing the outer array moves finished children.
  std::string wire = "*3000\r\n";
  for (int i = 0; i < 3000; ++i) {
    const std::string id = std::to_string(i) + "-0";
    wire += "*2\r\n$" + std::to_string(id.size()) + "\r\n" + id +
            "\r\n*1\r\n:" + std::to_string(i) + "\r\n";
  }
  RespReader reader;
  reader.feed(wire.data(), wire.size());
  const auto reply = reader.next();
  REQUIRE(reply);
  REQUIRE(reply->elements.size() == 3000);
  for (int i = 0; i < 3000; i += 7) {
    const RedisReply& entry = reply->elements[static_cast<std::size_t>(i)];
    CHECK(entry.elements[0].text == std::to_string(i) + "-0");
    CHECK(entry.elements[1].elements[0].integer == i);
  }
}

#if defined(__GLIBC__) && !defined(STREAMLL_TEST_ASAN) && !defined(STREAMLL_TEST_TSAN)
#include <malloc.h>

TEST_CASE("RespReader does not allocate for elements an array header only announces",
          "[redis_transport]") {
  // 11 bytes from a broken or hostile server once cost 1.2 GB (the array was sized from its
  // header). Sanitizers replace malloc, so glibc's own count is read only without them.
  const auto heap_in_use = [] {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  RespReader reader;
  const std::size_t before = heap_in_use();
  const std::string wire = "*16777216\r\n*16777216\r\n:1\r\n:2\r\n";
  reader.feed(wire.data(), wire.size());
  CHECK_FALSE(reader.next());  // incomplete: the rest never comes
  CHECK(heap_in_use() - before < std::size_t{1} << 20);
}
#endif
