// R18 wake-ups through the canister's ready queue, and "a Scope must be joined".
//
// Ready queue (canopy/detail/hooks.hpp: post_ready): a Stream push wakes its waiters from a
// clean stack, after the pusher's code returned to the runtime; the runtime then checks the root
// of every call context that was woken, not only the executing one. So (1) a Stream shared by
// two call contexts works: context A awaits, context B pushes, and A's caller gets its reply in
// B's execution — the same round; (2) a plain `push(x)` from an arm that the wake-up cancels is
// safe (run under ASan); (3) a trap on either side takes both contexts down (R7).
//
// Scope: dropped with arms still running while its owner goes on (no join) it traps (R7, the
// execution is rolled back); dropped because its owner goes away (a lost race, an exception) it
// cancels its arms silently.
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

struct BoardState {
  uint64_t pushes = 0;
  uint64_t woken_runs = 0;
  std::vector<CanisterId> peers;
  uint64_t late_code_ran = 0;  // statements of cancelled arms after their suspension: must stay 0
  uint64_t touched = 0;        // changed by methods that must be rolled back
  template <class A>
  void serialize(A& ar) {
    ar(pushes, woken_runs, peers, late_code_ran, touched);
  }
};

// A canister whose methods share a Stream across call contexts: `wait` creates it in its root
// frame and publishes its address in a plain member (not state: frames are not state); later
// methods (other call contexts) await it or push to it.
struct Board : Canister<BoardState> {
  static void methods(Methods<Board>& m) {
    m.update("set_peers", &Board::set_peers);
    m.update("wait", &Board::wait);
    m.update("wait_too", &Board::wait_too);
    m.update("wait_then_throw", &Board::wait_then_throw);
    m.update("push", &Board::push);
    m.update("push_from_task", &Board::push_from_task);
    m.update("push_then_trap", &Board::push_then_trap);
    m.update("plain_push_race", &Board::plain_push_race);
    m.update("plain_push_wins", &Board::plain_push_wins);
    m.update("plain_push_scope", &Board::plain_push_scope);
    m.update("scope_dropped", &Board::scope_dropped);
    m.update("scope_dropped_plain", &Board::scope_dropped_plain);
    m.update("scope_lost_exception", &Board::scope_lost_exception);
    m.update("scope_cancelled_dropped", &Board::scope_cancelled_dropped);
    m.update("scope_finished_dropped", &Board::scope_finished_dropped);
    m.update("scope_owner_loses_race", &Board::scope_owner_loses_race);
    m.update("scope_owner_throws", &Board::scope_owner_throws);
    m.query("state", &Board::get);
  }
  void set_peers(Ctx&, std::vector<CanisterId> p) { state().peers = std::move(p); }
  BoardState get(Ctx&) { return state(); }

  Stream<uint64_t>* shared_ = nullptr;

  // ---- one Stream, several call contexts ----
  Task<uint64_t> wait(Ctx&) {
    Counted counted;
    Stream<uint64_t> s(4);
    shared_ = &s;
    auto v = co_await s.at(0);
    shared_ = nullptr;  // `s` goes with this frame
    ++state().woken_runs;
    co_return v ? *v * 10 : 0;
  }
  // A second call context awaiting the first one's Stream. Both are woken by one push, `wait`
  // first (FIFO): it finishes and its Stream goes before this one runs — the outcome of a wait
  // is fixed when it is woken, so this one still gets its element.
  Task<uint64_t> wait_too(Ctx&) {
    Counted counted;
    if (shared_ == nullptr) throw Trap("no stream to wait on");
    auto v = co_await shared_->at(0);
    ++state().woken_runs;
    co_return v ? *v * 100 : 0;
  }
  Task<uint64_t> wait_then_throw(Ctx&) {
    Counted counted;
    Stream<uint64_t> s(4);
    shared_ = &s;
    (void)co_await s.at(0);
    shared_ = nullptr;
    ++state().touched;
    throw Trap("the waiter failed after its wake-up");
  }
  uint64_t push(Ctx&, uint64_t v) {
    if (shared_ == nullptr) throw Trap("nobody waits");
    shared_->push(v);  // plain push from a method body: the waiters run after it returns
    ++state().pushes;
    return state().pushes;
  }
  Task<uint64_t> push_from_task(Ctx& ctx, uint64_t v) {
    Counted counted;
    (void)co_await ctx.sleep(100ms);
    if (shared_ == nullptr) throw Trap("nobody waits");
    co_await shared_->push(v);  // resumes after the waiter (another context) has run
    ++state().pushes;
    co_return state().woken_runs;
  }
  void push_then_trap(Ctx&, uint64_t v) {
    if (shared_ == nullptr) throw Trap("nobody waits");
    shared_->push(v);
    ++state().pushes;
    throw Trap("the pusher trapped");
  }

