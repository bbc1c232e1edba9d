// Process-wide oneTBB worker budget (DESIGN §2 "Worker pools").
//
// oneTBB runs every arena of the process on one set of worker threads, at most
// max_allowed_parallelism - 1 of them (the default is the number of cores: 1 worker on a 2-core
// machine). Several tbb::global_control objects combine by *minimum*, so two components that
// each create their own would clamp each other. A TbbWorkers lease instead adds its count to one
// process-wide total, and a single global_control is kept at 1 + total (never below the default),
// so every live arena can have its workers at the same time. The leases: every worker pool
// (src/pool, one per pool thread) and the round executor (src/sched/executor.cpp, threads - 1).
// It lives in core because both the sched and the pool layers use it; it knows nothing else.
//
// Thread-safety: leases may be taken and dropped from any thread. Ownership: RAII; the budget
// shrinks when the lease is destroyed.
#pragma once

#include <cstddef>

namespace canopy::detail {

class TbbWorkers {
 public:
  explicit TbbWorkers(size_t workers);
  ~TbbWorkers();
  TbbWorkers(const TbbWorkers&) = delete;
  TbbWorkers& operator=(const TbbWorkers&) = delete;

  // The sum of all live leases (for tests and diagnostics).
  static size_t total();
  // The max_allowed_parallelism currently in force (oneTBB's view, all global_controls).
  static size_t active_parallelism();

 private:
  size_t workers_;
};

}  // namespace canopy::detail
