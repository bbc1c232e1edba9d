// R22 worker pools in simulation (Delivery::deterministic): offload semantics, errors, R7
// rollback, bounded queues, and determinism across thread counts (R20).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pool/pool_support.hpp"
#include "support/invariants.hpp"

using namespace canopy;
using namespace pool_test;
using canopy_test::describe;
using canopy_test::Harness;

namespace {

TEST(R22Offload, ValueComesBackAsAMessage) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  auto r = h.update<uint64_t>(w, "square", uint64_t{12}, uint64_t{1});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 144u);
  auto st = find_pools(h.rt())->stats("p");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->admitted, 1u);
  EXPECT_EQ(st->completed, 1u);
  EXPECT_EQ(st->delivered, 1u);
  EXPECT_EQ(st->in_flight, 0u);
  settle(h.rt());
  h.check_quiescent();
}

TEST(R22Offload, VoidJob) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  const uint64_t before = jobs_run();
  auto r = h.update<uint64_t>(w, "void_job");
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 1u);
  EXPECT_EQ(jobs_run(), before + 1);
}

// R22 deterministic delivery: an offload executed in round r is delivered at the start of round
// r + declared_cost_rounds (0 counts as 1).
TEST(R22Offload, DeliveredAfterTheDeclaredCost) {
  for (uint64_t cost : {0u, 1u, 2u, 7u, 30u}) {
    Harness h(pool_config(1, 8));
    auto w = h.install<Worker>(0);
    auto r = h.update<std::pair<uint64_t, uint64_t>>(w, "rounds", cost);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(r->second - r->first, std::max<uint64_t>(cost, 1)) << "cost " << cost;
  }
}

TEST(R22Offload, ExceptionInTheJobIsAnErrorTheCoroutineHandles) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  auto r = h.update<Out>(w, "fail");
  ASSERT_TRUE(r) << describe(r);  // the method itself succeeded: it handled the error
  EXPECT_EQ(r->code, static_cast<uint8_t>(RejectCode::canister_error));
  EXPECT_NE(r->message.find("boom"), std::string::npos) << r->message;
  EXPECT_NE(r->message.find("pool 'p'"), std::string::npos) << r->message;
  EXPECT_EQ(find_pools(h.rt())->stats("p")->failed, 1u);
}

// R7 after the offload: the callback execution's changes are rolled back, the first
// execution's stay; the caller gets CANISTER_ERROR with the trap message.
TEST(R22Offload, TrapAfterTheOffloadFollowsR7) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  auto r = h.update<void>(w, "trap_after");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("trap after the offload"), std::string::npos);
  auto c = h.rt().query<uint64_t>(w, "counter");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, 1u);
  settle(h.rt());
  h.check_quiescent();
}

// R7 before commit: the job is never handed to the pool.
TEST(R22Offload, TrapBeforeCommitNeverRunsTheJob) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  const uint64_t before = jobs_run();
  auto r = h.update<void>(w, "trap_before");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  settle(h.rt());
  EXPECT_EQ(jobs_run(), before);
  EXPECT_EQ(find_pools(h.rt())->stats("p")->admitted, 0u);
  EXPECT_EQ(*h.rt().query<uint64_t>(w, "counter"), 0u);
  h.check_quiescent();
}

// R22: the canister is not blocked while its job runs; other messages execute meanwhile.
TEST(R22Offload, CanisterServesOtherMessagesWhileTheJobRuns) {
  Gate g;
  gate() = &g;
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  const auto slow = h.submit(w, "gated", uint64_t{50});
  h.ticks(2);         // round 1 executes and commits the offload; round 2's boundary admits it
  g.wait_started(1);  // the job is running (and blocked) on the pool
  for (uint64_t i = 1; i <= 10; ++i) {
    auto p = h.update<uint64_t>(w, "ping");
    ASSERT_TRUE(p) << describe(p);
    EXPECT_EQ(*p, i);
  }
  EXPECT_FALSE(h.result<Out>(slow).has_value());
  ASSERT_LT(h.rt().round(), 50u);  // the completion is not due yet: the driver did not wait
  g.release();
  for (int i = 0; i < 100 && !h.result<Out>(slow); ++i)
    h.tick();
  auto r = h.result<Out>(slow);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->code, 0);
  EXPECT_EQ((*r)->value, 42u);
  gate() = nullptr;
}

// offload_with: non-trivially-copyable arguments cross safely, also inside a co_await.
TEST(R22Offload, OffloadWithCopiesItsArguments) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  const std::string long_text(1000, 'x');
  auto r = h.update<std::string>(w, "concat", std::string("short"), long_text);
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, "short" + long_text + long_text + long_text);
}

TEST(R22Offload, UnknownPoolFailsSynchronously) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  auto r = h.update<Out>(w, "offload_to", std::string("nope"), uint64_t{1});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->code, static_cast<uint8_t>(RejectCode::destination_invalid));
  EXPECT_NE(r->message.find("no worker pool named 'nope'"), std::string::npos) << r->message;
  EXPECT_NE(r->message.find("pools: p"), std::string::npos) << r->message;
}