  // ---- plain push from an arm that the wake-up cancels ----
  // The writer pushes with a plain push() and goes on to its next suspension; the reader, woken
  // from the ready queue, wins the race, which destroys the writer where it is suspended.
  Task<uint64_t> plain_push_race(Ctx& ctx) {
    Counted counted;
    Stream<uint64_t> s(4);
    auto writer = [](Ctx& c, Stream<uint64_t>& out, BoardState& st) -> Task<Result<uint64_t>> {
      Counted inner;
      (void)co_await c.sleep(300ms);
      out.push(7);
      (void)co_await c.sleep(300ms);  // the reader wins meanwhile: destroyed here
      ++st.late_code_ran;
      co_return 0;
    };
    auto reader = [](Stream<uint64_t>& in) -> Task<Result<uint64_t>> {
      Counted inner;
      co_return co_await in.at(0);
    };
    auto r = co_await race(writer(ctx, s, state()), reader(s));
    co_return r ? r->index * 100 + r->value : 999;
  }
  // The writer pushes and finishes at once: it wins, and the reader — woken, its wake-up posted
  // but not run — is destroyed; its wake-up is withdrawn (ASan: no use after free).
  Task<uint64_t> plain_push_wins(Ctx& ctx) {
    Counted counted;
    Stream<uint64_t> s(4);
    auto writer = [](Ctx& c, Stream<uint64_t>& out) -> Task<Result<uint64_t>> {
      Counted inner;
      (void)co_await c.sleep(300ms);
      out.push(7);
      co_return 5;
    };
    auto reader = [](Stream<uint64_t>& in, BoardState& st) -> Task<Result<uint64_t>> {
      Counted inner;
      auto v = co_await in.at(0);
      ++st.late_code_ran;  // cancelled while its wake-up was pending: must never run
      co_return v;
    };
    auto r = co_await race(writer(ctx, s), reader(s, state()));
    co_return r ? r->index * 100 + r->value : 999;
  }
  // Spawned writers push with plain push(); the owner, woken by the second element, cancels the
  // scope while the writers are suspended (one right after its push).
  Task<uint64_t> plain_push_scope(Ctx& ctx) {
    Counted counted;
    Stream<uint64_t> s(8);
    Scope scope;
    auto writer = [](Ctx& c, Stream<uint64_t>& out, uint64_t delay, uint64_t v,
                     BoardState& st) -> Task<void> {
      Counted inner;
      (void)co_await c.sleep(std::chrono::milliseconds(delay));
      out.push(v);
      (void)co_await c.sleep(1s);
      ++st.late_code_ran;
    };
    for (uint64_t i = 0; i < 4; ++i)
      scope.spawn(writer(ctx, s, 200 * (i + 1), i, state()));
    auto n = co_await s.size_at_least(2);
    scope.cancel();
    co_await scope.join();
    co_return n ? *n * 1000 + scope.cancelled() : 999;
  }

