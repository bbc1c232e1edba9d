// R22 worker pools, threads: sizes honoured (observed concurrency), pool threads separate from
// the driver, the process-wide oneTBB worker budget, and shutdown of the pools themselves.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/tbb_threads.hpp"
#include "pool/pool_support.hpp"
#include "support/invariants.hpp"

using namespace canopy;
using namespace pool_test;
using canopy_test::describe;

namespace {

// Jobs of one pool wait until the pool has run `size` of them at once (then they all go), so a
// pool of n threads must reach exactly n; the arena never allows more.
struct Rendezvous {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> running;
  std::map<std::string, int> max_seen;
  std::set<std::thread::id> threads;

  uint64_t arrive(const std::string& pool, int size) {
    std::unique_lock<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
    const int now = ++running[pool];
    max_seen[pool] = std::max(max_seen[pool], now);
    cv.notify_all();
    const bool met =
        cv.wait_for(lock, std::chrono::seconds(120), [&] { return max_seen[pool] >= size; });
    --running[pool];
    if (!met)
      throw std::runtime_error("pool '" + pool + "' never ran " + std::to_string(size) +
                               " jobs at once");
    return static_cast<uint64_t>(max_seen[pool]);
  }
};

Rendezvous*& rendezvous() {
  static Rendezvous* r = nullptr;
  return r;
}

struct Spreader : Canister<Unit> {
  static void methods(Methods<Spreader>& m) { m.update("spread", &Spreader::spread); }
  // `per_pool` jobs on each of the pools a (1 thread), b (2), c (3), all at once.
  Task<std::vector<std::string>> spread(Ctx& ctx, uint64_t per_pool) {
    std::vector<Call<uint64_t>> calls;
    const std::vector<std::pair<std::string, int>> pools = {{"a", 1}, {"b", 2}, {"c", 3}};
    for (const auto& [name, size] : pools) {
      for (uint64_t i = 0; i < per_pool; ++i) {
        calls.push_back(offload(
            ctx, name, [name = name, size = size] { return rendezvous()->arrive(name, size); }));
      }
    }
    std::vector<std::string> errors;
    for (auto& r : co_await when_all_settled(std::move(calls)))
      if (!r) errors.push_back(r.error().message);
    co_return errors;
  }
};

// Runs 6 jobs on each of the pools a (1 thread), b (2), c (3) of a runtime with `exec_threads`
// canister-execution threads, and checks that each pool reached exactly its size.
void check_sizes_honoured(uint32_t exec_threads) {
  Config cfg;
  cfg.threads = exec_threads;
  cfg.pools = {PoolConfig{"a", 1, 64}, PoolConfig{"b", 2, 64}, PoolConfig{"c", 3, 64}};
  canopy_test::Harness h(cfg);
  Pools& pools = *find_pools(h.rt());
  // The budget holds every pool thread and the executor's workers; no global_control clamps it
  // (an ASSERT: a clamped pool would only fail at the rendezvous guard, minutes later).
  ASSERT_GE(detail::TbbWorkers::total(), 6u + (exec_threads - 1));
  ASSERT_GE(detail::TbbWorkers::active_parallelism(), 7u + (exec_threads - 1));
  Rendezvous rv;
  rendezvous() = &rv;
  auto s = h.install<Spreader>(0);
  auto r = h.update<std::vector<std::string>>(s, "spread", uint64_t{6});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_TRUE(r->empty()) << r->front();
  EXPECT_EQ(rv.max_seen["a"], 1);
  EXPECT_EQ(rv.max_seen["b"], 2);
  EXPECT_EQ(rv.max_seen["c"], 3);
  for (const auto& [name, size] :
       std::vector<std::pair<std::string, uint32_t>>{{"a", 1}, {"b", 2}, {"c", 3}}) {
    auto st = pools.stats(name);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->running_max, size) << name;
    EXPECT_EQ(st->completed, 6u) << name;
  }
  EXPECT_EQ(rv.threads.count(std::this_thread::get_id()), 0u) << "a job ran on the driver thread";
  EXPECT_GE(rv.threads.size(), 3u);
  rendezvous() = nullptr;
}

// R22: pool sizes are honoured: three pools of 1, 2 and 3 threads on a 2-core machine each run
// exactly that many jobs at once (the oneTBB worker budget is raised for them), on threads that
// are not the driver's.
TEST(R22PoolThreads, SizesAreHonouredObservedConcurrency) {
  check_sizes_honoured(1);
}

// R22 with Config::threads > 1: the round executor takes its oneTBB workers as a lease from the
// same budget instead of a global_control of its own (which, combining by minimum, capped the
// whole process at threads + 1 and so clamped the pools).
TEST(R22PoolThreads, ExecutorThreadsDoNotClampThePools) {
  check_sizes_honoured(2);
  check_sizes_honoured(4);
}

