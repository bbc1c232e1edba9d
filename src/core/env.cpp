#include "canopy/env.hpp"

#include <chrono>

#include "canopy/assert.hpp"

namespace canopy {

uint64_t Env::uniform(uint64_t bound) {
  CANOPY_ASSERT(bound > 0, "uniform bound must be positive");
  return random() % bound;
}

uint64_t SimEnv::random() {
  // splitmix64
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The only place in src/ that reads the wall clock.
uint64_t RealEnv::wall_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace canopy