  // ---- a Scope must be joined ----
  Task<void> slow(Ctx& ctx) {
    Counted counted;
    (void)co_await ctx.call<uint64_t>(state().peers.at(0), "act", Behavior{Kind::reply, 2000, 1});
    ++state().late_code_ran;
  }
  static Task<void> throws_at_once() {
    Counted counted;
    throw Trap("spawned arm failed at once");
    co_return;
  }
  static Task<void> finishes_at_once() {
    Counted counted;
    co_return;
  }
  // Goes on without join(): the execution traps (R7) and its state change is rolled back.
  Task<uint64_t> scope_dropped(Ctx& ctx) {
    Counted counted;
    ++state().touched;
    {
      Scope scope;
      scope.spawn(slow(ctx));
    }  // no join
    co_return 1;
  }
  // The same from a plain (non-coroutine) method.
  uint64_t scope_dropped_plain(Ctx& ctx) {
    ++state().touched;
    Scope scope;
    scope.spawn(slow(ctx));
    return 1;
  }
  // No arm is running, but one threw and nobody rethrew it: traps with its message.
  Task<uint64_t> scope_lost_exception(Ctx&) {
    Counted counted;
    ++state().touched;
    Scope scope;
    scope.spawn(throws_at_once());
    co_return scope.active();
  }
  // Cancelled explicitly, or every arm finished: nothing is lost, dropping is fine.
  Task<uint64_t> scope_cancelled_dropped(Ctx& ctx) {
    Counted counted;
    ++state().touched;
    Scope scope;
    scope.spawn(slow(ctx));
    scope.cancel();
    co_return scope.cancelled();
  }
  Task<uint64_t> scope_finished_dropped(Ctx&) {
    Counted counted;
    ++state().touched;
    Scope scope;
    scope.spawn(finishes_at_once());
    co_return scope.spawned() * 10 + scope.active();
  }
  // The owner of a Scope loses a race: its frame is destroyed while suspended, the Scope with
  // it — its arm is cancelled silently (the owner is going away, nobody can join).
  Task<Result<uint64_t>> scope_owner(Ctx& ctx) {
    Counted counted;
    Scope scope;
    scope.spawn(slow(ctx));
    (void)co_await ctx.sleep(5s);
    co_await scope.join();
    co_return 1;
  }
  Task<Result<uint64_t>> quick(Ctx& ctx) {
    Counted counted;
    (void)co_await ctx.sleep(200ms);
    co_return 2;
  }
  Task<uint64_t> scope_owner_loses_race(Ctx& ctx) {
    Counted counted;
    ++state().touched;
    auto r = co_await race(scope_owner(ctx), quick(ctx));
    co_return r ? r->index * 100 + r->value : 999;
  }
  // An exception unwinds the owner: the Scope cancels silently; the trap is the exception's.
  Task<uint64_t> scope_owner_throws(Ctx& ctx) {
    Counted counted;
    Scope scope;
    scope.spawn(slow(ctx));
    (void)co_await ctx.sleep(100ms);
    throw Trap("the owner failed");
  }
};

struct Relay : Canister<Unit> {
  static void methods(Methods<Relay>& m) { m.update("relay", &Relay::relay); }
  Task<uint64_t> relay(Ctx& ctx, CanisterId board) {
    auto r = co_await ctx.call<uint64_t>(board, "wait");
    co_return r ? *r : 0;
  }
};

// Two coroutines of one execution that wake each other through two Streams, `n` times each
// (a rally): about 2n wake-ups in one message execution.
struct RallyState {
  uint64_t rallies = 0;  // rolled back when a rally traps
  template <class A>
  void serialize(A& ar) {
    ar(rallies);
  }
};
struct Rally : Canister<RallyState> {
  static void methods(Methods<Rally>& m) {
    m.update("rally", &Rally::rally);
    m.query("state", &Rally::get);
  }
  RallyState get(Ctx&) { return state(); }
  static Task<Result<uint64_t>> side(Stream<uint64_t>& out, Stream<uint64_t>& in, uint64_t n,
                                     bool serves) {
    for (uint64_t i = 0; i < n; ++i) {
      if (serves) out.push(i);
      auto v = co_await in.at(i);
      if (!v) co_return tl::unexpected<Reject>(v.error());
      if (!serves) out.push(i);
    }
    co_return n;
  }
  Task<uint64_t> rally(Ctx&, uint64_t n) {
    ++state().rallies;
    Stream<uint64_t> a(n), b(n);
    auto r = co_await when_all(side(a, b, n, true), side(b, a, n, false));
    if (!r) throw Trap("the rally failed");
    co_return n;
  }
};

