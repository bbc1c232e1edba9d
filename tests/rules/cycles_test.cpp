// Rule R8: cycles. A call may attach cycles; the callee accepts some; the rest is refunded with
// the response. Balances never go negative; cycles are neither created nor lost (the harness
// checks conservation after every scenario).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>

#include <cstdint>
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

struct SendResult {
  Outcome outcome;
  uint64_t accepted_by_callee = 0;  // the callee's reply, when it replies a number
  uint64_t refunded = 0;
  uint64_t balance_before = 0;
  uint64_t balance_after_issue = 0;
  uint64_t balance_after = 0;
  bool failed_sync = false;
  template <class A>
  void serialize(A& ar) {
    ar(outcome, accepted_by_callee, refunded, balance_before, balance_after_issue, balance_after,
       failed_sync);
  }
};

struct Bank : Canister<uint64_t> {
  static void methods(Methods<Bank>& m) {
    m.update("send", &Bank::send);
    m.update("send_then_trap_in_callback", &Bank::send_then_trap_in_callback);
    m.update("accept", &Bank::accept);
    m.update("accept_then_reject", &Bank::accept_then_reject);
    m.update("accept_then_trap", &Bank::accept_then_trap);
    m.update("accept_nothing_no_reply", &Bank::accept_nothing_no_reply);
    m.update("accept_after_await", &Bank::accept_after_await);
    m.update("ping", &Bank::ping);
    m.query("available_in_query", &Bank::available_in_query);
  }
  // Calls to.method(max) with `attach` cycles.
  Task<SendResult> send(Ctx& ctx, CanisterId to, std::string method, uint64_t attach,
                        uint64_t max) {
    SendResult s;
    s.balance_before = ctx.balance();
    auto c = ctx.call_with<uint64_t>(CallOptions{.cycles = attach}, to, method, max);
    s.failed_sync = c.failed_synchronously();
    s.balance_after_issue = ctx.balance();
    auto r = co_await c;
    s.refunded = c.refunded_cycles();
    s.outcome = outcome_of(r);
    if (r) s.accepted_by_callee = *r;
    s.balance_after = ctx.balance();
    co_return s;
  }
  Task<void> send_then_trap_in_callback(Ctx& ctx, CanisterId to, uint64_t attach, uint64_t max) {
    auto r = co_await ctx.call_with<uint64_t>(CallOptions{.cycles = attach}, to, "accept", max);
    (void)r;
    state() = 1;
    throw Trap("callback traps after the refund arrived");
  }
  uint64_t accept(Ctx& ctx, uint64_t max) { return ctx.accept_cycles(max); }
  NoReply accept_then_reject(Ctx& ctx, uint64_t max) {
    ctx.accept_cycles(max);
    ctx.reject("rejected after accepting");
    return {};
  }
  uint64_t accept_then_trap(Ctx& ctx, uint64_t max) {
    ctx.accept_cycles(max);
    throw Trap("trap after accepting");
  }
  NoReply accept_nothing_no_reply(Ctx&, uint64_t) { return {}; }
  // Accepts in a later execution of the same call context (after its own call came back).
  Task<uint64_t> accept_after_await(Ctx& ctx, uint64_t max) {
    auto r = co_await ctx.call<void>(ctx.self(), "ping");
    if (!r) throw Trap("ping failed");
    co_return ctx.accept_cycles(max);
  }
  void ping(Ctx&) {}
  uint64_t available_in_query(Ctx& ctx) { return ctx.cycles_available(); }
};

