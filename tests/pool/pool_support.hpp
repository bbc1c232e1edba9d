// tests/pool/pool_support.hpp — canisters and helpers shared by the R22 (worker pool) tests.
#pragma once

#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pool_test {

using namespace canopy;

// A gate that offloaded jobs wait on, opened by the test. The wait has a long guard so that a
// broken pool fails the test instead of hanging it; no test relies on the guard's duration.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int started = 0;  // jobs that reached the gate

  void pass() {
    std::unique_lock<std::mutex> lock(mu);
    ++started;
    cv.notify_all();
    if (!cv.wait_for(lock, std::chrono::seconds(120), [&] { return open; }))
      throw std::runtime_error("gate never opened");
  }
  void wait_started(int n) {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(120), [&] { return started >= n; }))
      throw std::runtime_error("jobs never reached the gate");
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

// Process-wide gate for the canisters below (tests reset it).
inline Gate*& gate() {
  static Gate* g = nullptr;
  return g;
}

// Counts jobs that actually ran (to check that trapped executions never hand work over, R7).
inline std::atomic<uint64_t>& jobs_run() {
  static std::atomic<uint64_t> n{0};
  return n;
}

struct WorkerState {
  uint64_t counter = 0;
  uint64_t pings = 0;
  std::vector<uint64_t> log;
  template <class A>
  void serialize(A& ar) {
    ar(counter, pings, log);
  }
};

// Outcome of one offload as plain data: code 0 = value.
struct Out {
  uint8_t code = 0;
  uint64_t value = 0;
  std::string message;
  template <class A>
  void serialize(A& ar) {
    ar(code, value, message);
  }
};
inline Out out_of(const Result<uint64_t>& r) {
  if (r) return Out{0, *r, {}};
  return Out{static_cast<uint8_t>(r.error().code), 0, r.error().message};
}

// Everything the R22 tests need from a canister. The pool is always named "p".
struct Worker : Canister<WorkerState> {
  static void methods(Methods<Worker>& m) {
    m.update("square", &Worker::square);
    m.update("rounds", &Worker::rounds);
    m.update("fail", &Worker::fail);
    m.update("trap_after", &Worker::trap_after);
    m.update("trap_before", &Worker::trap_before);
    m.update("gated", &Worker::gated);
    m.update("ping", &Worker::ping);
    m.update("many", &Worker::many);
    m.update("offload_to", &Worker::offload_to);
    m.update("void_job", &Worker::void_job);
    m.update("concat", &Worker::concat);
    m.query("query_offload", &Worker::query_offload);
    m.query("counter", &Worker::get_counter);
  }

  Task<uint64_t> square(Ctx& ctx, uint64_t x, uint64_t cost) {
    auto r = co_await offload(
        ctx, "p", [x] { return x * x; }, cost);
    if (!r) throw Trap("offload failed: " + r.error().message);
    state().log.push_back(*r);
    co_return *r;
  }

  // (round of the offload, round the completion executed in)
  Task<std::pair<uint64_t, uint64_t>> rounds(Ctx& ctx, uint64_t cost) {
    const uint64_t before = ctx.round();
    auto r = co_await offload(
        ctx, "p", [] { return uint64_t{7}; }, cost);
    if (!r) throw Trap(r.error().message);
    co_return std::pair<uint64_t, uint64_t>{before, ctx.round()};
  }

  // R22: an exception in the job comes back as an error the coroutine handles.
  Task<Out> fail(Ctx& ctx) {
    auto r = co_await offload(ctx, "p", []() -> uint64_t { throw std::runtime_error("boom"); });
    co_return out_of(r);
  }

  // R7: the execution after the co_await traps: only its changes are rolled back.
  Task<void> trap_after(Ctx& ctx) {
    state().counter += 1;  // committed with the first execution
    auto r = co_await offload(ctx, "p", [] { return uint64_t{1}; });
    state().counter += 100;  // rolled back
    throw Trap("trap after the offload");
  }

  // R7: the execution that offloads traps: the job is never handed to the pool.
  void trap_before(Ctx& ctx) {
    auto c = offload(ctx, "p", [] {
      ++jobs_run();
      return uint64_t{1};
    });
    state().counter += 1000;
    throw Trap("trap before commit");
  }

  Task<Out> gated(Ctx& ctx, uint64_t cost) {
    auto r = co_await offload(
        ctx, "p",
        [] {
          gate()->pass();
          return uint64_t{42};
        },
        cost);
    co_return out_of(r);
  }

  uint64_t ping(Ctx&) { return ++state().pings; }

  // n offloads in parallel from one message.
  Task<std::vector<Out>> many(Ctx& ctx, uint64_t n, uint64_t cost) {
    std::vector<Call<uint64_t>> calls;
    for (uint64_t i = 0; i < n; ++i)
      calls.push_back(offload(
          ctx, "p", [i] { return i; }, cost));
    auto results = co_await when_all_settled(std::move(calls));
    std::vector<Out> out;
    for (auto& r : results)
      out.push_back(out_of(r));
    co_return out;
  }

  Task<Out> offload_to(Ctx& ctx, std::string pool, uint64_t cost) {
    auto r = co_await offload(
        ctx, pool, [] { return uint64_t{1}; }, cost);
    co_return out_of(r);
  }

  Task<uint64_t> void_job(Ctx& ctx) {
    auto r = co_await offload(ctx, "p", [] { ++jobs_run(); });
    co_return r ? 1 : 0;
  }

  static std::string join(const std::string& a, const std::vector<std::string>& b) {
    std::string out = a;
    for (const auto& s : b)
      out += s;
    return out;
  }
  Task<std::string> concat(Ctx& ctx, std::string a, std::string b) {
    std::vector<std::string> parts(3, b);  // (g++ 12 also rejects a braced list inside co_await)
    auto r = co_await offload_with(ctx, "p", 1, &Worker::join, a, parts);
    if (!r) throw Trap(r.error().message);
    co_return *r;
  }

  uint64_t query_offload(Ctx& ctx) {
    auto c = offload(ctx, "p", [] { return uint64_t{1}; });
    return 0;
  }

  uint64_t get_counter(Ctx&) { return state().counter; }
};

inline Config pool_config(uint32_t threads, uint32_t queue_capacity, uint32_t exec_threads = 1) {
  Config cfg;
  cfg.threads = exec_threads;
  cfg.pools = {PoolConfig{"p", threads, queue_capacity}};
  return cfg;
}

// Simulation: ticks until the runtime, its pools included, is quiet (R22: Runtime::idle() sees
// staged and undelivered offloads).
inline uint64_t settle(Runtime& rt, uint64_t rounds_max = 100'000) {
  return rt.run_until_idle(rounds_max);
}

}  // namespace pool_test