// R12/R22: the executor's lease is Config::threads - 1 workers (the driver is the other thread),
// none for a sequential runtime, and it is returned with the runtime.
TEST(R22PoolThreads, ExecutorTakesALeaseOfThreadsMinusOne) {
  const size_t before = detail::TbbWorkers::total();
  {
    Config cfg;
    cfg.threads = 1;
    Runtime rt(cfg);
    EXPECT_EQ(detail::TbbWorkers::total(), before);
  }
  {
    Config cfg;
    cfg.threads = 3;
    Runtime rt(cfg);
    EXPECT_EQ(detail::TbbWorkers::total(), before + 2);
    EXPECT_GE(detail::TbbWorkers::active_parallelism(), before + 3);
    cfg.pools = {PoolConfig{"x", 2, 8}};
    Runtime rt2(cfg);
    EXPECT_EQ(detail::TbbWorkers::total(), before + 6);
  }
  EXPECT_EQ(detail::TbbWorkers::total(), before);
}

struct Nicer : Canister<Unit> {
  static void methods(Methods<Nicer>& m) { m.update("job_nice", &Nicer::job_nice); }
  Task<int64_t> job_nice(Ctx& ctx) {
    auto r = co_await offload(ctx, "low", [] {
      return static_cast<int64_t>(
          getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))));
    });
    co_return r ? *r : -100;
  }
};

// PoolConfig::nice: the application chooses the priority of a pool's jobs (seed 004: "threads
// and priorities").
TEST(R22PoolThreads, JobsRunAtThePoolsNiceValue) {
  Config cfg;
  cfg.pools = {PoolConfig{"low", 1, 8, 7}};
  canopy_test::Harness h(cfg);
  auto n = h.install<Nicer>(0);
  auto r = h.update<int64_t>(n, "job_nice");
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(getpriority(PRIO_PROCESS, 0), 0) << "the driver thread was not touched";
}

// The worker budget is a sum over live pools and returns when they go.
TEST(R22PoolThreads, WorkerBudgetFollowsThePools) {
  const size_t before = detail::TbbWorkers::total();
  {
    Config cfg;
    cfg.pools = {PoolConfig{"x", 4, 8}};
    Runtime rt(cfg);
    EXPECT_EQ(detail::TbbWorkers::total(), before + 4);
    {
      Config cfg2;
      cfg2.pools = {PoolConfig{"y", 2, 8}};
      Runtime rt2(cfg2);
      EXPECT_EQ(detail::TbbWorkers::total(), before + 6);
    }
    EXPECT_EQ(detail::TbbWorkers::total(), before + 4);
  }
  EXPECT_EQ(detail::TbbWorkers::total(), before);
}

// Pools::shutdown(cancel): queued jobs never run; their offloads complete with SYS_TRANSIENT;
// the running one completes; later offloads are refused.
TEST(R22PoolThreads, ShutdownCancelsQueuedJobsAndRefusesNewOnes) {
  Gate g;
  gate() = &g;
  canopy_test::Harness h(pool_config(1, 8));
  Pools& pools = *find_pools(h.rt());
  auto w = h.install<Worker>(0);
  std::vector<IngressId> iids;
  for (int i = 0; i < 3; ++i)
    iids.push_back(h.submit(w, "gated", uint64_t{1000}));
  h.ticks(2);
  g.wait_started(1);
  EXPECT_FALSE(pools.shutdown(PoolShutdown::cancel, 0));  // one job still runs
  g.release();
  EXPECT_TRUE(pools.shutdown(PoolShutdown::cancel, 120'000));
  pools.set_delivery(Delivery::when_ready);
  auto late = h.submit(w, "offload_to", std::string("p"), uint64_t{1});
  for (int i = 0; i < 100; ++i)
    h.tick();
  std::vector<uint8_t> codes;
  for (auto iid : iids) {
    auto r = h.result<Out>(iid);
    ASSERT_TRUE(r && *r);
    codes.push_back((*r)->code);
  }
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 2, 2}));
  auto lr = h.result<Out>(late);
  ASSERT_TRUE(lr && *lr);
  EXPECT_EQ((*lr)->code, static_cast<uint8_t>(RejectCode::sys_transient));
  EXPECT_NE((*lr)->message.find("shut down"), std::string::npos) << (*lr)->message;
  auto st = pools.stats("p");
  EXPECT_EQ(st->cancelled, 2u);
  EXPECT_EQ(st->completed, 1u);
  EXPECT_EQ(st->refused, 1u);
  settle(h.rt());
  h.check_quiescent();
  gate() = nullptr;
}

}  // namespace
