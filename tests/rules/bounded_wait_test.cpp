// Rule R10: bounded-wait calls. A call with a timeout whose response has not arrived by the
// deadline (virtual time, R15) resolves to SYS_UNKNOWN; the late response is dropped.
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

struct Timed {
  Outcome outcome;
  uint64_t issued_ms = 0;
  uint64_t answered_ms = 0;
  template <class A>
  void serialize(A& ar) { ar(outcome, issued_ms, answered_ms); }
};

struct Node : Canister<uint64_t> {
  static void methods(Methods<Node>& m) {
    m.update("bounded", &Node::bounded);
    m.update("bounded_many", &Node::bounded_many);
    m.update("bounded_then_trap", &Node::bounded_then_trap);
    m.update("ping", &Node::ping);
    m.update("slow", &Node::slow);
    m.query("pings", &Node::pings);
  }
  Task<Timed> bounded(Ctx& ctx, CanisterId to, std::string method, uint64_t timeout_ms,
                      uint64_t arg) {
    Timed t;
    t.issued_ms = ctx.time_ms();
    auto r = co_await ctx.call_with<void>(CallOptions{.timeout_ms = timeout_ms}, to, method, arg);
    t.outcome = outcome_of(r);
    t.answered_ms = ctx.time_ms();
    co_return t;
  }
  // Several bounded calls with different timeouts in parallel: the order in which they settle.
  Task<std::vector<uint64_t>> bounded_many(Ctx& ctx, CanisterId to,
                                          std::vector<uint64_t> timeouts_ms) {
    std::vector<Call<void>> calls;
    for (uint64_t t : timeouts_ms)
      calls.push_back(ctx.call_with<void>(CallOptions{.timeout_ms = t}, to, "ping", uint64_t{0}));
    std::vector<uint64_t> settled_at;
    for (auto& c : calls) {
      auto r = co_await c;
      if (!r && r.error().code != RejectCode::sys_unknown)
        throw Trap("unexpected reject " + r.error().message);
      settled_at.push_back(ctx.time_ms());
    }
    co_return settled_at;
  }
  void bounded_then_trap(Ctx& ctx, CanisterId to) {
    auto c = ctx.call_with<void>(CallOptions{.timeout_ms = 200}, to, "ping", uint64_t{0});
    (void)c;
    throw Trap("trap after a bounded call");
  }
  void ping(Ctx&, uint64_t) { ++state(); }
  // Replies `ms` of virtual time later.
  Task<void> slow(Ctx& ctx, uint64_t ms) {
    co_await ctx.sleep_ms(ms);
    ++state();
  }
  uint64_t pings(Ctx&) { return state(); }
};

// A bounded-wait call with cycles attached (R8 x R10).
struct Paid {
  Outcome outcome;
  uint64_t refunded = 0;
  uint64_t balance_after = 0;
  template <class A>
  void serialize(A& ar) { ar(outcome, refunded, balance_after); }
};

struct Payer : Canister<Unit> {
  static void methods(Methods<Payer>& m) {
    m.update("pay_bounded", &Payer::pay_bounded);
    m.update("accept", &Payer::accept);
  }
  Task<Paid> pay_bounded(Ctx& ctx, CanisterId to, uint64_t timeout_ms, uint64_t attach,
                         uint64_t accept_max) {
    auto c = ctx.call_with<uint64_t>(CallOptions{.cycles = attach, .timeout_ms = timeout_ms}, to,
                                     "accept", accept_max);
    auto r = co_await c;
    Paid p;
    p.outcome = outcome_of(r);
    p.refunded = c.refunded_cycles();
    p.balance_after = ctx.balance();
    co_return p;
  }
  uint64_t accept(Ctx& ctx, uint64_t max) { return ctx.accept_cycles(max); }
};

Config slow_xnet(uint32_t latency_rounds) {
  Config c;
  c.subnets = 2;
  c.xnet_latency_rounds = latency_rounds;
  return c;
}

}  // namespace

