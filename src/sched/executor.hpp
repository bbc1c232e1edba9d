// Parallel execution of independent canisters within a round (R12, R20), on oneTBB.
//
// DESIGN §2: on a 2-core machine raise tbb::global_control(max_allowed_parallelism) and create
// the arena with reserved_for_masters = 0... except that the driver thread itself joins the work
// in arena.execute, so an arena of `threads` slots with one reserved for the driver gives exactly
// `threads` threads executing canisters.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace canopy::detail {

class Executor {
 public:
  explicit Executor(unsigned threads);
  ~Executor();
  unsigned threads() const { return threads_; }
  // Calls fn(i) for i in [0, n), possibly in parallel; returns when all are done.
  void for_each(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Tbb;
  unsigned threads_;
  std::unique_ptr<Tbb> tbb_;
};

}  // namespace canopy::detail
