// R19 timers on virtual time: one-shot and periodic timers, the heartbeat, ctx.sleep; what they
// survive (nothing they should not: a trap, an upgrade, an uninstall) and what stops them; a
// timer that lost a with_timeout is released at once.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "flow/flow_support.hpp"

using namespace canopy;
using namespace flow_test;
using namespace std::chrono_literals;

namespace {

struct ClockState {
  std::vector<uint64_t> once_at;   // virtual times at which tick_once ran
  std::vector<uint64_t> every_at;  // ... tick_every
  uint64_t heartbeats = 0;
  uint64_t interval_id = 0;
  bool beat = false;  // count heartbeats only when asked to
  template <class A>
  void serialize(A& ar) {
    ar(once_at, every_at, heartbeats, interval_id, beat);
  }
};

struct Clock : Canister<ClockState> {
  static void methods(Methods<Clock>& m) {
    m.update("arm_once", &Clock::arm_once);
    m.update("arm_once_then_trap", &Clock::arm_once_then_trap);
    m.update("tick_once", &Clock::tick_once);
    m.update("arm_every", &Clock::arm_every);
    m.update("tick_every", &Clock::tick_every);
    m.update("stop_every", &Clock::stop_every);
    m.update("beat", &Clock::beat);
    m.heartbeat(&Clock::heartbeat);
    m.update("sleep_for", &Clock::sleep_for);
    m.update("sleep_negative", &Clock::sleep_negative);
    m.update("arm_many", &Clock::arm_many);
    m.query("state", &Clock::get);
  }
  uint64_t arm_once(Ctx& ctx, uint64_t delay_ms) { return ctx.set_timer(delay_ms, "tick_once"); }
  void arm_once_then_trap(Ctx& ctx, uint64_t delay_ms) {
    ctx.set_timer(delay_ms, "tick_once");
    throw Trap("trap after set_timer");
  }
  void tick_once(Ctx& ctx) { state().once_at.push_back(ctx.time_ms()); }
  void arm_every(Ctx& ctx, uint64_t period_ms) {
    state().interval_id = ctx.set_timer_interval(period_ms, "tick_every");
  }
  void tick_every(Ctx& ctx) { state().every_at.push_back(ctx.time_ms()); }
  void stop_every(Ctx& ctx) { ctx.cancel_timer(state().interval_id); }
  void beat(Ctx&, bool on) { state().beat = on; }
  void heartbeat(Ctx&) {
    if (state().beat) ++state().heartbeats;
  }
  Task<uint64_t> sleep_for(Ctx& ctx, int64_t ms) {
    const uint64_t t0 = ctx.time_ms();
    (void)co_await ctx.sleep(std::chrono::milliseconds(ms));
    co_return ctx.time_ms() - t0;
  }
  Task<void> sleep_negative(Ctx& ctx) { (void)co_await ctx.sleep(-1ms); }
  void arm_many(Ctx& ctx, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i)
      ctx.set_timer(1'000, "tick_once");
  }
  ClockState get(Ctx&) { return state(); }
};

struct Fixture {
  explicit Fixture(Config cfg = test_config(1)) : rt(cfg) {
    clock = rt.install<Clock>(rt.subnet(0));
  }
  ClockState state() {
    auto r = rt.query<ClockState>(clock, "state");
    if (!r) {
      ADD_FAILURE() << "query failed: " << r.error().to_string();
      return {};
    }
    return *r;
  }
  void ticks(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i)
      rt.tick();
  }
  Runtime rt;
  CanisterId clock;
};

