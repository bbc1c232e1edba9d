// Rule R7: traps are atomic. An exception escaping a method or a callback rolls back that
// message execution's state changes, the calls it made and the cycles it moved; the caller sees
// CANISTER_ERROR with the trap message; the canister keeps working.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/invariants.hpp"

using namespace canopy;
using canopy_test::contains;
using canopy_test::describe;
using canopy_test::Harness;
using canopy_test::Outcome;
using canopy_test::outcome_of;

namespace {

struct Log : Canister<std::vector<uint64_t>> {
  static void methods(Methods<Log>& m) {
    m.update("record", &Log::record);
    m.update("record_and_trap", &Log::record_and_trap);
    m.query("log", &Log::log);
  }
  void record(Ctx&, uint64_t v) { state().push_back(v); }
  void record_and_trap(Ctx&, uint64_t v) {
    state().push_back(v);
    throw Trap("record_and_trap " + std::to_string(v));
  }
  std::vector<uint64_t> log(Ctx&) { return state(); }
};

struct WorkerState {
  CanisterId log;
  uint64_t x = 0;
  std::vector<uint64_t> steps;
  template <class A>
  void serialize(A& ar) {
    ar(log, x, steps);
  }
};

struct Worker : Canister<WorkerState> {
  static void methods(Methods<Worker>& m) {
    m.update("set", &Worker::set);
    m.update("trap_now", &Worker::trap_now);
    m.update("trap_std", &Worker::trap_std);
    m.update("trap_unknown", &Worker::trap_unknown);
    m.update("call_then_trap", &Worker::call_then_trap);
    m.update("many_calls", &Worker::many_calls);
    m.update("many_calls_then_trap", &Worker::many_calls_then_trap);
    m.update("reply_then_trap", &Worker::reply_then_trap);
    m.update("trap_in_callback", &Worker::trap_in_callback);
    m.update("reply_then_trap_in_callback", &Worker::reply_then_trap_in_callback);
    m.update("trap_with_parallel_outstanding", &Worker::trap_with_parallel_outstanding);
    m.update("call_trapping", &Worker::call_trapping);
    m.update("inc", &Worker::inc);
    m.query("get", &Worker::get);
  }
  void set(Ctx&, CanisterId log) { state().log = log; }
  uint64_t inc(Ctx&) { return ++state().x; }
  WorkerState get(Ctx&) { return state(); }

