// Micro-benchmarks for the flow combinators (include/canopy/flow.hpp, R18).
//
// Overhead of when_all over 10,000 calls against issuing them by hand. Every benchmark runs
// one ingress message on a fixed Runtime (one subnet; caller and callee; queue capacity raised
// so that all calls are accepted) that issues N pings and waits for all of them:
//   ByHand          calls in a vector, then `for (auto& c : calls) co_await c;`
//   WhenAllSettled  call.hpp's when_all_settled (one counter, no frame per arm)
//   WhenAllCalls    flow's when_all over Call arms (a callback per slot, no frame per arm)
//   WhenAllTasks    flow's when_all over Task arms (a Task frame + a driver frame per arm)
//   ForEachPar      for_each_par(..., 500): at most 500 in flight
// Reported: wall time per message (the whole runtime: rounds, queues, the callee's executions)
// and per call (ns_per_call). The difference with ByHand is the combinator's cost.
//
// Memory per suspended task: SuspendedMemory spawns N tasks in a Scope, each suspended on a
// timer, and measures the heap growth (glibc mallinfo2) while they are all suspended; the same
// with N bare timer calls is the baseline (the runtime's slot per pending call). Counters:
// bytes_per_task (Task frame + driver frame + Scope entry), bytes_per_driver (a Call spawned in a
// Scope: driver frame + Scope entry) and bytes_per_call (a pending call: its slot lives in the
// canister's preallocated slot table, so once the table has grown it costs no new heap).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace {

using namespace canopy;

struct Pong : Canister<Unit> {
  static void methods(Methods<Pong>& m) { m.update("ping", &Pong::ping); }
  void ping(Ctx&) {}
};

struct BenchState {
  CanisterId callee;
  template <class A>
  void serialize(A& ar) {
    ar(callee);
  }
};

uint64_t heap_in_use() {
  return static_cast<uint64_t>(mallinfo2().uordblks);
}

struct Fan : Canister<BenchState> {
  static void methods(Methods<Fan>& m) {
    m.update("set", &Fan::set);
    m.update("by_hand", &Fan::by_hand);
    m.update("settled", &Fan::settled);
    m.update("when_all_calls", &Fan::when_all_calls);
    m.update("when_all_tasks", &Fan::when_all_tasks);
    m.update("for_each_par", &Fan::for_each_par_calls);
    m.update("suspended_tasks", &Fan::suspended_tasks);
    m.update("suspended_calls", &Fan::suspended_calls);
    m.update("suspended_spawned_calls", &Fan::suspended_spawned_calls);
  }
  void set(Ctx&, CanisterId c) { state().callee = c; }

  std::vector<Call<void>> issue(Ctx& ctx, uint64_t n) {
    std::vector<Call<void>> calls;
    calls.reserve(n);
    for (uint64_t i = 0; i < n; ++i)
      calls.push_back(ctx.call<void>(state().callee, "ping"));
    return calls;
  }
  Task<uint64_t> by_hand(Ctx& ctx, uint64_t n) {
    auto calls = issue(ctx, n);
    uint64_t ok = 0;
    for (auto& c : calls)
      ok += (co_await c).has_value() ? 1 : 0;
    co_return ok;
  }
  Task<uint64_t> settled(Ctx& ctx, uint64_t n) {
    auto rs = co_await when_all_settled(issue(ctx, n));
    co_return rs.size();
  }
  Task<uint64_t> when_all_calls(Ctx& ctx, uint64_t n) {
    auto r = co_await when_all(issue(ctx, n));
    co_return r ? r->size() : 0;
  }
  static Task<Result<void>> one(Ctx& ctx, CanisterId callee) {
    co_return co_await ctx.call<void>(callee, "ping");
  }
  Task<uint64_t> when_all_tasks(Ctx& ctx, uint64_t n) {
    std::vector<Task<Result<void>>> tasks;
    tasks.reserve(n);
    for (uint64_t i = 0; i < n; ++i)
      tasks.push_back(one(ctx, state().callee));
    auto r = co_await when_all(std::move(tasks));
    co_return r ? r->size() : 0;
  }
  Task<uint64_t> for_each_par_calls(Ctx& ctx, uint64_t n) {
    std::vector<uint64_t> items(n);
    auto rs = co_await for_each_par(
        std::move(items), [&](const uint64_t&) { return ctx.call<void>(state().callee, "ping"); },
        500);
    co_return rs.size();
  }
  static Task<void> sleeper(Ctx& ctx) { (void)co_await ctx.sleep_ms(1); }
  // Heap growth with n tasks suspended on timers (measured while they are suspended).
  Task<uint64_t> suspended_tasks(Ctx& ctx, uint64_t n) {
    Scope scope;
    const uint64_t before = heap_in_use();
    for (uint64_t i = 0; i < n; ++i)
      scope.spawn(sleeper(ctx));
    const uint64_t after = heap_in_use();
    co_await scope.join();
    co_return after - before;
  }
  // Driver frames alone: Calls spawned in a Scope (a driver per Call, no Task frame).
  Task<uint64_t> suspended_spawned_calls(Ctx& ctx, uint64_t n) {
    Scope scope;
    const uint64_t before = heap_in_use();
    for (uint64_t i = 0; i < n; ++i)
      scope.spawn(ctx.sleep_ms(1));
    const uint64_t after = heap_in_use();
    co_await scope.join();
    co_return after - before;
  }
  Task<uint64_t> suspended_calls(Ctx& ctx, uint64_t n) {
    std::vector<Call<void>> sleeps;
    sleeps.reserve(n);
    const uint64_t before = heap_in_use();
    for (uint64_t i = 0; i < n; ++i)
      sleeps.push_back(ctx.sleep_ms(1));
    const uint64_t after = heap_in_use();
    (void)co_await when_all_settled(std::move(sleeps));
    co_return after - before;
  }
};

