// Parallel execution of independent canisters within a round (R12, R20), on oneTBB.
//
// DESIGN §2: the driver thread itself joins the work in arena.execute, so an arena of `threads`
// slots with one reserved for the driver gives exactly `threads` threads executing canisters.
// Its `threads - 1` oneTBB workers are a lease from the process-wide budget
// (core/tbb_threads.hpp), never a tbb::global_control of its own: global_controls combine by
// minimum, so one here would clamp every worker pool of the process (R22).
//
// ThreadSanitizer: libtbb is not instrumented, so the hand-off of canister state between the
// driver and the workers is annotated here (release before the tasks start, acquire in each
// task; release after each task, acquire when the driver resumes). Races inside the canister
// work itself still show.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace canopy::detail {

class Executor {
 public:
  explicit Executor(unsigned threads);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  unsigned threads() const { return threads_; }
  // How for_each divides [0, n) over the threads. `balanced`: work stealing (oneTBB's auto
  // partitioner). `blocks`: thread t takes the t-th contiguous block, the same way on every call
  // (oneTBB's static partitioner), so that a scheduler that splits its phases the same way finds
  // a canister's memory in the cache of the thread that touched it last.
  enum class Split : uint8_t { balanced, blocks };
  // Calls fn(i) for i in [0, n), possibly in parallel; returns when all are done. Driver
  // thread only. The split is a performance choice only: fn must not depend on it.
  void for_each(size_t n, const std::function<void(size_t)>& fn, Split split = Split::balanced);
  // Split::blocks, one call per contiguous block: fn(begin, end) for blocks that partition
  // [0, n), each block run by one thread. A block may read ahead within itself (prefetching the
  // next canisters' state is safe there: no other thread touches it during the call).
  void for_each_block(size_t n, const std::function<void(size_t, size_t)>& fn);

 private:
  struct Tbb;
  unsigned threads_;
  std::unique_ptr<Tbb> tbb_;
};

}  // namespace canopy::detail