struct Fixture {
  Fixture() : rt(test_config(1)) {
    peer = rt.install<Peer>(rt.subnet(0));
    board = rt.install<Board>(rt.subnet(0), {}, 1'000);
    EXPECT_TRUE(rt.update<void>(board, "set_peers", std::vector<CanisterId>{peer}).has_value());
  }
  BoardState state() { return *rt.query<BoardState>(board, "state"); }
  // Ticks until `id` is answered (bounded); the number of ticks it took.
  uint64_t ticks_until(IngressId id, uint64_t max = 200) {
    uint64_t n = 0;
    while (!rt.ingress_result(id) && n < max) {
      rt.tick();
      ++n;
    }
    return n;
  }
  Runtime rt;
  CanisterId peer;
  CanisterId board;
};

class R18_ReadyQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    frames_ = frames().live();
    drivers_ = flow_frame_counters().live();
    tasks_ = task_frame_counters().live();
  }
  void TearDown() override {
    EXPECT_EQ(frames().live(), frames_) << "test coroutine frames leaked or were freed twice";
    EXPECT_EQ(flow_frame_counters().live(), drivers_) << "flow driver frames leaked";
    EXPECT_EQ(task_frame_counters().live(), tasks_) << "Task frames leaked";
  }
  int64_t frames_ = 0, drivers_ = 0, tasks_ = 0;
};
using R18_ScopeMustBeJoined = R18_ReadyQueue;

TEST_F(R18_ReadyQueue, AStreamSharedByTwoCallContextsRepliesToTheWaiterInThePushersRound) {
  Fixture f;
  IngressId a = f.rt.submit(f.board, "wait", encode());
  f.ticks_until(a, 3);
  ASSERT_FALSE(f.rt.ingress_result(a).has_value()) << "the waiter is suspended on the Stream";
  IngressId b = f.rt.submit(f.board, "push", encode(uint64_t{7}));
  const uint64_t ticks = f.ticks_until(b);
  auto ra = f.rt.ingress_result(a);
  ASSERT_TRUE(ra.has_value()) << "A's root finished in B's execution: A's caller must have its "
                                 "reply in that same round (R6), not wait for A's next message";
  ASSERT_TRUE(ra->has_value()) << ra->error().to_string();
  EXPECT_EQ(decode<uint64_t>(**ra), 70u);
  EXPECT_EQ(ticks, 1u);
  auto rb = f.rt.ingress_result(b);
  ASSERT_TRUE(rb.has_value() && rb->has_value());
  EXPECT_EQ(decode<uint64_t>(**rb), 1u);
  EXPECT_EQ(f.state().woken_runs, 1u);
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u) << "both contexts closed";
  EXPECT_TRUE(f.rt.check_quiescent_invariants().empty());
}

TEST_F(R18_ReadyQueue, ACanisterCallerOfTheWaiterGetsItsResponseInThePushersRound) {
  Fixture f;
  CanisterId relay = f.rt.install<Relay>(f.rt.subnet(0));
  IngressId a = f.rt.submit(relay, "relay", encode(f.board));
  f.ticks_until(a, 3);
  ASSERT_FALSE(f.rt.ingress_result(a).has_value());
  IngressId b = f.rt.submit(f.board, "push", encode(uint64_t{4}));
  EXPECT_EQ(f.ticks_until(b), 1u);
  auto ra = f.rt.ingress_result(a);
  ASSERT_TRUE(ra.has_value()) << "the relay's call to wait was answered in the pusher's round";
  ASSERT_TRUE(ra->has_value()) << ra->error().to_string();
  EXPECT_EQ(decode<uint64_t>(**ra), 40u);
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
  EXPECT_EQ(f.rt.info(relay)->open_call_contexts, 0u);
}

TEST_F(R18_ReadyQueue, OnePushWakesSeveralContextsInTheOrderTheyWaited) {
  Fixture f;
  IngressId a1 = f.rt.submit(f.board, "wait", encode());
  f.ticks_until(a1, 2);
  IngressId a2 = f.rt.submit(f.board, "wait_too", encode());
  f.ticks_until(a2, 2);
  ASSERT_FALSE(f.rt.ingress_result(a1).has_value());
  ASSERT_FALSE(f.rt.ingress_result(a2).has_value());
  // Pushed from a Task with co_await push: the pusher resumes after the woken have run.
  IngressId b = f.rt.submit(f.board, "push_from_task", encode(uint64_t{3}));
  f.ticks_until(b);
  auto r1 = f.rt.ingress_result(a1);
  auto r2 = f.rt.ingress_result(a2);
  auto rb = f.rt.ingress_result(b);
  ASSERT_TRUE(r1 && r2 && rb);
  ASSERT_TRUE(r1->has_value() && r2->has_value() && rb->has_value());
  EXPECT_EQ(decode<uint64_t>(**r1), 30u);
  EXPECT_EQ(decode<uint64_t>(**r2), 300u);
  EXPECT_EQ(decode<uint64_t>(**rb), 2u) << "both waiters ran before the pusher resumed";
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
}

