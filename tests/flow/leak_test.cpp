// R18 no leaks: every coroutine frame is destroyed exactly once — losers of races, timed-out
// arms, cancelled scope arms, frames of a method that trapped, of a canister upgraded or
// uninstalled while suspended. Frames are counted three ways: test coroutines hold a Counted, the
// flow layer counts its drivers (flow_frame_counters), and every Task frame of the system is
// counted by task_frame_counters() (peers, roots, retries, losers: all of them). Run this under
// ASan to also catch double frees.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

#include "flow/flow_support.hpp"

using namespace canopy;
using namespace flow_test;
using namespace std::chrono_literals;

namespace {

struct HolderState {
  std::vector<CanisterId> peers;
  template <class A>
  void serialize(A& ar) {
    ar(peers);
  }
};

// Methods that leave losers behind in every possible way.
struct Holder : Canister<HolderState> {
  static void methods(Methods<Holder>& m) {
    m.update("set_peers", &Holder::set_peers);
    m.update("race_silent", &Holder::race_silent);
    m.update("timeout_silent", &Holder::timeout_silent);
    m.update("nested", &Holder::nested);
    m.update("suspended_forever", &Holder::suspended_forever);
    m.update("trap_midway", &Holder::trap_midway);
  }
  void set_peers(Ctx&, std::vector<CanisterId> p) { state().peers = std::move(p); }

  Task<Result<uint64_t>> ask(Ctx& ctx, Kind kind, uint64_t latency, uint64_t value, uint32_t peer) {
    Counted counted;
    co_return co_await ctx.call<uint64_t>(state().peers[peer % state().peers.size()], "act",
                                          Behavior{kind, latency, value});
  }
  Task<Result<uint64_t>> two_steps(Ctx& ctx) {
    Counted counted;
    auto a = co_await ask(ctx, Kind::reply, 300, 1, 0);
    auto b = co_await ask(ctx, Kind::silent, 0, 0, 1);  // never comes back
    co_return b;
  }

  // A race won by the fast arm; three losers suspended on silent calls, one two levels deep.
  Task<uint64_t> race_silent(Ctx& ctx) {
    Counted counted;
    auto r = co_await race(ask(ctx, Kind::silent, 0, 0, 0), ask(ctx, Kind::reply, 500, 7, 1),
                           ask(ctx, Kind::silent, 0, 0, 1), two_steps(ctx));
    co_return r ? r->value : 0;
  }
  // The timer wins; the arm (a Task on a silent call) is destroyed.
  Task<bool> timeout_silent(Ctx& ctx) {
    Counted counted;
    auto r = co_await with_timeout(ctx, 800ms, ask(ctx, Kind::silent, 0, 0, 1));
    co_return !r.has_value();
  }
  // Combinators as arms of combinators, a Stream wait and a Scope inside.
  Task<uint64_t> nested(Ctx& ctx) {
    Counted counted;
    Stream<uint64_t> s(4);
    Scope scope;
    scope.spawn(ask(ctx, Kind::silent, 0, 0, 0));
    auto inner = when_any(ask(ctx, Kind::reject, 200, 0, 1), ask(ctx, Kind::silent, 0, 0, 0));
    auto r = co_await with_timeout(ctx, 1'500ms, when_all(std::move(inner), s.size_at_least(1)));
    scope.cancel();
    co_await scope.join();
    co_return r ? 1 : 0;
  }
  // Never finishes: stays suspended until the canister is upgraded or uninstalled.
  Task<uint64_t> suspended_forever(Ctx& ctx) {
    Counted counted;
    Scope scope;
    scope.spawn(ask(ctx, Kind::silent, 0, 0, 1));
    auto r = co_await when_all(ask(ctx, Kind::silent, 0, 0, 0), ask(ctx, Kind::reply, 100, 1, 1));
    co_await scope.join();
    co_return r ? 1 : 0;
  }
  // The combinator is suspended when a later execution traps (the fast arm's continuation).
  Task<uint64_t> trap_midway(Ctx& ctx) {
    Counted counted;
    auto boom = [](Ctx& c, Holder& self) -> Task<Result<uint64_t>> {
      Counted inner;
      (void)co_await self.ask(c, Kind::reply, 100, 1, 0);
      throw Trap("boom");
    };
    auto r = co_await when_all(boom(ctx, *this), ask(ctx, Kind::silent, 0, 0, 1));
    co_return r ? 1 : 0;
  }
};

struct Fixture {
  Fixture() : rt(test_config(2)) {
    peers = {rt.install<Peer>(rt.subnet(0)), rt.install<Peer>(rt.subnet(1))};
    holder = rt.install<Holder>(rt.subnet(0), {}, 1'000);
    EXPECT_TRUE(rt.update<void>(holder, "set_peers", peers).has_value());
  }
  Runtime rt;
  std::vector<CanisterId> peers;
  CanisterId holder;
};

class R18_NoLeaks : public ::testing::Test {
 protected:
  void SetUp() override {
    frames_ = frames().live();
    peer_frames_ = peer_frames().live();
    drivers_ = flow_frame_counters().live();
    tasks_ = task_frame_counters().live();
  }
  // Every scenario's runtime is gone by now: every Task frame it created must be gone too.
  void TearDown() override {
    EXPECT_EQ(frames().live(), frames_) << "caller-side frames leaked or were freed twice";
    EXPECT_EQ(peer_frames().live(), peer_frames_) << "peer frames leaked";
    EXPECT_EQ(flow_frame_counters().live(), drivers_) << "flow driver frames leaked";
    EXPECT_EQ(task_frame_counters().live(), tasks_)
        << "Task frames leaked (or freed twice): created " << task_frame_counters().created
        << ", destroyed " << task_frame_counters().destroyed;
  }
  int64_t frames_ = 0, peer_frames_ = 0, drivers_ = 0, tasks_ = 0;
};

TEST_F(R18_NoLeaks, RaceLosersAreDestroyedBeforeTheAwaiterResumes) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.holder, "race_silent");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 7u);
  // Right after the answer, not a single caller-side frame is alive: the losers went with the
  // race, the root with its reply. (Silent peers still hold theirs.)
  EXPECT_EQ(frames().live(), frames_);
  EXPECT_EQ(flow_frame_counters().live(), drivers_);
  EXPECT_EQ(f.rt.info(f.holder)->outstanding_calls, 3u) << "abandoned, accounted for (R1)";
  // Task frames alive now: only the three silent peers' roots (each suspended on its Stream).
  EXPECT_EQ(task_frame_counters().live(), tasks_ + 3);
}