  void trap_now(Ctx&) {
    state().x += 100;
    state().steps.push_back(1);
    throw Trap("trap_now: deliberate");
  }
  void trap_std(Ctx&) {
    state().x += 100;
    throw std::runtime_error("a std::runtime_error");
  }
  void trap_unknown(Ctx&) {
    state().x += 100;
    throw 42;
  }
  // Makes calls (one with cycles), then traps in the same execution: none of them happened.
  void call_then_trap(Ctx& ctx) {
    state().x += 100;
    auto a = ctx.call<void>(state().log, "record", uint64_t{1});
    auto b = ctx.call_with<void>(CallOptions{.cycles = 500}, state().log, "record", uint64_t{2});
    (void)a;
    (void)b;
    throw Trap("call_then_trap: deliberate");
  }
  // Six calls to two peers (one on each subnet), some with cycles: more than the execution's
  // bookkeeping holds inline, so its lists spill to the heap before the trap unwinds them.
  void many_calls(Ctx& ctx, CanisterId remote) {
    state().x += 1;
    for (uint64_t i = 1; i <= 3; ++i) {
      (void)ctx.call_with<void>(CallOptions{.cycles = 100}, state().log, "record", i);
      (void)ctx.call<void>(remote, "record", i + 3);
    }
  }
  void many_calls_then_trap(Ctx& ctx, CanisterId remote) {
    many_calls(ctx, remote);
    throw Trap("many_calls_then_trap: deliberate");
  }
  // Replies, then traps in the same execution: the reply is rolled back too.
  uint64_t reply_then_trap(Ctx& ctx) {
    ctx.reply(uint64_t{1});
    throw Trap("reply_then_trap: deliberate");
  }
  // First execution: x = 1 and record(10) sent (committed). Callback: x = 2, record(11) sent,
  // then trap: only the callback is rolled back.
  Task<void> trap_in_callback(Ctx& ctx) {
    state().x = 1;
    state().steps.push_back(10);
    auto r = co_await ctx.call<void>(state().log, "record", uint64_t{10});
    if (!r) throw Trap("unexpected");
    state().x = 2;
    state().steps.push_back(11);
    auto dropped =
        ctx.call_with<void>(CallOptions{.cycles = 300}, state().log, "record", uint64_t{11});
    (void)dropped;
    throw Trap("trap_in_callback: deliberate");
  }
  // Replies in the first execution; the callback traps later: the caller keeps the reply.
  Task<NoReply> reply_then_trap_in_callback(Ctx& ctx) {
    ctx.reply(uint64_t{77});
    state().x = 5;
    auto r = co_await ctx.call<void>(state().log, "record", uint64_t{20});
    state().x = 6;
    (void)r;
    throw Trap("after reply: deliberate");
  }
  // Three parallel calls; the callback of the first traps while two are still outstanding:
  // their responses still arrive (R1) and are discarded.
  Task<void> trap_with_parallel_outstanding(Ctx& ctx, CanisterId remote) {
    auto fast = ctx.call<void>(state().log, "record", uint64_t{30});
    auto slow1 = ctx.call<void>(remote, "record", uint64_t{31});
    auto slow2 = ctx.call<void>(remote, "record", uint64_t{32});
    auto r = co_await std::move(fast);
    (void)r;
    state().x = 99;
    throw Trap("trap with calls outstanding");  // slow1, slow2 are abandoned with the frame
  }
  // The callee traps: we see CANISTER_ERROR with its message.
  Task<Outcome> call_trapping(Ctx& ctx, uint64_t v) {
    auto r = co_await ctx.call<void>(state().log, "record_and_trap", v);
    co_return outcome_of(r);
  }
};

// A Unit-state canister that keeps its data in a member and snapshots it itself (overriding
// save_state/restore_state): the runtime skips snapshots only for an empty state with the
// default functions (CanisterBase::stateless), so this one still rolls back.
struct OwnSnapshots : Canister<Unit> {
  static void methods(Methods<OwnSnapshots>& m) {
    m.update("add_and_trap", &OwnSnapshots::add_and_trap);
    m.update("add", &OwnSnapshots::add);
    m.query("total", &OwnSnapshots::total);
  }
  void save_state() override { saved = value; }
  void restore_state() override { value = saved; }
  uint64_t add(Ctx&, uint64_t v) { return value += v; }
  void add_and_trap(Ctx&, uint64_t v) {
    value += v;
    throw Trap("add_and_trap");
  }
  uint64_t total(Ctx&) { return value; }
  uint64_t value = 0;
  uint64_t saved = 0;
};

struct Stateless : Canister<Unit> {
  static void methods(Methods<Stateless>& m) {
    m.update("echo", &Stateless::echo);
    m.update("trap", &Stateless::trap);
  }
  uint64_t echo(Ctx&, uint64_t v) { return v; }
  uint64_t trap(Ctx&, uint64_t) { throw Trap("stateless trap"); }
};

struct Fixture {
  Harness h;
  CanisterId log;
  CanisterId remote_log;
  CanisterId worker;
  explicit Fixture(uint64_t worker_cycles = 0) : h(cfg()) {
    log = h.install<Log>(0);
    remote_log = h.install<Log>(1);
    worker = h.install<Worker>(0, {}, worker_cycles);
    EXPECT_TRUE(h.update<void>(worker, "set", log));
  }
  static Config cfg() {
    Config c;
    c.subnets = 2;
    return c;
  }
  WorkerState state() { return h.rt().query<WorkerState>(worker, "get").value(); }
  std::vector<uint64_t> logged(CanisterId id) {
    return h.rt().query<std::vector<uint64_t>>(id, "log").value();
  }
};

}  // namespace

TEST(R7_Traps, TrapInMethodRollsBackStateAndReportsCanisterErrorWithMessage) {
  Fixture f;
  auto r = f.h.update<void>(f.worker, "trap_now");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "trap_now: deliberate")) << r.error().message;
  auto s = f.state();
  EXPECT_EQ(s.x, 0u);
  EXPECT_TRUE(s.steps.empty());
  EXPECT_EQ(f.h.rt().info(f.worker)->traps, 1u);
  // The canister keeps working.
  EXPECT_EQ(f.h.update<uint64_t>(f.worker, "inc").value(), 1u);
  f.h.settle();
}

TEST(R7_Traps, AnyExceptionIsATrapWithItsMessage) {
  Fixture f;
  auto r = f.h.update<void>(f.worker, "trap_std");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "a std::runtime_error")) << r.error().message;
  auto u = f.h.update<void>(f.worker, "trap_unknown");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, RejectCode::canister_error);
  EXPECT_EQ(f.state().x, 0u);
  f.h.settle();
}

TEST(R7_Traps, TrapRollsBackTheCallsAndCyclesOfThatExecution) {
  Fixture f(10'000);
  const auto before = f.h.rt().stats();
  auto r = f.h.update<void>(f.worker, "call_then_trap");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "call_then_trap: deliberate")) << r.error().message;
  f.h.settle();
  EXPECT_TRUE(f.logged(f.log).empty()) << "a rolled-back call must never reach the callee";
  EXPECT_EQ(f.h.rt().stats().calls_accepted, before.calls_accepted);
  EXPECT_EQ(f.h.balance(f.worker), 10'000u) << "the attached cycles are back";
  EXPECT_EQ(f.state().x, 0u);
  EXPECT_EQ(f.h.rt().info(f.worker)->outstanding_calls, 0u);
}