struct Fixture {
  Harness h;
  CanisterId a;
  CanisterId b;
  CanisterId remote;
  Fixture() : h(cfg()) {
    a = h.install<Bank>(0, 0, 10'000);
    b = h.install<Bank>(0, 0, 1'000);
    remote = h.install<Bank>(1, 0, 1'000);
  }
  static Config cfg() {
    Config c;
    c.subnets = 2;
    return c;
  }
  SendResult send(CanisterId to, const std::string& method, uint64_t attach, uint64_t max) {
    auto r = h.update<SendResult>(a, "send", to, method, attach, max);
    EXPECT_TRUE(r) << describe(r);
    return r ? *r : SendResult{};
  }
};

}  // namespace

TEST(R8_Cycles, CalleeAcceptsPartTheRestIsRefunded) {
  for (bool cross : {false, true}) {
    SCOPED_TRACE(cross ? "cross subnet" : "same subnet");
    Fixture f;
    const CanisterId to = cross ? f.remote : f.b;
    auto s = f.send(to, "accept", 1'000, 300);
    EXPECT_TRUE(s.outcome.ok()) << s.outcome.message;
    EXPECT_EQ(s.accepted_by_callee, 300u);
    EXPECT_EQ(s.balance_before, 10'000u);
    EXPECT_EQ(s.balance_after_issue, 9'000u) << "attached cycles are deducted when the call is made";
    EXPECT_EQ(s.refunded, 700u);
    EXPECT_EQ(s.balance_after, 9'700u);
    EXPECT_EQ(f.h.balance(f.a), 9'700u);
    EXPECT_EQ(f.h.balance(to), 1'300u);
    f.h.settle();
  }
}

TEST(R8_Cycles, AcceptingMoreThanAttachedTakesOnlyWhatIsThere) {
  Fixture f;
  auto s = f.send(f.b, "accept", 400, 1'000'000);
  EXPECT_EQ(s.accepted_by_callee, 400u);
  EXPECT_EQ(s.refunded, 0u);
  EXPECT_EQ(f.h.balance(f.a), 9'600u);
  EXPECT_EQ(f.h.balance(f.b), 1'400u);
  f.h.settle();
}

TEST(R8_Cycles, RejectKeepsWhatWasAcceptedAndRefundsTheRest) {
  Fixture f;
  auto s = f.send(f.b, "accept_then_reject", 1'000, 200);
  EXPECT_EQ(s.outcome.reject_code(), RejectCode::canister_reject);
  EXPECT_EQ(s.refunded, 800u);
  EXPECT_EQ(f.h.balance(f.a), 9'800u);
  EXPECT_EQ(f.h.balance(f.b), 1'200u);
  f.h.settle();
}

TEST(R8_Cycles, CalleeTrapRollsBackItsAcceptAndRefundsEverything) {
  for (bool cross : {false, true}) {
    SCOPED_TRACE(cross ? "cross subnet" : "same subnet");
    Fixture f;
    const CanisterId to = cross ? f.remote : f.b;
    auto s = f.send(to, "accept_then_trap", 1'000, 600);
    EXPECT_EQ(s.outcome.reject_code(), RejectCode::canister_error);
    EXPECT_EQ(s.refunded, 1'000u);
    EXPECT_EQ(f.h.balance(f.a), 10'000u);
    EXPECT_EQ(f.h.balance(to), 1'000u);
    f.h.settle();
  }
}

TEST(R8_Cycles, DidNotReplyRefundsEverything) {
  Fixture f;
  auto s = f.send(f.b, "accept_nothing_no_reply", 1'000, 0);
  EXPECT_EQ(s.outcome.reject_code(), RejectCode::canister_error);
  EXPECT_EQ(s.refunded, 1'000u);
  EXPECT_EQ(f.h.balance(f.a), 10'000u);
  f.h.settle();
}

TEST(R8_Cycles, CyclesStayAvailableAcrossExecutionsOfTheCallContext) {
  Fixture f;
  auto s = f.send(f.b, "accept_after_await", 1'000, 250);
  EXPECT_TRUE(s.outcome.ok()) << s.outcome.message;
  EXPECT_EQ(s.accepted_by_callee, 250u);
  EXPECT_EQ(s.refunded, 750u);
  EXPECT_EQ(f.h.balance(f.b), 1'250u);
  f.h.settle();
}

TEST(R8_Cycles, InsufficientBalanceFailsSynchronouslyAndNeverGoesNegative) {
  Fixture f;
  auto too_much = f.send(f.b, "accept", 10'001, 0);
  EXPECT_TRUE(too_much.failed_sync);
  EXPECT_EQ(too_much.outcome.reject_code(), RejectCode::sys_transient);
  EXPECT_TRUE(contains(too_much.outcome.message, "insufficient cycles")) << too_much.outcome.message;
  EXPECT_EQ(too_much.balance_after_issue, 10'000u);
  // Attaching the whole balance is fine: it goes to 0, not below.
  auto all = f.send(f.b, "accept", 10'000, 10'000);
  EXPECT_TRUE(all.outcome.ok()) << all.outcome.message;
  EXPECT_EQ(all.balance_after_issue, 0u);
  EXPECT_EQ(f.h.balance(f.a), 0u);
  auto one = f.send(f.b, "accept", 1, 1);
  EXPECT_TRUE(one.failed_sync);
  EXPECT_EQ(f.h.balance(f.a), 0u);
  f.h.settle();
}

TEST(R8_Cycles, FailedCallsRefundAttachedCycles) {
  Fixture f;
  // Unknown canister: synchronous failure, nothing deducted.
  auto unknown = f.send(CanisterId{4242}, "accept", 500, 0);
  EXPECT_TRUE(unknown.failed_sync);
  EXPECT_EQ(unknown.balance_after_issue, 10'000u);
  // Unknown method: accepted, rejected by the callee's system, refunded in full.
  auto no_method = f.send(f.remote, "no_such_method", 500, 0);
  EXPECT_FALSE(no_method.failed_sync);
  EXPECT_EQ(no_method.outcome.reject_code(), RejectCode::canister_error);
  EXPECT_EQ(no_method.refunded, 500u);
  // Stopped canister: refused at induction, refunded in full.
  ASSERT_TRUE(f.h.rt().stop(f.b));
  auto stopped = f.send(f.b, "accept", 500, 500);
  EXPECT_EQ(stopped.outcome.reject_code(), RejectCode::canister_error);
  EXPECT_EQ(stopped.refunded, 500u);
  // Stopped canister on another subnet: bounced through the stream, refunded in full.
  ASSERT_TRUE(f.h.rt().stop(f.remote));
  auto remote_stopped = f.send(f.remote, "accept", 500, 500);
  EXPECT_EQ(remote_stopped.outcome.reject_code(), RejectCode::canister_error);
  EXPECT_EQ(remote_stopped.refunded, 500u);
  EXPECT_EQ(f.h.balance(f.a), 10'000u);
  EXPECT_EQ(f.h.balance(f.b), 1'000u);
  EXPECT_EQ(f.h.balance(f.remote), 1'000u);
  f.h.settle();
}

TEST(R8_Cycles, RefundSurvivesATrapInTheCallback) {
  // The refund is credited when the response is delivered, before the callback runs: a trap in
  // the callback rolls back the callback's changes, not the refund.
  Fixture f;
  auto r = f.h.update<void>(f.a, "send_then_trap_in_callback", f.remote, uint64_t{1'000},
                            uint64_t{100});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_EQ(f.h.balance(f.a), 9'900u);
  EXPECT_EQ(f.h.balance(f.remote), 1'100u);
  f.h.settle();
}

TEST(R8_Cycles, NoCyclesAreAvailableToIngressOrQueries) {
  Fixture f;
  auto r = f.h.update<uint64_t>(f.b, "accept", uint64_t{100});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(f.h.rt().query<uint64_t>(f.b, "available_in_query").value(), 0u);
  EXPECT_EQ(f.h.balance(f.b), 1'000u);
  f.h.settle();
}

TEST(R8_Cycles, DepositAddsToTheBalanceAndIsConserved) {
  Fixture f;
  f.h.deposit(f.b, 5'000);
  EXPECT_EQ(f.h.balance(f.b), 6'000u);
  auto s = f.send(f.b, "accept", 2'000, 2'000);
  EXPECT_TRUE(s.outcome.ok());
  EXPECT_EQ(f.h.total_balance(), f.h.minted());
  f.h.settle();
}