TEST_F(R18_NoLeaks, TimedOutArmsAreDestroyed) {
  Fixture f;
  auto r = f.rt.update<bool>(f.holder, "timeout_silent");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(*r);
  EXPECT_EQ(frames().live(), frames_);
  EXPECT_EQ(flow_frame_counters().live(), drivers_);
  EXPECT_EQ(task_frame_counters().live(), tasks_ + 1) << "only the silent peer's root";
}

TEST_F(R18_NoLeaks, NestedCombinatorsStreamsAndScopes) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.holder, "nested");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 0u) << "the stream never got an element: the timer won";
  EXPECT_EQ(frames().live(), frames_);
  EXPECT_EQ(flow_frame_counters().live(), drivers_);
}

TEST_F(R18_NoLeaks, SuspendedFramesGoWithAnUpgrade) {
  Fixture f;
  IngressId id = f.rt.submit(f.holder, "suspended_forever", encode());
  for (int i = 0; i < 30; ++i)
    f.rt.tick();
  EXPECT_GT(frames().live(), frames_);
  EXPECT_GT(flow_frame_counters().live(), drivers_);
  ASSERT_TRUE(f.rt.upgrade<Holder>(f.holder).has_value());
  EXPECT_EQ(frames().live(), frames_);
  EXPECT_EQ(flow_frame_counters().live(), drivers_);
  for (int i = 0; i < 10; ++i)
    f.rt.tick();
  auto res = f.rt.ingress_result(id);
  ASSERT_TRUE(res.has_value());
  EXPECT_FALSE(res->has_value()) << "R21: the caller is told the callback was lost";
}

TEST_F(R18_NoLeaks, SuspendedFramesGoWithAnUninstall) {
  Fixture f;
  f.rt.submit(f.holder, "suspended_forever", encode());
  for (int i = 0; i < 30; ++i)
    f.rt.tick();
  EXPECT_GT(frames().live(), frames_);
  ASSERT_TRUE(f.rt.uninstall(f.holder).has_value());
  EXPECT_EQ(frames().live(), frames_);
  EXPECT_EQ(flow_frame_counters().live(), drivers_);
}

TEST_F(R18_NoLeaks, ATrapInALaterExecutionDestroysTheWholeTree) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.holder, "trap_midway");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("boom"), std::string::npos);
  EXPECT_EQ(frames().live(), frames_);
  EXPECT_EQ(flow_frame_counters().live(), drivers_);
}

TEST_F(R18_NoLeaks, EverythingGoesWithTheRuntime) {
  {
    Fixture f;
    f.rt.submit(f.holder, "suspended_forever", encode());
    f.rt.submit(f.holder, "race_silent", encode());
    for (int i = 0; i < 40; ++i)
      f.rt.tick();
  }
}

}  // namespace
