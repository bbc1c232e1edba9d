#include "core/tbb_threads.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace canopy::detail {

namespace {

struct Budget {
  std::mutex mu;
  size_t total = 0;
  std::unique_ptr<tbb::global_control> control;

  // REQUIRES: mu held.
  void apply() {
    const size_t base = static_cast<size_t>(std::max(1, tbb::info::default_concurrency()));
    const size_t want = std::max(base, total + 1);
    if (control &&
        tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism) == want)
      return;
    // Create the new control before dropping the old one: while both live the smaller wins,
    // which is the old value, so the limit never dips below what the current leases need.
    auto next = total == 0 ? nullptr
                           : std::make_unique<tbb::global_control>(
                                 tbb::global_control::max_allowed_parallelism, want);
    control = std::move(next);
  }
};

Budget& budget() {
  static Budget* b = new Budget();  // never destroyed: leases may outlive static destruction
  return *b;
}

}  // namespace

TbbWorkers::TbbWorkers(size_t workers) : workers_(workers) {
  Budget& b = budget();
  std::lock_guard<std::mutex> lock(b.mu);
  b.total += workers_;
  b.apply();
}

TbbWorkers::~TbbWorkers() {
  Budget& b = budget();
  std::lock_guard<std::mutex> lock(b.mu);
  b.total -= workers_;
  b.apply();
}

size_t TbbWorkers::total() {
  Budget& b = budget();
  std::lock_guard<std::mutex> lock(b.mu);
  return b.total;
}

size_t TbbWorkers::active_parallelism() {
  return tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
}

}  // namespace canopy::detail
