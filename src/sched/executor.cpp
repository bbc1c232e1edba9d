#include "sched/executor.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "core/tbb_threads.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace canopy::detail {

namespace {

// TSan sync objects for the hand-off (see executor.hpp); no-ops in other builds. Process-wide
// rather than per executor: a task must acquire before it reads anything the driver wrote,
// including its own captures. (Executors of runtimes driven from different threads thereby
// look ordered at their hand-offs: TSan may miss a race between two such runtimes, and never
// reports a false one.)
char tsan_start_sync = 0;  // driver -> tasks
char tsan_done_sync = 0;   // tasks -> driver

void tsan_release([[maybe_unused]] char* sync) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(sync);
#endif
}
void tsan_acquire([[maybe_unused]] char* sync) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(sync);
#endif
}

}  // namespace

struct Executor::Tbb {
  // The lease first, so that the arena finds its workers.
  explicit Tbb(unsigned threads) : workers(threads - 1), arena(static_cast<int>(threads), 1) {}
  TbbWorkers workers;
  tbb::task_arena arena;
};

Executor::Executor(unsigned threads) : threads_(threads) {
  if (threads_ > 1) tbb_ = std::make_unique<Tbb>(threads_);
}

Executor::~Executor() = default;

void Executor::for_each(size_t n, const std::function<void(size_t)>& fn, Split split) {
  if (n == 0) return;
  if (!tbb_ || n == 1) {
    for (size_t i = 0; i < n; ++i)
      fn(i);
    return;
  }
  if (split == Split::blocks) {
    for_each_block(n, [&fn](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i)
        fn(i);
    });
    return;
  }
  // The body lives on this stack, written before the release; the index form of parallel_for
  // keeps only a reference to it, so canopy code never reads a TBB task object (whose memory
  // TBB recycles without TSan seeing it).
  const auto body = [&fn](size_t i) {
    tsan_acquire(&tsan_start_sync);  // first: before reading the capture
    fn(i);
    tsan_release(&tsan_done_sync);
  };
  tsan_release(&tsan_start_sync);
  tbb_->arena.execute([&] { tbb::parallel_for(size_t{0}, n, body); });
  tsan_acquire(&tsan_done_sync);
}

void Executor::for_each_block(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (!tbb_ || n == 1) {
    fn(0, n);
    return;
  }
  // Same hand-off as for_each; the static partitioner gives each thread one contiguous block,
  // the same on every call.
  const auto body = [&fn](const tbb::blocked_range<size_t>& r) {
    tsan_acquire(&tsan_start_sync);
    fn(r.begin(), r.end());
    tsan_release(&tsan_done_sync);
  };
  tsan_release(&tsan_start_sync);
  tbb_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n), body, tbb::static_partitioner{});
  });
  tsan_acquire(&tsan_done_sync);
}

}  // namespace canopy::detail
