// R18 Stream<T>, Scope (Aqua's co) and for_each_par; R19 retry from a timer.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "flow/flow_support.hpp"

using namespace canopy;
using namespace flow_test;
using namespace std::chrono_literals;

namespace {

struct LabState {
  std::vector<CanisterId> peers;
  uint64_t in_flight = 0;
  uint64_t in_flight_max = 0;
  uint64_t late_code_ran = 0;  // statements run by arms after they were cancelled: must stay 0
  template <class A>
  void serialize(A& ar) {
    ar(peers, in_flight, in_flight_max, late_code_ran);
  }
};

struct StreamReport {
  uint64_t first = 0;
  uint64_t size = 0;
  uint64_t cancelled = 0;
  std::vector<uint64_t> items;
  template <class A>
  void serialize(A& ar) {
    ar(first, size, cancelled, items);
  }
};

struct Lab : Canister<LabState> {
  static void methods(Methods<Lab>& m) {
    m.update("set_peers", &Lab::set_peers);
    m.update("fastest", &Lab::fastest);
    m.update("quorum", &Lab::quorum);
    m.update("closed_early", &Lab::closed_early);
    m.update("past_bound", &Lab::past_bound);
    m.update("push_past_bound", &Lab::push_past_bound);
    m.update("join_all", &Lab::join_all);
    m.update("spawn_throws", &Lab::spawn_throws);
    m.update("capped", &Lab::capped);
    m.update("capped_tasks", &Lab::capped_tasks);
    m.update("capped_throws", &Lab::capped_throws);
    m.update("uncapped", &Lab::uncapped);
    m.update("uncapped_retry", &Lab::uncapped_retry);
    m.update("retry_gives_up", &Lab::retry_gives_up);
    m.update("bad_policy", &Lab::bad_policy);
    m.update("arms_talk", &Lab::arms_talk);
    m.query("late_code_ran", &Lab::late_code_ran);
    m.query("in_flight_max", &Lab::in_flight_max);
  }
  void set_peers(Ctx&, std::vector<CanisterId> p) { state().peers = std::move(p); }
  uint64_t late_code_ran(Ctx&) { return state().late_code_ran; }
  uint64_t in_flight_max(Ctx&) { return state().in_flight_max; }

  CanisterId peer(size_t i) { return state().peers[i % state().peers.size()]; }

  // Asks one peer and writes the answer into `out` (Aqua: on peer: out <- foo()).
  Task<void> ask(Ctx& ctx, CanisterId p, uint64_t latency, uint64_t value, Stream<uint64_t>& out) {
    Counted counted;
    auto r = co_await ctx.call<uint64_t>(p, "act", Behavior{Kind::reply, latency, value});
    if (r) co_await out.push(*r);
  }

  // Aqua: results!0 over four arms — the fastest value; the others are cancelled.
  Task<StreamReport> fastest(Ctx& ctx) {
    Stream<uint64_t> results(4);
    Scope scope;
    const uint64_t latency[4] = {3000, 1000, 4000, 2000};
    for (uint64_t i = 0; i < 4; ++i)
      scope.spawn(ask(ctx, peer(i), latency[i], 100 + i, results));
    auto first = co_await results.at(0);
    scope.cancel();
    co_await scope.join();
    co_return StreamReport{*first, results.size(), scope.cancelled(), results.snapshot()};
  }

  // Aqua: join acks!k — wait for k elements, then stop.
  Task<StreamReport> quorum(Ctx& ctx, uint64_t n, uint64_t k) {
    Stream<uint64_t> acks(n);
    Scope scope;
    for (uint64_t i = 0; i < n; ++i)
      scope.spawn(ask(ctx, peer(i), 500 * (n - i), i, acks));
    auto size = co_await acks.size_at_least(k);
    scope.cancel();
    co_await scope.join();
    co_return StreamReport{0, *size, scope.cancelled(), acks.snapshot()};
  }

  // A producer closes the stream after two elements: a wait for the fifth fails, not hangs.
  Task<std::string> closed_early(Ctx& ctx) {
    Stream<uint64_t> s(10);
    Scope scope;
    scope.spawn([](Ctx& c, Stream<uint64_t>& out) -> Task<void> {
      co_await out.push(1);
      (void)co_await c.sleep_ms(500);
      co_await out.push(2);
      out.close();
    }(ctx, s));
    auto r = co_await s.at(4);
    co_await scope.join();
    co_return r ? std::string("value") : r.error().to_string();
  }
  Task<uint64_t> past_bound(Ctx&) {
    Stream<uint64_t> s(10);
    auto r = co_await s.at(10);  // Trap: can never be satisfied
    co_return r.value_or(0);
  }
  void push_past_bound(Ctx&) {
    Stream<uint64_t> s(2);
    s.push(1);
    s.push(2);
    s.push(3);  // Trap
  }

