#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "streamll/detail/block_pool.hpp"
#include "streamll/fields.hpp"

using namespace streamll::detail;

namespace {

constexpr std::size_t small_bytes = 2 * sizeof(streamll::Field);

// Each scenario on fresh threads: a thread's cache starts empty.
template <typename Fn>
void on_new_thread(Fn fn) {
  std::thread t(fn);
  t.join();
}

}  // namespace

TEST_CASE("block pool: a thread gets back the block it freed last, with no trip to malloc",
          "[block_pool]") {
  on_new_thread([] {
    void* first = block_pool_allocate(0, small_bytes);
    std::memset(first, 0xab, small_bytes);
    block_pool_free(0, first, small_bytes);
    void* again = block_pool_allocate(0, small_bytes);
    CHECK(again == first);
    block_pool_free(0, again, small_bytes);
  });
}

TEST_CASE("block pool: what one thread frees, another allocates, through the shared pool",
          "[block_pool]") {
  block_pool_trim();
  std::vector<void*> blocks;
  on_new_thread([&] {  // the application thread
    for (int i = 0; i < 200; ++i) blocks.push_back(block_pool_allocate(0, small_bytes));
  });
  on_new_thread([&] {  // the sink's thread: keeps 64, hands the rest on in batches of 32
    for (void* b : blocks) block_pool_free(0, b, small_bytes);
    CHECK(block_pool_shared_blocks(0) == 160);  // five batches; 40 left in its cache
  });
  // When it exited, a full batch of those 40 went to the shared pool, the other 8 to malloc.
  CHECK(block_pool_shared_blocks(0) == 192);
  const std::set<void*> freed(blocks.begin(), blocks.end());
  on_new_thread([&] {
    std::vector<void*> again;
    for (int i = 0; i < 192; ++i) again.push_back(block_pool_allocate(0, small_bytes));
    CHECK(block_pool_shared_blocks(0) == 0);
    std::size_t reused = 0;
    for (void* b : again) reused += freed.count(b);
    CHECK(reused == 192);
    for (void* b : again) block_pool_free(0, b, small_bytes);
  });
  block_pool_trim();
  CHECK(block_pool_shared_blocks(0) == 0);
}

TEST_CASE("block pool: the shared pool is bounded, the rest goes back to malloc", "[block_pool]") {
  block_pool_trim();
  std::vector<void*> blocks;
  const std::size_t many = block_pool_shared_batches * block_pool_batch * 3;
  on_new_thread([&] {
    for (std::size_t i = 0; i < many; ++i)
      blocks.push_back(block_pool_allocate(1, 2 * small_bytes));
  });
  on_new_thread([&] {
    for (void* b : blocks) block_pool_free(1, b, 2 * small_bytes);
  });
  CHECK(block_pool_shared_blocks(1) == block_pool_shared_batches * block_pool_batch);
  block_pool_trim();
  CHECK(block_pool_shared_blocks(1) == 0);
}

TEST_CASE("block pool: Fields keep their values through growth across both classes and beyond",
          "[block_pool]") {
  streamll::Fields fields;
  for (int i = 0; i < 12; ++i) {
    fields.append_new("key_" + std::to_string(i), std::string(40, static_cast<char>('a' + i)));
    for (int j = 0; j <= i; ++j) {
      REQUIRE(fields["key_" + std::to_string(j)].as_string() ==
              std::string(40, static_cast<char>('a' + j)));
    }
  }
  streamll::Fields moved = std::move(fields);
  CHECK(moved.size() == 12);
  streamll::Fields copy = moved;
  CHECK(copy == moved);
  // Made on one thread and destroyed on another, as a sink's thread does.
  std::vector<streamll::Fields> made(100, streamll::Fields{{"token", " hi"}, {"index", 3}});
  on_new_thread([&] { made.clear(); });
  CHECK(made.empty());
}
