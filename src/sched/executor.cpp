#include "sched/executor.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

namespace canopy::detail {

struct Executor::Tbb {
  explicit Tbb(unsigned threads)
      : control(tbb::global_control::max_allowed_parallelism, threads + 1),
        arena(static_cast<int>(threads), 1) {}
  tbb::global_control control;
  tbb::task_arena arena;
};

Executor::Executor(unsigned threads) : threads_(threads) {
  if (threads_ > 1) tbb_ = std::make_unique<Tbb>(threads_);
}

Executor::~Executor() = default;

void Executor::for_each(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (!tbb_ || n == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  tbb_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n, 1), [&](const tbb::blocked_range<size_t>& r) {
      for (size_t i = r.begin(); i != r.end(); ++i) fn(i);
    });
  });
}

}  // namespace canopy::detail