TEST(R7_Traps, TrapRollsBackEveryCallOfAnExecutionThatMadeMany) {
  Fixture f(10'000);
  const auto before = f.h.rt().stats();
  auto r = f.h.update<void>(f.worker, "many_calls_then_trap", f.remote_log);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "many_calls_then_trap: deliberate"))
      << r.error().message;
  f.h.settle();
  EXPECT_TRUE(f.logged(f.log).empty()) << "a rolled-back call must never reach the callee";
  EXPECT_TRUE(f.logged(f.remote_log).empty()) << "nor one to another subnet";
  EXPECT_EQ(f.h.rt().stats().calls_accepted, before.calls_accepted);
  EXPECT_EQ(f.h.balance(f.worker), 10'000u) << "the attached cycles are back";
  EXPECT_EQ(f.state().x, 0u);
  EXPECT_EQ(f.h.rt().info(f.worker)->outstanding_calls, 0u);
  // The same execution without the trap: all six calls go out (so the checks above can fail).
  ASSERT_TRUE(f.h.update<void>(f.worker, "many_calls", f.remote_log));
  f.h.settle();
  EXPECT_EQ(f.logged(f.log), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(f.logged(f.remote_log), (std::vector<uint64_t>{4, 5, 6}));
  EXPECT_EQ(f.h.rt().stats().calls_accepted, before.calls_accepted + 6);  // inter-canister only
  EXPECT_EQ(f.state().x, 1u);
}

TEST(R7_Traps, TrapRollsBackAReplyMadeInTheSameExecution) {
  Fixture f;
  auto r = f.h.update<uint64_t>(f.worker, "reply_then_trap");
  ASSERT_FALSE(r) << "the caller got the reply of a trapped execution";
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "reply_then_trap: deliberate")) << r.error().message;
  f.h.settle();
}

TEST(R7_Traps, TrapInCallbackRollsBackOnlyTheCallbackExecution) {
  Fixture f(10'000);
  auto r = f.h.update<void>(f.worker, "trap_in_callback");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "trap_in_callback: deliberate")) << r.error().message;
  f.h.settle();
  auto s = f.state();
  EXPECT_EQ(s.x, 1u) << "the first execution committed, the callback was rolled back";
  EXPECT_EQ(s.steps, (std::vector<uint64_t>{10}));
  EXPECT_EQ(f.logged(f.log), (std::vector<uint64_t>{10}))
      << "the call made in the trapped callback was rolled back";
  EXPECT_EQ(f.h.balance(f.worker), 10'000u);
}

TEST(R7_Traps, TrapInCallbackAfterReplyKeepsTheReply) {
  Fixture f;
  auto r = f.h.update<uint64_t>(f.worker, "reply_then_trap_in_callback");
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 77u);
  f.h.settle();
  EXPECT_EQ(f.state().x, 5u);
  EXPECT_EQ(f.logged(f.log), (std::vector<uint64_t>{20}));
  EXPECT_EQ(f.h.rt().info(f.worker)->traps, 1u);
}

TEST(R7_Traps, TrapInCallbackWithCallsStillOutstandingDiscardsTheirResponses) {
  Fixture f;
  const auto before = f.h.rt().stats();
  auto r = f.h.update<void>(f.worker, "trap_with_parallel_outstanding", f.remote_log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "trap with calls outstanding")) << r.error().message;
  f.h.settle();
  EXPECT_EQ(f.logged(f.remote_log), (std::vector<uint64_t>{31, 32}))
      << "calls committed before the trap still happened";
  const auto after = f.h.rt().stats();
  EXPECT_EQ(after.calls_accepted - before.calls_accepted, 3u);
  EXPECT_EQ(after.responses_delivered - before.responses_delivered, 3u);
  EXPECT_EQ(f.state().x, 0u);
}

TEST(R7_Traps, CallerSeesCalleeTrapAsCanisterErrorWithMessage) {
  for (bool remote : {false, true}) {
    SCOPED_TRACE(remote ? "cross subnet" : "same subnet");
    Fixture f;
    if (remote) {
      ASSERT_TRUE(f.h.update<void>(f.worker, "set", f.remote_log));
    }
    auto r = f.h.update<Outcome>(f.worker, "call_trapping", uint64_t{5});
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(r->reject_code(), RejectCode::canister_error);
    EXPECT_TRUE(contains(r->message, "record_and_trap 5")) << r->message;
    EXPECT_TRUE(f.logged(remote ? f.remote_log : f.log).empty());
    f.h.settle();
  }
}

TEST(R7_Traps, EmptyStateSkipsSnapshotsButOverriddenSnapshotsStillRollBack) {
  Harness h{Config{}};
  const CanisterId own = h.install<OwnSnapshots>(0);
  EXPECT_EQ(h.update<uint64_t>(own, "add", uint64_t{5}).value(), 5u);
  auto r = h.update<void>(own, "add_and_trap", uint64_t{7});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_EQ(h.rt().query<uint64_t>(own, "total").value(), 5u) << "restore_state ran (R7)";
  // A plain Unit-state canister (no snapshots taken) traps and keeps working.
  const CanisterId plain = h.install<Stateless>(0);
  auto t = h.update<uint64_t>(plain, "trap", uint64_t{1});
  ASSERT_FALSE(t);
  EXPECT_TRUE(contains(t.error().message, "stateless trap")) << t.error().message;
  EXPECT_EQ(h.update<uint64_t>(plain, "echo", uint64_t{9}).value(), 9u);
  h.settle();
}