// R1/R22: a runtime without pools refuses offloads synchronously (no callback ever runs).
TEST(R22Offload, NoPoolsConfiguredFailsSynchronously) {
  Harness h(Config{});
  EXPECT_EQ(find_pools(h.rt()), nullptr);
  auto w = h.install<Worker>(0);
  auto r = h.update<Out>(w, "offload_to", std::string("p"), uint64_t{1});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->code, static_cast<uint8_t>(RejectCode::destination_invalid));
  EXPECT_NE(r->message.find("Config::pools is empty"), std::string::npos) << r->message;
  // Attaching an empty set of pools by hand changes only the message.
  attach_pools(h.rt());
  auto r2 = h.update<Out>(w, "offload_to", std::string("p"), uint64_t{1});
  ASSERT_TRUE(r2) << describe(r2);
  EXPECT_EQ(r2->code, static_cast<uint8_t>(RejectCode::destination_invalid));
  EXPECT_NE(r2->message.find("pools: none"), std::string::npos) << r2->message;
  h.settle();
}

// R22: the Runtime constructor attaches the pools of its Config; attach_pools returns them.
TEST(R22Offload, TheRuntimeAttachesItsPools) {
  Runtime rt(pool_config(1, 8));
  Pools* pools = find_pools(rt);
  ASSERT_NE(pools, nullptr);
  EXPECT_EQ(&attach_pools(rt), pools);
  EXPECT_EQ(pools->names(), std::vector<std::string>{"p"});
  auto w = rt.install<Worker>(rt.subnet(0));
  auto r = rt.update<uint64_t>(w, "square", uint64_t{9}, uint64_t{1});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 81u);
}

// R22: Runtime::idle() sees an offload whose completion is not delivered yet, so
// run_until_idle runs until the canister has its answer (the subnets alone are idle meanwhile:
// no input, no timer).
TEST(R22Offload, RuntimeIdleWaitsForPendingOffloads) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  const auto iid = h.submit(w, "rounds", uint64_t{30});
  h.tick();  // executes the method: the offload is staged
  EXPECT_FALSE(h.rt().idle());
  const uint64_t n = h.run_until_idle(1'000);
  EXPECT_EQ(n, 30u);  // delivered at the start of round 1 + 30, answered in it
  auto r = h.result<std::pair<uint64_t, uint64_t>>(iid);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->second - (*r)->first, 30u);
  EXPECT_TRUE(find_pools(h.rt())->idle());
  h.check_quiescent();
}

TEST(R22Offload, DeclaredCostBeyondTheLimitFailsSynchronously) {
  Config cfg = pool_config(1, 8);
  cfg.offload_cost_rounds_max = 10;
  Harness h(cfg);
  auto w = h.install<Worker>(0);
  auto r = h.update<Out>(w, "offload_to", std::string("p"), uint64_t{11});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->code, static_cast<uint8_t>(RejectCode::sys_fatal));
  EXPECT_NE(r->message.find("offload_cost_rounds_max"), std::string::npos) << r->message;
}

// R16: a query cannot offload (it traps).
TEST(R22Offload, QueryCannotOffload) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  auto r = h.rt().query<uint64_t>(w, "query_offload");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("cannot offload"), std::string::npos) << r.error().message;
}

// R22 bounded queues: a pool holds at most threads + queue_capacity jobs; beyond, offloads are
// refused with SYS_TRANSIENT, deterministically (in offload-id order).
TEST(R22Offload, BoundedQueueRefusesBeyondCapacity) {
  Harness h(pool_config(1, 2));
  auto w = h.install<Worker>(0);
  auto r = h.update<std::vector<Out>>(w, "many", uint64_t{10}, uint64_t{3});
  ASSERT_TRUE(r) << describe(r);
  ASSERT_EQ(r->size(), 10u);
  for (size_t i = 0; i < r->size(); ++i) {
    const Out& o = (*r)[i];
    if (i < 3) {
      EXPECT_EQ(o.code, 0) << i << ": " << o.message;
      EXPECT_EQ(o.value, i);
    } else {
      EXPECT_EQ(o.code, static_cast<uint8_t>(RejectCode::sys_transient)) << i;
      EXPECT_NE(o.message.find("pool 'p' is full"), std::string::npos) << o.message;
    }
  }
  auto st = find_pools(h.rt())->stats("p");
  EXPECT_EQ(st->admitted, 3u);
  EXPECT_EQ(st->refused, 7u);
  EXPECT_EQ(st->in_flight, 0u);
  EXPECT_LE(st->running_max, 1u);
  // Once delivered, the capacity is free again.
  auto again = h.update<std::vector<Out>>(w, "many", uint64_t{3}, uint64_t{1});
  ASSERT_TRUE(again);
  for (const auto& o : *again)
    EXPECT_EQ(o.code, 0) << o.message;
  settle(h.rt());
  h.check_quiescent();
}