  // Aqua's co + join: data from every spawned arm is available after the join.
  Task<std::vector<uint64_t>> join_all(Ctx& ctx) {
    Stream<uint64_t> s(3);
    Scope scope;
    for (uint64_t i = 0; i < 3; ++i)
      scope.spawn(ask(ctx, peer(i), 300 * (3 - i), i, s));
    co_await scope.join();
    auto v = s.snapshot();
    std::sort(v.begin(), v.end());
    co_return v;
  }

  Task<void> thrower(Ctx& ctx) {
    Counted counted;
    (void)co_await ctx.sleep_ms(200);
    throw Trap("spawned arm failed");
  }
  Task<void> slow_arm(Ctx& ctx, CanisterId p) {
    Counted counted;
    (void)co_await ctx.call<uint64_t>(p, "act", Behavior{Kind::reply, 5000, 1});
    ++state().late_code_ran;  // cancelled before this: must never run
  }
  Task<void> spawn_throws(Ctx& ctx) {
    Scope scope;
    scope.spawn(slow_arm(ctx, peer(0)));
    scope.spawn(thrower(ctx));
    scope.spawn(slow_arm(ctx, peer(1)));
    co_await scope.join();  // rethrows: the method traps (R7)
  }

  // Seed 000 with a cap: 2000 pings, at most 500 in flight -> all succeed (R2).
  Task<uint64_t> capped(Ctx& ctx, uint64_t n, uint64_t cap) {
    std::vector<uint64_t> items(n);
    auto rs = co_await for_each_par(
        std::move(items),
        [&](const uint64_t&) { return ctx.call<uint64_t>(peer(0), "echo", uint64_t{1}); }, cap);
    co_return static_cast<uint64_t>(
        std::count_if(rs.begin(), rs.end(), [](auto& r) { return r.has_value(); }));
  }
  Task<Result<uint64_t>> tracked(Ctx& ctx, uint64_t i) {
    Counted counted;
    ++state().in_flight;
    state().in_flight_max = std::max(state().in_flight_max, state().in_flight);
    auto r = co_await ctx.call<uint64_t>(peer(i), "act", Behavior{Kind::reply, 100 * (i % 7), i});
    --state().in_flight;
    co_return r;
  }
  Task<uint64_t> capped_tasks(Ctx& ctx, uint64_t n, uint64_t cap) {
    std::vector<uint64_t> items;
    for (uint64_t i = 0; i < n; ++i)
      items.push_back(i);
    auto rs = co_await for_each_par(
        std::move(items), [&](const uint64_t& i) { return tracked(ctx, i); }, cap);
    uint64_t sum = 0;
    for (auto& r : rs)
      sum += r.value_or(1'000'000);
    co_return sum;
  }
  Task<uint64_t> capped_throws(Ctx& ctx) {
    std::vector<uint64_t> items{0, 1, 2, 3, 4, 5, 6, 7};
    auto rs = co_await for_each_par(
        std::move(items),
        [&](const uint64_t& i) {
          if (i == 5) throw Trap("fn failed at item 5");
          return ctx.call<uint64_t>(peer(i), "act", Behavior{Kind::reply, 1000, i});
        },
        2);
    co_return rs.size();
  }