TEST_F(R18_ReadyQueue, APusherThatTrapsTakesTheContextItWokeDownWithIt) {
  Fixture f;
  IngressId a = f.rt.submit(f.board, "wait", encode());
  f.ticks_until(a, 3);
  IngressId b = f.rt.submit(f.board, "push_then_trap", encode(uint64_t{7}));
  f.ticks_until(b);
  auto rb = f.rt.ingress_result(b);
  ASSERT_TRUE(rb.has_value());
  ASSERT_FALSE(rb->has_value());
  EXPECT_EQ(rb->error().code, RejectCode::canister_error);
  EXPECT_NE(rb->error().message.find("the pusher trapped"), std::string::npos);
  // R7: A's coroutine was due to run on state the trap rolls back: A traps too, at once.
  auto ra = f.rt.ingress_result(a);
  ASSERT_TRUE(ra.has_value()) << "the woken context must not hang";
  ASSERT_FALSE(ra->has_value());
  EXPECT_EQ(ra->error().code, RejectCode::canister_error);
  EXPECT_NE(ra->error().message.find("the pusher trapped"), std::string::npos);
  EXPECT_NE(ra->error().message.find("woke this call context"), std::string::npos)
      << ra->error().message;
  EXPECT_EQ(f.state().pushes, 0u) << "R7: rolled back";
  EXPECT_EQ(f.state().woken_runs, 0u);
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
}

TEST_F(R18_ReadyQueue, AWokenRootThatThrowsTrapsThePushersExecution) {
  Fixture f;
  IngressId a = f.rt.submit(f.board, "wait_then_throw", encode());
  f.ticks_until(a, 3);
  IngressId b = f.rt.submit(f.board, "push", encode(uint64_t{7}));
  f.ticks_until(b);
  auto ra = f.rt.ingress_result(a);
  auto rb = f.rt.ingress_result(b);
  ASSERT_TRUE(ra && rb);
  ASSERT_FALSE(ra->has_value());
  ASSERT_FALSE(rb->has_value());
  EXPECT_NE(ra->error().message.find("the waiter failed after its wake-up"), std::string::npos)
      << ra->error().message;
  EXPECT_NE(rb->error().message.find("the waiter failed after its wake-up"), std::string::npos)
      << "one execution, one trap: the pusher's changes go too (R7): " << rb->error().message;
  EXPECT_EQ(f.state().pushes, 0u);
  EXPECT_EQ(f.state().touched, 0u);
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
}

TEST_F(R18_ReadyQueue, PlainPushFromAnArmThatTheWakeUpCancels) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.board, "plain_push_race");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 107u) << "the reader (arm 1) won with 7";
  EXPECT_EQ(f.state().late_code_ran, 0u);
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u) << "the writer's timer was released";
}

TEST_F(R18_ReadyQueue, PlainPushFromAnArmThatWinsWithdrawsTheReadersWakeUp) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.board, "plain_push_wins");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 5u) << "the writer (arm 0) finished before the woken reader ran";
  EXPECT_EQ(f.state().late_code_ran, 0u);
}

TEST_F(R18_ReadyQueue, PlainPushFromSpawnedArmsThatTheOwnerCancels) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.board, "plain_push_scope");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, 2u * 1000u + 4u) << "two elements; all four writers were suspended: cancelled";
  EXPECT_EQ(f.state().late_code_ran, 0u);
  f.rt.run_until_idle(100);
  EXPECT_TRUE(f.rt.idle());
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
}