struct World {
  World() : rt(config()) {
    callee = rt.install<Pong>(rt.subnet(0));
    fan = rt.install<Fan>(rt.subnet(0));
    (void)rt.update<void>(fan, "set", callee);
  }
  static Config config() {
    Config cfg;
    cfg.queue_capacity = 1'000'000;
    return cfg;
  }
  Runtime rt;
  CanisterId callee, fan;
};

World& world() {
  static World w;
  return w;
}

void run(benchmark::State& state, const char* method) {
  World& w = world();
  const auto n = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    auto r = w.rt.update<uint64_t>(w.fan, method, n);
    if (!r || *r != n) state.SkipWithError("calls failed");
    benchmark::DoNotOptimize(r);
  }
  state.counters["ns_per_call"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

void BM_Flow_ByHand(benchmark::State& s) {
  run(s, "by_hand");
}
void BM_Flow_WhenAllSettled(benchmark::State& s) {
  run(s, "settled");
}
void BM_Flow_WhenAllCalls(benchmark::State& s) {
  run(s, "when_all_calls");
}
void BM_Flow_WhenAllTasks(benchmark::State& s) {
  run(s, "when_all_tasks");
}
void BM_Flow_ForEachPar500(benchmark::State& s) {
  run(s, "for_each_par");
}

BENCHMARK(BM_Flow_ByHand)->Arg(10'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Flow_WhenAllSettled)->Arg(10'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Flow_WhenAllCalls)->Arg(10'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Flow_WhenAllTasks)->Arg(10'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Flow_ForEachPar500)->Arg(10'000)->Unit(benchmark::kMillisecond);

void BM_Flow_SuspendedMemory(benchmark::State& state) {
  World& w = world();
  const auto n = static_cast<uint64_t>(state.range(0));
  uint64_t tasks = 0, drivers = 0, calls = 0;
  for (auto _ : state) {
    tasks = *w.rt.update<uint64_t>(w.fan, "suspended_tasks", n);
    drivers = *w.rt.update<uint64_t>(w.fan, "suspended_spawned_calls", n);
    calls = *w.rt.update<uint64_t>(w.fan, "suspended_calls", n);
  }
  const auto per = [n](uint64_t bytes) {
    return static_cast<double>(bytes) / static_cast<double>(n);
  };
  state.counters["bytes_per_task"] = per(tasks);      // Task frame + driver frame + Scope entry
  state.counters["bytes_per_driver"] = per(drivers);  // driver frame + Scope entry
  state.counters["bytes_per_call"] = per(calls);      // a pending call's slot (preallocated)
}
BENCHMARK(BM_Flow_SuspendedMemory)->Arg(10'000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
