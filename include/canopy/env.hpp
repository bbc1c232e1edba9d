// canopy/env.hpp — the one source of nondeterminism (DESIGN §2).
//
// Everything in canopy that needs randomness or the wall clock asks an Env. `SimEnv` is
// deterministic: randomness comes from a seed and its wall clock is a counter that advances
// only when told, so two runs with the same seed are identical (R20). `RealEnv` reads the
// steady clock and is used only for measurements (wall_ms in demos, benchmarks) and the
// real-time driver. Virtual time inside execution is the subnet's round clock (R15), never Env's
// wall clock. Thread-safety: `random()` must be called from the thread that drives the runtime
// (the runtime only calls it between parallel phases); `wall_ns()` is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace canopy {

class Env {
 public:
  virtual ~Env() = default;
  virtual uint64_t random() = 0;      // uniform 64-bit
  virtual uint64_t wall_ns() = 0;     // monotonic nanoseconds, for measurement only
  virtual uint64_t seed() const = 0;  // the seed that makes this run reproducible
  virtual bool deterministic() const = 0;

  // Uniform in [0, bound); bound > 0.
  uint64_t uniform(uint64_t bound);
};

// Deterministic: splitmix64 stream from `seed`; wall clock is a manual counter.
class SimEnv final : public Env {
 public:
  explicit SimEnv(uint64_t seed) : seed_(seed), state_(seed) {}
  uint64_t random() override;
  uint64_t wall_ns() override { return wall_ns_.load(std::memory_order_relaxed); }
  uint64_t seed() const override { return seed_; }
  bool deterministic() const override { return true; }
  void advance_wall_ns(uint64_t ns) { wall_ns_.fetch_add(ns, std::memory_order_relaxed); }

 private:
  uint64_t seed_;
  uint64_t state_;
  std::atomic<uint64_t> wall_ns_{0};
};

// Real: steady clock; randomness still seeded (so behaviour depends only on the seed and timing).
class RealEnv final : public Env {
 public:
  explicit RealEnv(uint64_t seed) : sim_(seed) {}
  uint64_t random() override { return sim_.random(); }
  uint64_t wall_ns() override;
  uint64_t seed() const override { return sim_.seed(); }
  bool deterministic() const override { return false; }

 private:
  SimEnv sim_;
};

}  // namespace canopy