TEST_F(R18_ScopeMustBeJoined, DroppedWithArmsRunningWhileItsOwnerGoesOnTraps) {
  Fixture f;
  for (const char* method : {"scope_dropped", "scope_dropped_plain"}) {
    SCOPED_TRACE(method);
    auto r = f.rt.update<uint64_t>(f.board, method);
    ASSERT_FALSE(r.has_value()) << "a Scope dropped without join() must trap";
    EXPECT_EQ(r.error().code, RejectCode::canister_error);
    EXPECT_NE(r.error().message.find("R18: a Scope was destroyed without join() (1 spawned "
                                     "arm(s) still running)"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(f.state().touched, 0u) << "R7: the execution was rolled back";
    f.rt.run_until_idle(200);
    EXPECT_EQ(f.state().late_code_ran, 0u) << "the arm was cancelled";
    EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
  }
}

TEST_F(R18_ScopeMustBeJoined, DroppedWithAnExceptionNobodyRethrewTraps) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.board, "scope_lost_exception");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("a spawned arm threw: spawned arm failed at once"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(f.state().touched, 0u);
}

TEST_F(R18_ScopeMustBeJoined, DroppedAfterCancelOrWithEveryArmFinishedIsFine) {
  Fixture f;
  auto c = f.rt.update<uint64_t>(f.board, "scope_cancelled_dropped");
  ASSERT_TRUE(c.has_value()) << c.error().to_string();
  EXPECT_EQ(*c, 1u);
  auto d = f.rt.update<uint64_t>(f.board, "scope_finished_dropped");
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(*d, 10u);
  EXPECT_EQ(f.state().touched, 2u);
  f.rt.run_until_idle(200);
  EXPECT_EQ(f.state().late_code_ran, 0u);
}

TEST_F(R18_ScopeMustBeJoined, AnOwnerThatGoesAwayCancelsItsArmsSilently) {
  Fixture f;
  auto r = f.rt.update<uint64_t>(f.board, "scope_owner_loses_race");
  ASSERT_TRUE(r.has_value()) << "a losing owner's Scope cancels silently: "
                             << r.error().to_string();
  EXPECT_EQ(*r, 102u);
  EXPECT_EQ(f.state().touched, 1u);
  auto t = f.rt.update<uint64_t>(f.board, "scope_owner_throws");
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().message.find("the owner failed"), std::string::npos) << t.error().message;
  EXPECT_EQ(t.error().message.find("Scope"), std::string::npos)
      << "the trap is the owner's exception, not the Scope's: " << t.error().message;
  f.rt.run_until_idle(200);
  EXPECT_EQ(f.state().late_code_ran, 0u);
  EXPECT_EQ(f.rt.info(f.board)->open_call_contexts, 0u);
}

// Config::wake_ups_max_per_message (R18): a rally within the limit completes; one that needs
// more wake-ups traps with the documented CANISTER_ERROR (not an assertion, not a hang), its
// state change is rolled back (R7), and the canister goes on serving.
TEST_F(R18_ReadyQueue, RunawayWakeUpsTrapAtTheConfiguredLimit) {
  Config cfg = test_config(1);
  cfg.wake_ups_max_per_message = 100;
  Runtime rt(cfg);
  const CanisterId rally = rt.install<Rally>(rt.subnet(0));
  auto ok = rt.update<uint64_t>(rally, "rally", uint64_t{20});
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ(*ok, 20u);

  auto runaway = rt.update<uint64_t>(rally, "rally", uint64_t{1000});
  ASSERT_FALSE(runaway.has_value()) << "2000 wake-ups must not fit a limit of 100";
  EXPECT_EQ(runaway.error().code, RejectCode::canister_error);
  EXPECT_NE(runaway.error().message.find("more than 100 wake-ups in one message execution "
                                         "(wake_ups_max_per_message, R18)"),
            std::string::npos)
      << runaway.error().message;
  EXPECT_EQ(rt.query<RallyState>(rally, "state")->rallies, 1u) << "R7: the trap rolled back";
  EXPECT_EQ(rt.info(rally)->open_call_contexts, 0u);

  auto again = rt.update<uint64_t>(rally, "rally", uint64_t{30});
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ(rt.query<RallyState>(rally, "state")->rallies, 2u);
}

TEST(Config_Validate, WakeUpsMaxPerMessageMustBePositive) {
  Config cfg;
  cfg.wake_ups_max_per_message = 0;
  const auto error = cfg.validate();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("wake_ups_max_per_message"), std::string::npos) << *error;
}

}  // namespace
