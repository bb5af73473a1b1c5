// RESP encoding (CommandBuffer) and decoding (RespReader) without a server.

#include <catch2/catch.hpp>

#include <string>

#include "redis/command_buffer.hpp"
#include "redis/resp_reader.hpp"
#include "streamll/redis/errors.hpp"

using streamll::redis::CommandBuffer;
using streamll::redis::IoError;
using streamll::redis::RedisReply;
using streamll::redis::ReplyError;
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
  CHECK_THROWS_AS(streamll::redis::throw_if_error(RedisReply::make_error("WRONGPASS invalid username-password pair")),
                  streamll::redis::AuthError);
  CHECK(RedisReply::make_error("x").type == ReplyType::error);
}