  // Seed 000 without a cap: 2000 at once -> 500 succeed (R2)...
  Task<uint64_t> uncapped(Ctx& ctx, uint64_t n) {
    std::vector<Call<uint64_t>> calls;
    for (uint64_t i = 0; i < n; ++i)
      calls.push_back(ctx.call<uint64_t>(peer(0), "echo", i));
    auto rs = co_await when_all_settled(std::move(calls));
    co_return static_cast<uint64_t>(
        std::count_if(rs.begin(), rs.end(), [](auto& r) { return r.has_value(); }));
  }
  // ...and with retries from a timer, all of them (R19).
  Task<std::vector<uint64_t>> uncapped_retry(Ctx& ctx, uint64_t n) {
    RetryStats stats;
    RetryPolicy policy;
    policy.attempts_max = 12;
    policy.backoff_initial_ms = 100;
    policy.backoff_max_ms = 2'000;
    std::vector<Task<Result<uint64_t>>> tasks;
    for (uint64_t i = 0; i < n; ++i) {
      tasks.push_back(retry(
          ctx, policy, [&ctx, this, i] { return ctx.call<uint64_t>(peer(0), "echo", i); }, &stats));
    }
    auto rs = co_await when_all_settled(std::move(tasks));
    uint64_t ok = static_cast<uint64_t>(
        std::count_if(rs.begin(), rs.end(), [](auto& r) { return r.has_value(); }));
    co_return std::vector<uint64_t>{ok, stats.attempts, stats.retries};
  }
  Task<std::string> retry_gives_up(Ctx& ctx) {
    RetryPolicy policy;
    policy.attempts_max = 3;
    policy.backoff_initial_ms = 50;
    RetryStats stats;
    const uint64_t t0 = ctx.time_ms();
    auto r = co_await retry(
        ctx, policy,
        [&] {
          return ctx.call_with<uint64_t>(CallOptions{.cycles = ctx.balance() + 1}, peer(0), "echo",
                                         uint64_t{1});
        },
        &stats);
    co_return r.error().to_string() + " | attempts=" + std::to_string(stats.attempts) +
        " waited>=" + std::to_string(ctx.time_ms() - t0 >= 150);
  }
  Task<void> bad_policy(Ctx& ctx) {
    RetryPolicy policy;
    policy.backoff_initial_ms = 0;
    (void)co_await retry(ctx, policy,
                         [&] { return ctx.call<uint64_t>(peer(0), "echo", uint64_t{1}); });
  }

  // Two arms of one combinator talk through a Stream: the writer pushes with co_await, so the
  // woken reader may settle the race and cancel the writer safely.
  Task<uint64_t> arms_talk(Ctx& ctx) {
    Stream<uint64_t> s(4);
    auto writer = [](Ctx& c, Stream<uint64_t>& out, LabState& st) -> Task<Result<uint64_t>> {
      Counted counted;
      (void)co_await c.sleep_ms(300);
      co_await out.push(7);
      ++st.late_code_ran;  // the reader won in the meantime: this must not run
      (void)co_await c.sleep_ms(300);
      co_return 0;
    };
    auto reader = [](Stream<uint64_t>& in) -> Task<Result<uint64_t>> {
      Counted counted;
      co_return co_await in.at(0);
    };
    auto r = co_await race(writer(ctx, s, state()), reader(s));
    co_return r ? r->index * 100 + r->value : 999;
  }
};

struct Fixture {
  Fixture() : rt(test_config(2)) {
    peers = {rt.install<Peer>(rt.subnet(0)), rt.install<Peer>(rt.subnet(1))};
    lab = rt.install<Lab>(rt.subnet(0), {}, 1'000);
    EXPECT_TRUE(rt.update<void>(lab, "set_peers", peers).has_value());
  }
  Runtime rt;
  std::vector<CanisterId> peers;
  CanisterId lab;
};

TEST(R18_Stream, AtZeroTakesTheFastestAndTheRestAreCancelled) {
  Fixture f;
  auto r = f.rt.update<StreamReport>(f.lab, "fastest");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->first, 101u);  // latency 1000 beats 2000, 3000, 4000
  EXPECT_EQ(r->size, 1u);
  // The three slower arms, and the winner too: it was suspended in `co_await push` while the
  // join ran (nothing of it runs after that point).
  EXPECT_EQ(r->cancelled, 4u);
  f.rt.run_until_idle(2'000);
  EXPECT_EQ(f.rt.info(f.lab)->open_call_contexts, 0u) << "losers' responses were accounted for";
}

TEST(R18_Stream, SizeAtLeastIsAQuorum) {
  Fixture f;
  auto r = f.rt.update<StreamReport>(f.lab, "quorum", uint64_t{8}, uint64_t{3});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->size, 3u);
  EXPECT_EQ(r->cancelled, 6u);  // 5 pending + the third pusher, suspended in co_await push
  EXPECT_EQ(r->items.size(), 3u);
  // the three fastest (latency 500*(8-i)): i = 7, 6, 5 in that order
  EXPECT_EQ(r->items, (std::vector<uint64_t>{7, 6, 5}));
}

TEST(R18_Stream, ClosedBeforeTheElementFailsInsteadOfHanging) {
  Fixture f;
  auto r = f.rt.update<std::string>(f.lab, "closed_early");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_NE(r->find("stream closed with 2 elements; waited for 5"), std::string::npos) << *r;
}

TEST(R18_Stream, AwaitingPastTheBoundIsAClearTrap) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.lab, "past_bound");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("Stream::at(10) can never be satisfied"), std::string::npos);
  auto p = f.rt.update<void>(f.lab, "push_past_bound");
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message.find("Stream bound of 2 elements exceeded"), std::string::npos);
}

