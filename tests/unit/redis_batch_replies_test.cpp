// What the replies to a batch mean: accepted and refused XADDs, transient refusals,
// redirections mid-batch, ASKING pairs, and WAIT's answer (durable acknowledgements).

#include <catch2/catch.hpp>

#include "redis/sink/batch_replies.hpp"

using streamll::RedisEndpoint;
using streamll::redis::read_batch_replies;
using streamll::redis::Redirect;
using streamll::redis::RedisReply;

namespace {

RedisReply id() { return RedisReply::make_string("1-0"); }
RedisReply error(const char* text) { return RedisReply::make_error(text); }
RedisReply ok() { return RedisReply::make_status("OK"); }

}  // namespace

TEST_CASE("Batch replies: all accepted", "[batch_replies]") {
  const auto r = read_batch_replies({id(), id(), id()}, 3, false, false, "h");
  CHECK(r.settled == 3);
  CHECK(r.accepted == 3);
  CHECK(r.refused == 0);
  CHECK_FALSE(r.redirect);
  CHECK(r.transient.empty());
  CHECK_FALSE(r.replicas);
}

TEST_CASE("Batch replies: refusals are settled, the first is kept", "[batch_replies]") {
  const auto r =
      read_batch_replies({id(), error("WRONGTYPE a"), error("OOM b"), id()}, 4, false, false, "h");
  CHECK(r.settled == 4);
  CHECK(r.accepted == 2);
  CHECK(r.refused == 2);
  CHECK(r.first_refusal == "WRONGTYPE a");
}

TEST_CASE("Batch replies: a transient refusal of the whole batch means retry", "[batch_replies]") {
  SECTION("nothing accepted: the batch is retried") {
    const auto r = read_batch_replies(
        {error("READONLY You can't write against a read only replica."), error("READONLY again")},
        2, false, false, "h");
    CHECK(r.transient.rfind("READONLY", 0) == 0);
    CHECK(r.settled == 0);
    CHECK(r.refused == 0);
  }
  SECTION("some accepted: the refused ones count as refused, as before") {
    const auto r = read_batch_replies({id(), error("LOADING x")}, 2, false, false, "h");
    CHECK(r.transient.empty());
    CHECK(r.settled == 2);
    CHECK(r.refused == 1);
  }
}

TEST_CASE("Batch replies: protocol errors are counted among the refusals", "[batch_replies]") {
  const RedisReply protocol_error = error("ERR Protocol error: invalid bulk length");
  SECTION("settled: counted") {
    const auto r =
        read_batch_replies({id(), error("WRONGTYPE a"), protocol_error}, 3, false, false, "h");
    CHECK(r.refused == 2);
    CHECK(r.protocol_errors == 1);
  }
  SECTION("the batch kept for a transient refusal: not counted") {
    const auto r = read_batch_replies({error("LOADING x"), protocol_error}, 2, false, false, "h");
    CHECK_FALSE(r.transient.empty());
    CHECK(r.protocol_errors == 0);
  }
  SECTION("after a redirection: not read") {
    const auto r = read_batch_replies({error("MOVED 866 127.0.0.1:7001"), protocol_error}, 2, false,
                                      false, "h");
    CHECK(r.redirect);
    CHECK(r.protocol_errors == 0);
  }
}

TEST_CASE("Batch replies: a redirection stops the batch where it starts", "[batch_replies]") {
  const auto r = read_batch_replies(
      {id(), id(), error("ASK 866 127.0.0.1:7001"), error("ASK 866 127.0.0.1:7001")}, 4, false,
      false, "h");
  CHECK(r.settled == 2);
  CHECK(r.accepted == 2);
  REQUIRE(r.redirect);
  CHECK(r.redirect->kind == Redirect::Kind::ask);
  CHECK(r.redirect->slot == 866);
  CHECK(r.redirect->to == RedisEndpoint{"127.0.0.1", 7001, false});

  const auto moved = read_batch_replies({error("MOVED 866 :7002")}, 1, false, false, "10.1.1.1");
  CHECK(moved.settled == 0);
  REQUIRE(moved.redirect);
  CHECK(moved.redirect->kind == Redirect::Kind::moved);
  CHECK(moved.redirect->to == RedisEndpoint{"10.1.1.1", 7002, false});
}

TEST_CASE("Batch replies: after ASKING, every other reply is the XADD's", "[batch_replies]") {
  const auto r =
      read_batch_replies({ok(), id(), ok(), error("WRONGTYPE x"), ok(), id()}, 3, true, false, "h");
  CHECK(r.settled == 3);
  CHECK(r.accepted == 2);
  CHECK(r.refused == 1);
}

TEST_CASE("Batch replies: WAIT's answer is read after the XADDs", "[batch_replies][wait]") {
  SECTION("a count") {
    const auto r =
        read_batch_replies({id(), id(), RedisReply::make_integer(2)}, 2, false, true, "h");
    CHECK(r.accepted == 2);
    REQUIRE(r.replicas);
    CHECK(*r.replicas == 2);
    CHECK(r.wait_error.empty());
  }
  SECTION("WAIT alone (asked again after a shortfall)") {
    const auto r = read_batch_replies({RedisReply::make_integer(0)}, 0, false, true, "h");
    CHECK(r.settled == 0);
    REQUIRE(r.replicas);
    CHECK(*r.replicas == 0);
  }
  SECTION("an error reply") {
    const auto r = read_batch_replies(
        {id(), error("NOPERM this user has no permissions to run the 'wait' command")}, 1, false,
        true, "h");
    CHECK_FALSE(r.replicas);
    CHECK(r.wait_error.rfind("NOPERM", 0) == 0);
  }
  SECTION("after ASKING pairs") {
    const auto r =
        read_batch_replies({ok(), id(), RedisReply::make_integer(1)}, 1, true, true, "h");
    CHECK(r.accepted == 1);
    CHECK(r.replicas == 1);
  }
  SECTION("missing or not a number") {
    CHECK(read_batch_replies({id()}, 1, false, true, "h").wait_error == "no reply to WAIT");
    CHECK_FALSE(read_batch_replies({id(), ok()}, 1, false, true, "h").wait_error.empty());
  }
}