// R21/R22: an upgrade while a job runs rejects the pending callback ("callback lost"); the late
// completion is dropped without running user code.
TEST(R22Offload, UpgradeWhileTheJobRunsDropsTheCompletion) {
  Harness h(pool_config(1, 8));
  auto w = h.install<Worker>(0);
  const auto iid = h.submit(w, "square", uint64_t{3}, uint64_t{5});
  h.ticks(2);
  ASSERT_TRUE(h.rt().upgrade<Worker>(w));
  h.tick();  // the "callback lost" reject reaches the ingress at the round's end
  auto r = h.result<uint64_t>(iid);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_NE(r->error().message.find("callback lost"), std::string::npos) << r->error().message;
  settle(h.rt());
  EXPECT_EQ(find_pools(h.rt())->stats("p")->delivered, 1u);
  h.check_quiescent();
}

// ---- determinism (R20) ----

// Canisters that mix sequential and parallel offloads with random costs, failing jobs, refusals
// and jobs of random length (so that they finish in a different order on every run).
struct MixState {
  uint64_t digest = 0;
  template <class A>
  void serialize(A& ar) {
    ar(digest);
  }
};

uint64_t spin(uint64_t x, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

struct Mixer : Canister<MixState> {
  static void methods(Methods<Mixer>& m) {
    m.update("run", &Mixer::run);
    m.query("digest", &Mixer::digest);
  }
  void fold(uint64_t v) { state().digest = state().digest * 1099511628211ULL ^ v; }
  void fold(const Result<uint64_t>& r) {
    fold(r ? *r : 0xdead0000ULL + static_cast<uint64_t>(r.error().code));
  }
  Task<uint64_t> run(Ctx& ctx, uint64_t steps) {
    for (uint64_t s = 0; s < steps; ++s) {
      const uint64_t x = ctx.random();
      const uint64_t cost = 1 + x % 4;
      const uint64_t work = (x >> 8) % 20'000;
      if (x % 3 == 0) {
        std::vector<Call<uint64_t>> calls;
        const uint64_t n = 1 + (x >> 20) % 6;
        for (uint64_t i = 0; i < n; ++i) {
          const uint64_t y = x + i;
          const bool boom = (y >> 32) % 7 == 0;
          calls.push_back(offload(
              ctx, "p",
              [y, work, boom] {
                if (boom) throw std::runtime_error("boom " + std::to_string(y % 100));
                return spin(y, work);
              },
              cost));
        }
        for (auto& r : co_await when_all_settled(std::move(calls)))
          fold(r);
      } else {
        fold(co_await offload(
            ctx, "p", [x, work] { return spin(x, work); }, cost));
      }
      fold(ctx.round());
    }
    co_return state().digest;
  }
  uint64_t digest(Ctx&) { return state().digest; }
};

struct MixOutcome {
  uint64_t trace_hash = 0;
  std::vector<uint64_t> digests;
  uint64_t rounds = 0;
  uint64_t refused = 0;
  bool operator==(const MixOutcome&) const = default;
};

MixOutcome run_mix(uint64_t seed, uint32_t exec_threads, uint32_t pool_threads,
                   uint32_t queue_capacity = 6) {
  Config cfg;
  cfg.seed = seed;
  cfg.subnets = 2;
  cfg.threads = exec_threads;
  cfg.pools = {PoolConfig{"p", pool_threads, queue_capacity}};
  Runtime rt(cfg);
  std::vector<CanisterId> ids;
  for (uint32_t i = 0; i < 6; ++i)
    ids.push_back(rt.install<Mixer>(rt.subnet(i % 2)));
  std::vector<IngressId> iids;
  for (auto id : ids)
    iids.push_back(rt.submit(id, "run", encode(uint64_t{12})));
  settle(rt);
  MixOutcome out;
  out.trace_hash = rt.trace_hash();
  out.rounds = rt.round();
  for (auto iid : iids) {
    auto r = rt.ingress_result(iid);
    EXPECT_TRUE(r && *r) << "seed " << seed;
    out.digests.push_back(r && *r ? decode<uint64_t>(**r) : 0);
  }
  out.refused = find_pools(rt)->stats("p")->refused;
  EXPECT_TRUE(rt.check_quiescent_invariants().empty()) << "seed " << seed;
  return out;
}

TEST(R22Determinism, TraceHashDoesNotDependOnThreadsOrTiming) {
  uint64_t refused = 0;
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::printf("R22 determinism: seed %llu\n", static_cast<unsigned long long>(seed));
    // Same configuration, different canister-execution threads and job timing (R20).
    const MixOutcome base = run_mix(seed, 1, 2);
    EXPECT_EQ(run_mix(seed, 1, 2), base);
    EXPECT_EQ(run_mix(seed, 2, 2), base);
    EXPECT_EQ(run_mix(seed, 4, 2), base);
    refused += base.refused;
    // With a queue that never fills, the pool's size does not change anything either.
    const MixOutcome roomy = run_mix(seed, 1, 1, 1000);
    EXPECT_EQ(roomy.refused, 0u);
    EXPECT_EQ(run_mix(seed, 2, 3, 1000), roomy);
  }
  // The workload is meant to exercise refusals too.
  EXPECT_GT(refused, 0u);
}

TEST(R22Determinism, DifferentSeedsDiffer) {
  EXPECT_NE(run_mix(1, 1, 2).trace_hash, run_mix(2, 1, 2).trace_hash);
}

}  // namespace