TEST(R10_BoundedWait, NoResponseByTheDeadlineGivesSysUnknownAndTheLateResponseIsDropped) {
  // Round trip across subnets: 2 x 10 rounds = 2000 ms; the timeout is 500 ms.
  Harness h(slow_xnet(10));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  auto r = h.update<Timed>(a, "bounded", remote, std::string("ping"), uint64_t{500}, uint64_t{0});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->outcome.reject_code(), RejectCode::sys_unknown) << r->outcome.message;
  EXPECT_EQ(r->answered_ms, r->issued_ms + 500)
      << "SYS_UNKNOWN comes in the first round at or after the deadline";
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 0u) << "the response is still on its way";
  h.settle();
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 1u);
  EXPECT_EQ(h.rt().query<uint64_t>(remote, "pings").value(), 1u)
      << "the outcome was unknown to the caller, but the call did execute";
}

TEST(R10_BoundedWait, ResponseBeforeTheDeadlineIsDeliveredNormally) {
  Harness h(slow_xnet(2));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  auto r = h.update<Timed>(a, "bounded", remote, std::string("ping"), uint64_t{5'000},
                           uint64_t{0});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_TRUE(r->outcome.ok()) << r->outcome.message;
  EXPECT_EQ(r->answered_ms - r->issued_ms, 400u) << "2 rounds each way";
  h.settle();
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 0u);
}

TEST(R10_BoundedWait, AResponseArrivingInTheDeadlineRoundIsDelivered) {
  // Latency 2: issued at 100 ms, the response arrives in the round of 500 ms. A deadline of
  // 500 ms (timeout 400) is met; 400 ms (timeout 300) is not.
  Harness h(slow_xnet(2));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  auto met = h.update<Timed>(a, "bounded", remote, std::string("ping"), uint64_t{400}, uint64_t{0});
  ASSERT_TRUE(met) << describe(met);
  EXPECT_TRUE(met->outcome.ok()) << met->outcome.message;
  auto missed = h.update<Timed>(a, "bounded", remote, std::string("ping"), uint64_t{300},
                                uint64_t{0});
  ASSERT_TRUE(missed) << describe(missed);
  EXPECT_EQ(missed->outcome.reject_code(), RejectCode::sys_unknown);
  EXPECT_EQ(missed->answered_ms - missed->issued_ms, 300u);
  h.settle();
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 1u);
}

