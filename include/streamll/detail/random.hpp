#pragma once
// Per-thread pseudo-random bits for event, span and execution ids. xoshiro256** gives 64 bits
// in a few instructions with no lock; each thread seeds its own state from std::random_device
// mixed with the state's address, the clock and an instance counter, so threads never share a
// sequence even where random_device is unavailable.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace streamll::detail {

class Xoshiro256 {
 public:
  Xoshiro256() noexcept {
    std::uint64_t seed = 0;
    try {
      std::random_device rd;
      seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
      // No entropy source: the mix below still makes each thread's sequence distinct.
    }
    static std::atomic<std::uint64_t> instances{0};
    seed ^= reinterpret_cast<std::uintptr_t>(this);
    seed ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= instances.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ULL;
    for (auto& word : s_) word = splitmix64(seed);
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t s_[4];
};

inline std::uint64_t random_u64() noexcept {
  thread_local Xoshiro256 generator;
  return generator.next();
}

}  // namespace streamll::detail