TEST(R19_Timers, OneShotFiresOnceAtItsVirtualTime) {
  Fixture f;
  ASSERT_TRUE(f.rt.update<uint64_t>(f.clock, "arm_once", uint64_t{1'000}).has_value());
  const uint64_t set_at = f.rt.time_ms();
  f.ticks(30);
  auto s = f.state();
  ASSERT_EQ(s.once_at.size(), 1u);
  EXPECT_GE(s.once_at[0], set_at + 1'000);
  EXPECT_LT(s.once_at[0], set_at + 1'000 + f.rt.config().round_duration_ms);
}

TEST(R19_Timers, PeriodicFiresEveryPeriodUntilCancelled) {
  Fixture f;
  ASSERT_TRUE(f.rt.update<void>(f.clock, "arm_every", uint64_t{300}).has_value());
  f.ticks(31);  // ~3 s of virtual time
  auto s = f.state();
  ASSERT_GE(s.every_at.size(), 9u);
  ASSERT_LE(s.every_at.size(), 11u);
  for (size_t i = 1; i < s.every_at.size(); ++i)
    EXPECT_EQ(s.every_at[i] - s.every_at[i - 1], 300u);
  ASSERT_TRUE(f.rt.update<void>(f.clock, "stop_every").has_value());
  const size_t fired = f.state().every_at.size();
  f.ticks(30);
  EXPECT_EQ(f.state().every_at.size(), fired) << "a cancelled interval timer keeps firing";
}

TEST(R19_Timers, HeartbeatRunsEveryRound) {
  Fixture f;
  ASSERT_TRUE(f.rt.update<void>(f.clock, "beat", true).has_value());
  const uint64_t before = f.state().heartbeats;
  f.ticks(20);
  EXPECT_EQ(f.state().heartbeats - before, 20u);
}

TEST(R19_Timers, ATimerSetByATrappedExecutionIsRolledBack) {
  Fixture f;
  auto r = f.rt.update<void>(f.clock, "arm_once_then_trap", uint64_t{200});
  ASSERT_FALSE(r.has_value());
  f.ticks(20);
  EXPECT_TRUE(f.state().once_at.empty()) << "R7: the trap undid set_timer";
}

TEST(R19_Timers, CancelledOnUpgradeAndUninstall) {
  Fixture f;
  ASSERT_TRUE(f.rt.update<uint64_t>(f.clock, "arm_once", uint64_t{1'000}).has_value());
  ASSERT_TRUE(f.rt.update<void>(f.clock, "arm_every", uint64_t{200}).has_value());
  ASSERT_TRUE(f.rt.upgrade<Clock>(f.clock).has_value());
  f.ticks(20);
  auto s = f.state();
  EXPECT_TRUE(s.once_at.empty());
  EXPECT_TRUE(s.every_at.empty());

  ASSERT_TRUE(f.rt.update<void>(f.clock, "arm_every", uint64_t{200}).has_value());
  ASSERT_TRUE(f.rt.uninstall(f.clock).has_value());
  ASSERT_TRUE(f.rt.upgrade<Clock>(f.clock).has_value());  // install the code again
  f.ticks(20);
  EXPECT_TRUE(f.state().every_at.empty()) << "a timer survived uninstall";
}

TEST(R19_Timers, DoNotFireWhileStoppedAndFireOnceStartedAgain) {
  Fixture f;
  ASSERT_TRUE(f.rt.update<uint64_t>(f.clock, "arm_once", uint64_t{500}).has_value());
  ASSERT_TRUE(f.rt.stop(f.clock).has_value());
  f.ticks(20);  // the timer falls due while the canister is stopped
  const uint64_t started_at = f.rt.time_ms();
  ASSERT_TRUE(f.rt.start(f.clock).has_value());
  f.ticks(2);
  auto s = f.state();
  ASSERT_EQ(s.once_at.size(), 1u) << "the timer fires once, after the restart";
  EXPECT_GT(s.once_at[0], started_at) << "it fired while the canister was stopped";
}

TEST(R19_Timers, LimitPerCanisterIsAClearTrap) {
  Config cfg = test_config(1);
  cfg.timers_max_per_canister = 3;
  Fixture f(cfg);
  ASSERT_TRUE(f.rt.update<void>(f.clock, "arm_many", uint64_t{3}).has_value());
  auto r = f.rt.update<void>(f.clock, "arm_many", uint64_t{1});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("timer limit of 3"), std::string::npos) << r.error().message;
}

TEST(R19_Sleep, ResumesAtTheFirstRoundAtOrAfterTheDeadline) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.clock, "sleep_for", int64_t{250});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_GE(*r, 250u);
  EXPECT_LT(*r, 250u + f.rt.config().round_duration_ms);
  auto zero = f.rt.update<uint64_t>(f.clock, "sleep_for", int64_t{0});
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(*zero, f.rt.config().round_duration_ms) << "sleep(0) resumes at the next round";
  auto neg = f.rt.update<void>(f.clock, "sleep_negative");
  ASSERT_FALSE(neg.has_value());
  EXPECT_NE(neg.error().message.find("sleep needs a duration >= 0, got -1 ms"), std::string::npos);
}

// ---- R19: a timer that lost a with_timeout is released at once ----

struct QuickState {
  CanisterId peer;
  template <class A>
  void serialize(A& ar) {
    ar(peer);
  }
};

struct Quick : Canister<QuickState> {
  static void methods(Methods<Quick>& m) {
    m.update("set_peer", &Quick::set_peer);
    m.update("quick", &Quick::quick);
    m.update("quick_no_reply", &Quick::quick_no_reply);
  }
  void set_peer(Ctx&, CanisterId p) { state().peer = p; }
  // The call answers after 1 s; the timer would fire after 5 minutes.
  Task<uint64_t> quick(Ctx& ctx) {
    auto r = co_await with_timeout(
        ctx, 5min, ctx.call<uint64_t>(state().peer, "act", Behavior{Kind::reply, 1'000, 9}));
    co_return r ? *r : 0;
  }
  // Same, but the method never replies: the caller's "did not reply" (R6) comes once nothing is
  // outstanding — right after the call, since the losing timer is released at once.
  Task<NoReply> quick_no_reply(Ctx& ctx) {
    (void)co_await with_timeout(
        ctx, 5min, ctx.call<uint64_t>(state().peer, "act", Behavior{Kind::reply, 1'000, 9}));
    co_return NoReply{};
  }
};

struct QuickFixture {
  QuickFixture() : rt(test_config(1)) {
    peer = rt.install<Peer>(rt.subnet(0));
    quick = rt.install<Quick>(rt.subnet(0));
    EXPECT_TRUE(rt.update<void>(quick, "set_peer", peer).has_value());
  }
  // Ticks until answered (bounded by 60 s of virtual time); the virtual time it took.
  uint64_t answer_time(IngressId id) {
    const uint64_t t0 = rt.time_ms();
    for (int i = 0; i < 600 && !rt.ingress_result(id); ++i)
      rt.tick();
    return rt.time_ms() - t0;
  }
  Runtime rt;
  CanisterId peer;
  CanisterId quick;
};

TEST(R19_TimerRelease, WithTimeoutThatSucceedsClosesItsCallContextAtOnce) {
  QuickFixture f;
  IngressId id = f.rt.submit(f.quick, "quick", encode());
  const uint64_t took = f.answer_time(id);
  auto r = f.rt.ingress_result(id);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(decode<uint64_t>(**r), 9u);
  EXPECT_LT(took, 2'000u) << "the reply comes right after the call's";
  // Nothing is left: the losing 5-minute timer was released when with_timeout settled.
  EXPECT_EQ(f.rt.info(f.quick)->open_call_contexts, 0u);
  EXPECT_EQ(f.rt.info(f.quick)->outstanding_calls, 0u);
  const uint64_t t_answer = f.rt.time_ms();
  f.rt.run_until_idle(20);
  EXPECT_TRUE(f.rt.idle()) << "idle without advancing virtual time to the deadline";
  EXPECT_LT(f.rt.time_ms() - t_answer, 2'000u);
}

TEST(R19_TimerRelease, DidNotReplyComesRightAfterTheCallNotAfterTheDeadline) {
  QuickFixture f;
  IngressId id = f.rt.submit(f.quick, "quick_no_reply", encode());
  const uint64_t took = f.answer_time(id);
  auto r = f.rt.ingress_result(id);
  ASSERT_TRUE(r.has_value()) << "R6: no reply and nothing outstanding -> rejected";
  ASSERT_FALSE(r->has_value());
  EXPECT_EQ(r->error().code, RejectCode::canister_error);
  EXPECT_NE(r->error().message.find("did not reply"), std::string::npos) << r->error().message;
  EXPECT_LT(took, 2'000u) << "not after the 5-minute timer";
  EXPECT_EQ(f.rt.info(f.quick)->open_call_contexts, 0u);
}

}  // namespace