TEST(R10_BoundedWait, CalleeThatAnswersTooLateOnTheSameSubnet) {
  // The callee replies 3000 ms later (a timer); the caller waits at most 1000 ms.
  Harness h(Config{});
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  auto r = h.update<Timed>(a, "bounded", b, std::string("slow"), uint64_t{1'000},
                           uint64_t{3'000});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->outcome.reject_code(), RejectCode::sys_unknown) << r->outcome.message;
  EXPECT_EQ(r->answered_ms, r->issued_ms + 1'000);
  h.settle();
  EXPECT_EQ(h.rt().query<uint64_t>(b, "pings").value(), 1u);
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 1u);
}

TEST(R10_BoundedWait, DeadlinesExpireInTimeOrder) {
  Harness h(slow_xnet(10));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  auto r = h.update<std::vector<uint64_t>>(a, "bounded_many", remote,
                                           std::vector<uint64_t>{300, 100, 700, 5'000});
  ASSERT_TRUE(r) << describe(r);
  ASSERT_EQ(r->size(), 4u);
  // Awaited in order 300, 100, 700, 5000 (the last one gets its response at 2100 ms).
  const uint64_t t0 = 100;  // issued in round 1
  EXPECT_EQ((*r)[0], t0 + 300);
  EXPECT_EQ((*r)[1], t0 + 300) << "already settled at 200 ms when awaited";
  EXPECT_EQ((*r)[2], t0 + 700);
  EXPECT_EQ((*r)[3], t0 + 2'000) << "the 5000 ms call got its real response";
  h.settle();
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 3u);
}

TEST(R10_BoundedWait, TimeoutAboveTheMaximumFailsSynchronously) {
  Harness h(slow_xnet(2));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  const uint64_t too_long = h.rt().config().call_timeout_max_ms + 1;
  auto r = h.update<Timed>(a, "bounded", remote, std::string("ping"), too_long, uint64_t{0});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_FALSE(r->outcome.ok());
  EXPECT_EQ(r->answered_ms, r->issued_ms) << "a synchronous failure (R5), no round passes";
  EXPECT_TRUE(contains(r->outcome.message, "timeout")) << r->outcome.message;
  h.settle();
  EXPECT_EQ(h.rt().query<uint64_t>(remote, "pings").value(), 0u);
}

TEST(R10_BoundedWait, BoundedCallRolledBackByATrapNeverTimesOut) {
  Harness h(slow_xnet(10));
  auto a = h.install<Node>(0);
  auto remote = h.install<Node>(1);
  auto r = h.update<void>(a, "bounded_then_trap", remote);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  h.settle();
  const auto st = h.rt().stats();
  EXPECT_EQ(st.calls_accepted, 0u);
  EXPECT_EQ(st.responses_delivered, 0u);
  EXPECT_EQ(st.late_responses_dropped, 0u);
  EXPECT_EQ(h.rt().query<uint64_t>(remote, "pings").value(), 0u);
}

TEST(R10_BoundedWait, R8_ATimedOutCallRefundsNothingAndItsLateRefundIsBurned) {
  // R8 x R10: the SYS_UNKNOWN reject carries no refund (the caller cannot know what the callee
  // accepted), and the late response that would have carried the refund is dropped, so the
  // unaccepted cycles are burned. The callee keeps what it accepted. No balance goes negative.
  Harness h(slow_xnet(10));  // round trip 2 x 10 rounds = 2000 ms; timeout 500 ms
  auto payer = h.install<Payer>(0, {}, 10'000);
  auto payee = h.install<Payer>(1, {}, 1'000);
  auto r = h.update<Paid>(payer, "pay_bounded", payee, uint64_t{500}, uint64_t{1'000},
                          uint64_t{300});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->outcome.reject_code(), RejectCode::sys_unknown) << r->outcome.message;
  EXPECT_EQ(r->refunded, 0u) << "SYS_UNKNOWN refunds nothing";
  EXPECT_EQ(r->balance_after, 9'000u) << "the attached cycles left with the call";
  h.settle();
  EXPECT_EQ(h.rt().stats().late_responses_dropped, 1u);
  EXPECT_EQ(h.balance(payee), 1'300u) << "the callee accepted 300 and keeps them";
  EXPECT_EQ(h.balance(payer), 9'000u) << "the late refund of 700 is dropped with the response";
  EXPECT_EQ(h.total_balance(), h.minted() - 700u) << "exactly the unaccepted 700 are burned";
}

TEST(R10_BoundedWait, R8_ABoundedCallAnsweredInTimeRefundsLikeAnyOther) {
  Harness h(slow_xnet(1));  // round trip 2 x 1 rounds = 200 ms; timeout 5000 ms
  auto payer = h.install<Payer>(0, {}, 10'000);
  auto payee = h.install<Payer>(1, {}, 1'000);
  auto r = h.update<Paid>(payer, "pay_bounded", payee, uint64_t{5'000}, uint64_t{1'000},
                          uint64_t{300});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_TRUE(r->outcome.ok()) << r->outcome.message;
  EXPECT_EQ(r->refunded, 700u);
  EXPECT_EQ(r->balance_after, 9'700u);
  h.settle();
  EXPECT_EQ(h.balance(payee), 1'300u);
  EXPECT_EQ(h.total_balance(), h.minted()) << "nothing burned when the response arrives";
}