TEST(R18_Scope, JoinWaitsForEverySpawnedArmAndTheirDataIsAvailable) {
  Fixture f;
  auto r = f.rt.update<std::vector<uint64_t>>(f.lab, "join_all");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, (std::vector<uint64_t>{0, 1, 2}));
}

TEST(R18_Scope, AnExceptionCancelsTheOtherArmsAndJoinRethrowsIt) {
  Fixture f;
  const auto before = frames().live();
  auto r = f.rt.update<void>(f.lab, "spawn_throws");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("spawned arm failed"), std::string::npos) << r.error().message;
  f.rt.run_until_idle(2'000);
  EXPECT_EQ(*f.rt.query<uint64_t>(f.lab, "late_code_ran"), 0u);
  EXPECT_EQ(frames().live(), before) << "every spawned frame was destroyed";
  EXPECT_EQ(f.rt.info(f.lab)->open_call_contexts, 0u);
}

TEST(R18_ForEachPar, CappedFanOutMakesAll2000CallsSucceed) {
  Fixture f;
  auto capped = f.rt.update<uint64_t>(f.lab, "capped", uint64_t{2000}, uint64_t{500});
  ASSERT_TRUE(capped.has_value()) << capped.error().to_string();
  EXPECT_EQ(*capped, 2000u);
  auto uncapped = f.rt.update<uint64_t>(f.lab, "uncapped", uint64_t{2000});
  ASSERT_TRUE(uncapped.has_value());
  EXPECT_EQ(*uncapped, 500u) << "seed 000: 2000 at once through a queue of 500 (R2)";
}

TEST(R18_ForEachPar, NeverMoreThanTheCapInFlightAndResultsInItemOrder) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.lab, "capped_tasks", uint64_t{40}, uint64_t{3});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 40u * 39u / 2u);
  EXPECT_EQ(*f.rt.query<uint64_t>(f.lab, "in_flight_max"), 3u);
}

TEST(R18_ForEachPar, AnExceptionFromFnStopsTheFanOut) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.lab, "capped_throws");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("fn failed at item 5"), std::string::npos) << r.error().message;
  f.rt.run_until_idle(2'000);
  EXPECT_EQ(f.rt.info(f.lab)->open_call_contexts, 0u);
}

TEST(R19_Retry, UncappedFanOutWithTimerRetriesEndsAllSucceeded) {
  Fixture f;
  auto r = f.rt.update<std::vector<uint64_t>>(f.lab, "uncapped_retry", uint64_t{2000});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0], 2000u);
  EXPECT_GE((*r)[2], 1500u) << "at least the 1500 that failed at first were retried";
  EXPECT_EQ((*r)[1], 2000u + (*r)[2]);
}

TEST(R19_Retry, GivesUpAfterTheBoundWithTheLastError) {
  Fixture f;
  auto r = f.rt.update<std::string>(f.lab, "retry_gives_up");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_NE(r->find("SYS_TRANSIENT"), std::string::npos) << *r;
  EXPECT_NE(r->find("gave up after 3 attempts"), std::string::npos) << *r;
  EXPECT_NE(r->find("attempts=3 waited>=1"), std::string::npos) << *r;
  auto bad = f.rt.update<void>(f.lab, "bad_policy");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("bad RetryPolicy: backoff_initial_ms must be >= 1"),
            std::string::npos);
}

TEST(R18_Combinators, ArmsTalkingThroughAStreamCancelTheWriterSafely) {
  Fixture f;
  const auto before = frames().live();
  auto r = f.rt.update<uint64_t>(f.lab, "arms_talk");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 107u) << "the reader (arm 1) won with 7";
  EXPECT_EQ(*f.rt.query<uint64_t>(f.lab, "late_code_ran"), 0u);
  EXPECT_EQ(frames().live(), before);
}

}  // namespace
