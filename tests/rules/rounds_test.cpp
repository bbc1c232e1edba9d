// Rules R12 (rounds and inner iterations), R13 (cross-subnet latency in rounds), R14 (cost
// budgets per message, per canister and per round) and R15 (virtual time). Round counts are exact:
// they are what seed 000's "sequential vs parallel across subnets" comparison rests on.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>

#include <cstdint>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "parallel_calls/parallel_calls.hpp"
#include "support/invariants.hpp"

using namespace canopy;
using canopy_test::contains;
using canopy_test::describe;
using canopy_test::Harness;

namespace {

struct Clock {
  uint64_t time_ms = 0;
  uint64_t round = 0;
  template <class A>
  void serialize(A& ar) { ar(time_ms, round); }
  bool operator==(const Clock&) const = default;
};

struct Node : Canister<std::vector<Clock>> {
  static void methods(Methods<Node>& m) {
    m.update("now", &Node::now);
    m.update("chain", &Node::chain);
    m.update("fan", &Node::fan);
    m.update("charge", &Node::charge);
    m.update("ping", &Node::ping);
    m.query("clocks", &Node::clocks);
  }
  Clock now(Ctx& ctx) {
    Clock c{ctx.time_ms(), ctx.round()};
    state().push_back(c);
    return c;
  }
  // n sequential calls of `to`.now(), recording our clock after each.
  Task<uint64_t> chain(Ctx& ctx, CanisterId to, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      auto r = co_await ctx.call<Clock>(to, "now");
      if (!r) throw Trap(r.error().message);
      state().push_back(Clock{ctx.time_ms(), ctx.round()});
    }
    co_return n;
  }
  // One call to each target, in parallel.
  Task<uint64_t> fan(Ctx& ctx, std::vector<CanisterId> targets) {
    std::vector<Call<void>> calls;
    for (auto t : targets) calls.push_back(ctx.call<void>(t, "ping"));
    auto rs = co_await when_all_settled(std::move(calls));
    uint64_t ok = 0;
    for (auto& r : rs) ok += r ? 1 : 0;
    co_return ok;
  }
  uint64_t charge(Ctx& ctx, uint64_t cost) {
    state().push_back(Clock{ctx.time_ms(), ctx.round()});
    ctx.charge(cost);
    return cost;
  }
  void ping(Ctx&) {}
  std::vector<Clock> clocks(Ctx&) { return state(); }
};

// Rounds it takes to answer one ingress update (submitted between rounds).
template <class R = void, class... Args>
uint64_t rounds_for(Harness& h, CanisterId id, const std::string& method, const Args&... args) {
  const uint64_t before = h.rt().round();
  auto r = h.update<R>(id, method, args...);
  EXPECT_TRUE(r) << describe(r);
  return h.rt().round() - before;
}

Config subnets_with_latency(uint32_t subnets, uint32_t latency) {
  Config c;
  c.subnets = subnets;
  c.xnet_latency_rounds = latency;
  return c;
}

}  // namespace

// ---------------------------------------------------------------- R12

TEST(R12_Rounds, SameSubnetCallChainCompletesWithinOneRound) {
  Harness h(Config{});
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  EXPECT_EQ(rounds_for<uint64_t>(h, a, "chain", b, uint64_t{50}), 1u)
      << "101 inner iterations fit in one round (round_iterations_max = 200)";
  h.settle();
}

TEST(R12_Rounds, LongSequentialChainSpansRoundsAtRoundIterationsMax) {
  // n sequential same-subnet calls need 2n + 1 inner iterations (the ingress, then a request and
  // a response execution per call): ceil((2n + 1) / round_iterations_max) rounds.
  for (uint64_t n : {4u, 5u, 12u, 30u}) {
    SCOPED_TRACE(n);
    Config cfg;
    cfg.round_iterations_max = 10;
    Harness h(cfg);
    auto a = h.install<Node>(0);
    auto b = h.install<Node>(0);
    EXPECT_EQ(rounds_for<uint64_t>(h, a, "chain", b, n), (2 * n + 1 + 9) / 10);
    h.settle();
  }
}

TEST(R12_Rounds, SeedZeroSequentialCallsAcrossRoundsAsOnTheIC) {
  // Seed 000 with the defaults: 2000 sequential same-subnet calls = 4001 iterations = 21 rounds.
  Harness h(Config{});
  auto callee = h.install<examples::Callee>(0);
  auto caller = h.install<examples::Caller>(0);
  ASSERT_TRUE(h.update<void>(caller, "setup_callee", callee));
  EXPECT_EQ(rounds_for<uint64_t>(h, caller, "sequential_calls", uint64_t{2000}), 21u);
  EXPECT_EQ(rounds_for<uint64_t>(h, caller, "parallel_calls", uint64_t{500}), 1u);
  h.settle();
}

// ---------------------------------------------------------------- R13

TEST(R13_CrossSubnetLatency, OneCallTakesOneRoundPlusTwiceTheLatency) {
  for (uint32_t latency : {1u, 2u, 3u, 5u}) {
    SCOPED_TRACE(latency);
    Harness h(subnets_with_latency(2, latency));
    auto a = h.install<Node>(0);
    auto remote = h.install<Node>(1);
    auto local = h.install<Node>(0);
    EXPECT_EQ(rounds_for<uint64_t>(h, a, "chain", remote, uint64_t{1}), 1u + 2 * latency);
    EXPECT_EQ(rounds_for<uint64_t>(h, a, "chain", local, uint64_t{1}), 1u)
        << "same-subnet calls cost no extra round";
    // The callee ran exactly `latency` rounds after the caller's first execution.
    auto clocks = h.rt().query<std::vector<Clock>>(remote, "clocks").value();
    ASSERT_EQ(clocks.size(), 1u);
    EXPECT_EQ(clocks[0].round, 1u + latency);
    h.settle();
  }
}

TEST(R13_CrossSubnetLatency, SequentialVersusParallelRoundCounts) {
  // Seed 000 across subnets, latency 2: n sequential calls take 1 + 4n rounds; n parallel calls
  // take 5 rounds whatever n, and whether the callees are on one or several other subnets.
  Harness h(subnets_with_latency(4, 2));
  auto callee = h.install<examples::Callee>(1);
  auto caller = h.install<examples::Caller>(0);
  ASSERT_TRUE(h.update<void>(caller, "setup_callee", callee));
  EXPECT_EQ(rounds_for<uint64_t>(h, caller, "sequential_calls", uint64_t{10}), 41u);
  EXPECT_EQ(rounds_for<uint64_t>(h, caller, "parallel_calls", uint64_t{10}), 5u);
  EXPECT_EQ(rounds_for<uint64_t>(h, caller, "parallel_calls", uint64_t{400}), 5u);
  auto fanner = h.install<Node>(0);
  std::vector<CanisterId> spread = {h.install<Node>(1), h.install<Node>(2), h.install<Node>(3),
                                    h.install<Node>(1), h.install<Node>(0)};
  EXPECT_EQ(rounds_for<uint64_t>(h, fanner, "fan", spread), 5u);
  h.settle();
}

TEST(R13_CrossSubnetLatency, ChainThroughThreeSubnets) {
  // a (s0) -> b (s1) -> c (s2): each hop adds 2 x latency.
  Harness h(subnets_with_latency(3, 2));
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(1);
  auto c = h.install<Node>(2);
  struct Relay : Canister<Unit> {
    static void methods(Methods<Relay>& m) { m.update("relay", &Relay::relay); }
    Task<uint64_t> relay(Ctx& ctx, CanisterId via, CanisterId to) {
      auto r = co_await ctx.call<uint64_t>(via, "chain", to, uint64_t{1});
      if (!r) throw Trap(r.error().message);
      co_return *r;
    }
  };
  auto relay = h.install<Relay>(0);
  (void)a;
  EXPECT_EQ(rounds_for<uint64_t>(h, relay, "relay", b, c), 1u + 4 + 4);
  h.settle();
}

// ---------------------------------------------------------------- R14

TEST(R14_Budgets, ChargingBeyondMessageCostMaxTraps) {
  Config cfg;
  cfg.message_cost_max = 10'000;
  Harness h(cfg);
  auto a = h.install<Node>(0);
  EXPECT_TRUE(h.update<uint64_t>(a, "charge", uint64_t{8'000}));
  auto over = h.update<uint64_t>(a, "charge", uint64_t{9'001});  // + base cost 1000 > 10000
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(over.error().message, "cost limit")) << over.error().message;
  EXPECT_EQ(h.rt().query<std::vector<Clock>>(a, "clocks")->size(), 1u)
      << "the trapped execution's state change was rolled back";
  h.settle();
}

TEST(R14_Budgets, CanisterRoundBudgetSpreadsMessagesOverRounds) {
  // Base cost 1000, a canister's share of a round 3000: three messages per round.
  Config cfg;
  cfg.canister_round_cost_max = 3'000;
  Harness h(cfg);
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  for (int i = 0; i < 10; ++i) {
    h.submit(a, "now");
    h.submit(b, "now");
  }
  std::vector<uint64_t> per_round;
  for (int r = 0; r < 10 && !h.rt().idle(); ++r) {
    const uint64_t before = h.rt().info(a)->messages_executed;
    h.tick();
    per_round.push_back(h.rt().info(a)->messages_executed - before);
  }
  EXPECT_EQ(per_round, (std::vector<uint64_t>{3, 3, 3, 1}));
  EXPECT_EQ(h.rt().info(b)->messages_executed, 10u) << "each canister has its own share";
  // Explicit charges count: 2500 + 1000 per message = one message per round.
  for (int i = 0; i < 3; ++i) h.submit(a, "charge", uint64_t{2'500});
  EXPECT_EQ(h.run_until_idle(), 3u);
  h.settle();
}

TEST(R14_Budgets, SubnetRoundBudgetEndsTheRound) {
  // round_cost_max 5000 with 1000 per message: a same-subnet ping-pong executes one message per
  // inner iteration, so a round ends after 5. Ten sequential calls = 21 messages = 5 rounds.
  Config cfg;
  cfg.round_cost_max = 5'000;
  Harness h(cfg);
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  EXPECT_EQ(rounds_for<uint64_t>(h, a, "chain", b, uint64_t{10}), 5u);
  h.settle();
}

// ---------------------------------------------------------------- R15

TEST(R15_VirtualTime, EachRoundAdvancesTheClockByRoundDuration) {
  Config cfg;
  cfg.round_duration_ms = 250;
  Harness h(cfg);
  auto a = h.install<Node>(0);
  EXPECT_EQ(h.rt().time_ms(), 0u);
  h.ticks(3);
  EXPECT_EQ(h.rt().round(), 3u);
  EXPECT_EQ(h.rt().time_ms(), 750u);
  auto c1 = h.update<Clock>(a, "now").value();
  EXPECT_EQ(c1, (Clock{1'000, 4}));
  h.ticks(2);
  auto c2 = h.update<Clock>(a, "now").value();
  EXPECT_EQ(c2, (Clock{1'750, 7}));
  EXPECT_EQ(h.rt().time_ms(), 1'750u);
  h.settle();
}

TEST(R15_VirtualTime, EveryExecutionInARoundSeesTheRoundsTime) {
  Harness h(Config{});
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  ASSERT_TRUE(h.update<uint64_t>(a, "chain", b, uint64_t{20}));
  auto ca = h.rt().query<std::vector<Clock>>(a, "clocks").value();
  auto cb = h.rt().query<std::vector<Clock>>(b, "clocks").value();
  ASSERT_EQ(ca.size(), 20u);
  ASSERT_EQ(cb.size(), 20u);
  for (auto& c : ca) EXPECT_EQ(c, (Clock{100, 1}));
  for (auto& c : cb) EXPECT_EQ(c, (Clock{100, 1}));
  h.settle();
}

TEST(R15_VirtualTime, CrossSubnetClocksAdvanceTogether) {
  Harness h(subnets_with_latency(2, 3));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  ASSERT_TRUE(h.update<uint64_t>(a, "chain", remote, uint64_t{2}));
  auto ca = h.rt().query<std::vector<Clock>>(a, "clocks").value();
  auto cr = h.rt().query<std::vector<Clock>>(remote, "clocks").value();
  ASSERT_EQ(cr.size(), 2u);
  ASSERT_EQ(ca.size(), 2u);
  EXPECT_EQ(cr[0], (Clock{400, 4}));
  EXPECT_EQ(ca[0], (Clock{700, 7}));
  EXPECT_EQ(cr[1], (Clock{1'000, 10}));
  EXPECT_EQ(ca[1], (Clock{1'300, 13}));
  h.settle();
}

TEST(R15_VirtualTime, WallClockNeverEntersExecution) {
  // The same scenario with a simulated wall clock that jumps by an hour before every round and
  // with the real steady clock: identical clocks seen by canisters, results and trace hash.
  auto run = [](std::unique_ptr<Env> env, bool jump) {
    Config cfg;
    cfg.subnets = 2;
    Runtime rt(cfg, std::move(env));
    auto a = rt.install<Node>(rt.subnet(0));
    auto b = rt.install<Node>(rt.subnet(1));
    auto iid = rt.submit(a, "chain", encode(b, uint64_t{3}));
    for (int i = 0; i < 30 && !rt.idle(); ++i) {
      if (jump) dynamic_cast<SimEnv&>(rt.env()).advance_wall_ns(3'600'000'000'000ULL);
      rt.tick();
    }
    EXPECT_TRUE(rt.ingress_result(iid).has_value());
    auto clocks = rt.query<std::vector<Clock>>(a, "clocks").value();
    return std::make_pair(rt.trace_hash(), clocks);
  };
  auto sim = run(std::make_unique<SimEnv>(1), true);
  auto real = run(std::make_unique<RealEnv>(1), false);
  EXPECT_EQ(sim.first, real.first);
  EXPECT_EQ(sim.second, real.second);
  ASSERT_EQ(sim.second.size(), 3u);
  EXPECT_EQ(sim.second[0], (Clock{500, 5}));
}
