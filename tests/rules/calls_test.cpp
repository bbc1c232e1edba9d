// Rules R1 (guaranteed response), R3 (ordering), R4 (reject codes), R6 (call contexts).
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

// Records the order in which requests arrive; offers every way of answering (or not).
struct Callee : Canister<std::vector<uint64_t>> {
  static void methods(Methods<Callee>& m) {
    m.update("record", &Callee::record);
    m.update("ok", &Callee::ok);
    m.update("reject_me", &Callee::reject_me);
    m.update("no_reply", &Callee::no_reply);
    m.update("reply_twice", &Callee::reply_twice);
    m.update("reply_then_return", &Callee::reply_then_return);
    m.update("trap", &Callee::trap);
    m.query("log", &Callee::log);
  }
  void record(Ctx&, uint64_t i) { state().push_back(i); }
  void ok(Ctx&) {}
  NoReply reject_me(Ctx& ctx, std::string why) {
    ctx.reject(why);
    return {};
  }
  NoReply no_reply(Ctx&) {
    state().push_back(999);  // committed: not replying is not a trap
    return {};
  }
  NoReply reply_twice(Ctx& ctx) {
    state().push_back(1);
    ctx.reply();
    ctx.reply();
    return {};
  }
  uint64_t reply_then_return(Ctx& ctx) {
    state().push_back(2);
    ctx.reply(uint64_t{1});
    return 2;
  }
  void trap(Ctx&) {
    state().push_back(3);
    throw Trap("callee trapped on purpose");
  }
  std::vector<uint64_t> log(Ctx&) { return state(); }
};

struct CallerState {
  CanisterId callee;
  std::vector<Outcome> outcomes;
  uint64_t balance_before = 0;
  uint64_t balance_after = 0;
  bool failed_sync = false;
  bool ready_at_once = false;
  template <class A>
  void serialize(A& ar) {
    ar(callee, outcomes, balance_before, balance_after, failed_sync, ready_at_once);
  }
};

struct Caller : Canister<CallerState> {
  static void methods(Methods<Caller>& m) {
    m.update("set", &Caller::set);
    m.update("call", &Caller::call);
    m.update("call_u64", &Caller::call_u64);
    m.update("fan_out", &Caller::fan_out);
    m.update("record_many", &Caller::record_many);
    m.update("record_sequential", &Caller::record_sequential);
    m.update("sync_fail_probe", &Caller::sync_fail_probe);
    m.update("drop_call", &Caller::drop_call);
    m.update("drop_call_no_reply", &Caller::drop_call_no_reply);
    m.update("await_then_no_reply", &Caller::await_then_no_reply);
    m.update("reply_early", &Caller::reply_early);
    m.update("chain", &Caller::chain);
    m.query("outcomes", &Caller::outcomes);
  }
  void set(Ctx&, CanisterId callee) { state().callee = callee; }

  // One call to callee.method(); returns its outcome.
  Task<Outcome> call(Ctx& ctx, std::string method) {
    auto r = co_await ctx.call<void>(state().callee, method);
    co_return outcome_of(r);
  }
  Task<Outcome> call_u64(Ctx& ctx, std::string method) {
    auto r = co_await ctx.call<uint64_t>(state().callee, method);
    co_return outcome_of(r);
  }
  // One call per method name, all in parallel; every outcome recorded.
  Task<std::vector<Outcome>> fan_out(Ctx& ctx, std::vector<std::string> names) {
    std::vector<Call<void>> calls;
    for (const auto& n : names) {
      if (n == "reject_me") {
        calls.push_back(ctx.call<void>(state().callee, n, std::string("no thanks")));
      } else {
        calls.push_back(ctx.call<void>(state().callee, n));
      }
    }
    auto rs = co_await when_all_settled(std::move(calls));
    std::vector<Outcome> out;
    for (auto& r : rs)
      out.push_back(outcome_of(r));
    state().outcomes = out;
    co_return out;
  }
  // record(from..from+n) in parallel.
  Task<uint64_t> record_many(Ctx& ctx, uint64_t from, uint64_t n) {
    std::vector<Call<void>> calls;
    for (uint64_t i = 0; i < n; ++i)
      calls.push_back(ctx.call<void>(state().callee, "record", from + i));
    auto rs = co_await when_all_settled(std::move(calls));
    uint64_t ok = 0;
    for (auto& r : rs)
      ok += r ? 1 : 0;
    co_return ok;
  }
  Task<uint64_t> record_sequential(Ctx& ctx, uint64_t from, uint64_t n) {
    uint64_t ok = 0;
    for (uint64_t i = 0; i < n; ++i) {
      auto r = co_await ctx.call<void>(state().callee, "record", from + i);
      ok += r ? 1 : 0;
    }
    co_return ok;
  }
  // A call to a canister that does not exist, with cycles attached: R1 synchronous failure.
  Task<Outcome> sync_fail_probe(Ctx& ctx, CanisterId nowhere, uint64_t cycles) {
    state().balance_before = ctx.balance();
    auto c = ctx.call_with<void>(CallOptions{.cycles = cycles}, nowhere, "ok");
    state().balance_after = ctx.balance();
    state().failed_sync = c.failed_synchronously();
    state().ready_at_once = c.ready();
    auto r = co_await std::move(c);
    co_return outcome_of(r);
  }
  // Issues a call and drops it, then replies: the response still arrives and is discarded.
  uint64_t drop_call(Ctx& ctx) {
    auto c = ctx.call<void>(state().callee, "record", uint64_t{42});
    (void)c;
    return 1;
  }
  // Issues a call, drops it, never replies: R6 "did not reply" once the response came back.
  NoReply drop_call_no_reply(Ctx& ctx) {
    auto c = ctx.call<void>(state().callee, "record", uint64_t{43});
    (void)c;
    return {};
  }
  Task<NoReply> await_then_no_reply(Ctx& ctx) {
    auto r = co_await ctx.call<void>(state().callee, "record", uint64_t{44});
    state().outcomes.push_back(outcome_of(r));
    co_return NoReply{};
  }
  // Replies first, then keeps working: the caller gets the reply before the work is done.
  Task<NoReply> reply_early(Ctx& ctx) {
    ctx.reply(uint64_t{5});
    auto r = co_await ctx.call<void>(state().callee, "record", uint64_t{45});
    state().outcomes.push_back(outcome_of(r));
    co_return NoReply{};
  }
  // Calls `next`.call(method) (another Caller), returning the inner outcome.
  Task<Outcome> chain(Ctx& ctx, CanisterId next, std::string method) {
    auto r = co_await ctx.call<Outcome>(next, "call", method);
    if (!r) co_return outcome_of(r);
    co_return *r;
  }
  std::vector<Outcome> outcomes(Ctx&) { return state().outcomes; }
};

struct Pair {
  Harness h;
  CanisterId callee;
  CanisterId caller;
  explicit Pair(Config cfg = {}, uint32_t callee_subnet = 0, uint64_t caller_cycles = 0) : h(cfg) {
    callee = h.install<Callee>(callee_subnet);
    caller = h.install<Caller>(0, {}, caller_cycles);
    EXPECT_TRUE(h.update<void>(caller, "set", callee));
  }
  std::vector<uint64_t> log() { return h.rt().query<std::vector<uint64_t>>(callee, "log").value(); }
};

// Methods whose names differ in one byte, of every length class the method cache compares by
// words (4-7, 8-16) or not (1-3, 17+), so that a cached entry is never taken for a neighbour.
struct NearNames : Canister<Unit> {
  static void methods(Methods<NearNames>& m) {
    for (const char* name :
         {"ab", "ac", "abcXe", "abcYe", "abcdXfgh", "abcdYfgh", "abcdefghXjklmnop",
          "abcdefghYjklmnop", "abcdefghijklmnopXrs", "abcdefghijklmnopYrs"})
      m.update(name, &NearNames::name);
  }
  std::string name(Ctx& ctx) { return std::string(ctx.method()); }
};

// Arguments and replies on both sides of the runtime's inline payload size (23 bytes, see
// detail/payload.hpp): the callee echoes what it got, the caller checks it, across a call edge.
struct Echo : Canister<Unit> {
  static void methods(Methods<Echo>& m) {
    m.update("fits", &Echo::fits);
    m.update("spills", &Echo::spills);
    m.update("text", &Echo::text);
  }
  // 8 + 8 + 4 + 2 + 1 = 23 bytes of arguments; a 16-byte reply.
  std::pair<uint64_t, uint64_t> fits(Ctx&, uint64_t a, uint64_t b, uint32_t c, uint16_t d,
                                     uint8_t e) {
    return {a ^ c, b ^ (uint64_t{d} << 8 | e)};
  }
  // 24 bytes of arguments, a 24-byte reply: both go through a buffer.
  std::tuple<uint64_t, uint64_t, uint64_t> spills(Ctx&, uint64_t a, uint64_t b, uint64_t c) {
    return {c, b, a};
  }
  std::string text(Ctx&, std::string s) { return s + s; }
};

struct EchoCaller : Canister<Unit> {
  static void methods(Methods<EchoCaller>& m) { m.update("check", &EchoCaller::check); }
  Task<std::string> check(Ctx& ctx, CanisterId echo) {
    auto f = co_await ctx.call<std::pair<uint64_t, uint64_t>>(echo, "fits", uint64_t{1} << 63,
                                                              uint64_t{7}, uint32_t{0xF0F0F0F0},
                                                              uint16_t{0xABCD}, uint8_t{0x5A});
    if (!f) co_return "fits: " + f.error().message;
    if (f->first != ((uint64_t{1} << 63) ^ 0xF0F0F0F0) || f->second != (7 ^ 0xABCD5AULL))
      co_return "fits: wrong reply";
    auto s = co_await ctx.call<std::tuple<uint64_t, uint64_t, uint64_t>>(
        echo, "spills", uint64_t{1}, uint64_t{2}, uint64_t{3});
    if (!s) co_return "spills: " + s.error().message;
    if (*s != std::tuple<uint64_t, uint64_t, uint64_t>{3, 2, 1}) co_return "spills: wrong reply";
    auto t = co_await ctx.call<std::string>(echo, "text", std::string(40, 'x'));
    if (!t) co_return "text: " + t.error().message;
    if (*t != std::string(80, 'x')) co_return "text: wrong reply";
    // Too short for its type: the callee's decoding traps (R7), the caller is rejected.
    auto bad = co_await ctx.call_raw<uint64_t>(CallOptions{}, echo, "fits", encode(uint64_t{1}));
    if (bad || bad.error().code != RejectCode::canister_error) co_return "bad: not rejected";
    co_return "ok";
  }
};

Config two_subnets() {
  Config c;
  c.subnets = 2;
  return c;
}

}  // namespace

// ---------------------------------------------------------------- R1

TEST(R1_GuaranteedResponse, SynchronousFailureRunsNoCallbackAndRefundsAtOnce) {
  Pair p({}, 0, 5'000);
  const auto before = p.h.rt().stats();
  auto r = p.h.update<Outcome>(p.caller, "sync_fail_probe", CanisterId{12345}, uint64_t{1'000});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->reject_code(), RejectCode::destination_invalid) << r->message;
  EXPECT_EQ(p.h.balance(p.caller), 5'000u) << "attached cycles must be refunded at once (R1, R8)";
  const auto after = p.h.rt().stats();
  EXPECT_EQ(after.calls_failed_sync, before.calls_failed_sync + 1);
  EXPECT_EQ(after.calls_accepted, before.calls_accepted) << "a synchronous failure is not accepted";
  EXPECT_EQ(after.responses_delivered, before.responses_delivered) << "no callback ran";
  p.h.settle();
}

TEST(R1_GuaranteedResponse, SynchronousFailureIsVisibleBeforeAwaiting) {
  // failed_synchronously()/ready() and the balance are observed inside the method, before the
  // co_await; a state query reports what the method saw.
  struct Probe : Canister<CallerState> {
    static void methods(Methods<Probe>& m) {
      m.update("probe", &Probe::probe);
      m.query("seen", &Probe::seen);
    }
    Task<void> probe(Ctx& ctx) {
      state().balance_before = ctx.balance();
      auto c = ctx.call_with<void>(CallOptions{.cycles = 300}, CanisterId{777}, "x");
      state().balance_after = ctx.balance();
      state().failed_sync = c.failed_synchronously();
      state().ready_at_once = c.ready();
      auto r = co_await std::move(c);
      state().outcomes.push_back(outcome_of(r));
    }
    CallerState seen(Ctx&) { return state(); }
  };
  Harness h(Config{});
  auto probe = h.install<Probe>(0, {}, 1'000);
  ASSERT_TRUE(h.update<void>(probe, "probe"));
  auto seen = h.rt().query<CallerState>(probe, "seen").value();
  EXPECT_TRUE(seen.failed_sync);
  EXPECT_TRUE(seen.ready_at_once);
  EXPECT_EQ(seen.balance_before, 1'000u);
  EXPECT_EQ(seen.balance_after, 1'000u) << "cycles of a failed call are never deducted";
  ASSERT_EQ(seen.outcomes.size(), 1u);
  EXPECT_EQ(seen.outcomes[0].reject_code(), RejectCode::destination_invalid);
  h.settle();
}

TEST(R1_GuaranteedResponse, EveryAcceptedCallGetsExactlyOneResponseWhateverTheCallee) {
  for (uint32_t callee_subnet : {0u, 1u}) {
    SCOPED_TRACE(callee_subnet == 0 ? "same subnet" : "cross subnet");
    Pair p(two_subnets(), callee_subnet);
    const std::vector<std::string> names = {
        "ok",   "reject_me",   "no_reply", "reply_twice", "reply_then_return",
        "trap", "nonexistent", "ok"};
    const auto before = p.h.rt().stats();
    auto r = p.h.update<std::vector<Outcome>>(p.caller, "fan_out", names);
    ASSERT_TRUE(r) << describe(r);
    ASSERT_EQ(r->size(), names.size());
    const auto after = p.h.rt().stats();
    EXPECT_EQ(after.calls_accepted - before.calls_accepted, names.size());
    p.h.settle();
    const auto done = p.h.rt().stats();
    EXPECT_EQ(done.responses_delivered - before.responses_delivered, names.size())
        << "exactly one response per accepted call";
  }
}

TEST(R1_GuaranteedResponse, DroppedCallStillGetsItsResponseDiscarded) {
  Pair p;
  const auto before = p.h.rt().stats();
  auto r = p.h.update<uint64_t>(p.caller, "drop_call");
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 1u);
  p.h.settle();
  EXPECT_EQ(p.log(), (std::vector<uint64_t>{42})) << "the request was sent and executed";
  const auto after = p.h.rt().stats();
  EXPECT_EQ(after.calls_accepted - before.calls_accepted, 1u);
  EXPECT_EQ(after.responses_delivered - before.responses_delivered, 1u);
}

// ---------------------------------------------------------------- R3

TEST(R3_Ordering, ParallelRequestsStartInSendOrderSameSubnet) {
  Pair p;
  auto r = p.h.update<uint64_t>(p.caller, "record_many", uint64_t{0}, uint64_t{300});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 300u);
  std::vector<uint64_t> expected(300);
  for (uint64_t i = 0; i < 300; ++i)
    expected[i] = i;
  EXPECT_EQ(p.log(), expected);
  p.h.settle();
}

TEST(R3_Ordering, ParallelRequestsStartInSendOrderAcrossSubnets) {
  Pair p(two_subnets(), 1);
  auto r = p.h.update<uint64_t>(p.caller, "record_many", uint64_t{0}, uint64_t{300});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 300u);
  std::vector<uint64_t> expected(300);
  for (uint64_t i = 0; i < 300; ++i)
    expected[i] = i;
  EXPECT_EQ(p.log(), expected);
  p.h.settle();
}

TEST(R3_Ordering, RequestsFromSeveralExecutionsKeepSendOrder) {
  // Three ingress messages at the caller, each sending a batch: batches arrive in order and each
  // batch in order, also across subnets where they travel through the stream.
  for (uint32_t callee_subnet : {0u, 1u}) {
    SCOPED_TRACE(callee_subnet);
    Pair p(two_subnets(), callee_subnet);
    auto a = p.h.submit(p.caller, "record_many", uint64_t{0}, uint64_t{50});
    auto b = p.h.submit(p.caller, "record_many", uint64_t{50}, uint64_t{50});
    auto c = p.h.submit(p.caller, "record_sequential", uint64_t{100}, uint64_t{5});
    p.h.settle();
    for (auto iid : {a, b, c}) {
      auto res = p.h.result<uint64_t>(iid);
      ASSERT_TRUE(res && *res) << (res ? describe(*res) : "unanswered");
    }
    std::vector<uint64_t> expected(105);
    for (uint64_t i = 0; i < 105; ++i)
      expected[i] = i;
    EXPECT_EQ(p.log(), expected);
  }
}

// ---------------------------------------------------------------- R4

TEST(R4_RejectCodes, NumericValuesAreTheInternetComputers) {
  EXPECT_EQ(static_cast<int>(RejectCode::sys_fatal), 1);
  EXPECT_EQ(static_cast<int>(RejectCode::sys_transient), 2);
  EXPECT_EQ(static_cast<int>(RejectCode::destination_invalid), 3);
  EXPECT_EQ(static_cast<int>(RejectCode::canister_reject), 4);
  EXPECT_EQ(static_cast<int>(RejectCode::canister_error), 5);
  EXPECT_EQ(static_cast<int>(RejectCode::sys_unknown), 6);
}

TEST(R4_RejectCodes, EachFailureKindGetsItsCode) {
  Pair p;
  const std::vector<std::string> names = {"ok", "reject_me", "no_reply", "trap", "nonexistent"};
  auto r = p.h.update<std::vector<Outcome>>(p.caller, "fan_out", names);
  ASSERT_TRUE(r) << describe(r);
  ASSERT_EQ(r->size(), 5u);
  EXPECT_TRUE((*r)[0].ok());
  EXPECT_EQ((*r)[1].reject_code(), RejectCode::canister_reject);
  EXPECT_EQ((*r)[1].message, "no thanks") << "a canister reject carries the canister's message";
  EXPECT_EQ((*r)[2].reject_code(), RejectCode::canister_error);
  EXPECT_EQ((*r)[3].reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains((*r)[3].message, "callee trapped on purpose")) << (*r)[3].message;
  EXPECT_EQ((*r)[4].reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains((*r)[4].message, "nonexistent")) << (*r)[4].message;
  auto sync = p.h.update<Outcome>(p.caller, "sync_fail_probe", CanisterId{999}, uint64_t{0});
  ASSERT_TRUE(sync);
  EXPECT_EQ(sync->reject_code(), RejectCode::destination_invalid);
  p.h.settle();
}

TEST(R4_RejectCodes, RejectsPropagateUnchangedThroughAChainOfCallers) {
  // ingress -> caller2.chain -> caller1.call -> callee.reject_me: the innermost reject is data
  // that the middle canister returns as a normal reply.
  Harness h(two_subnets());
  auto callee = h.install<Callee>(1);
  auto c1 = h.install<Caller>(0);
  auto c2 = h.install<Caller>(1);
  ASSERT_TRUE(h.update<void>(c1, "set", callee));
  auto r = h.update<Outcome>(c2, "chain", c1, std::string("trap"));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains(r->message, "callee trapped on purpose"));
  h.settle();
}

// ---------------------------------------------------------------- R6

TEST(R6_CallContexts, NoReplyMethodThatDoesNotReplyIsRejectedDidNotReply) {
  Pair p;
  // Through an inter-canister call...
  auto r = p.h.update<Outcome>(p.caller, "call", std::string("no_reply"));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains(r->message, "did not reply")) << r->message;
  // ...and from ingress.
  auto direct = p.h.update<void>(p.callee, "no_reply");
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(direct.error().message, "did not reply")) << direct.error().message;
  // Not replying is not a trap: the state changes stay.
  EXPECT_EQ(p.log(), (std::vector<uint64_t>{999, 999}));
  p.h.settle();
}

TEST(R6_CallContexts, DidNotReplyComesOnlyAfterTheLastCallback) {
  // The caller (subnet 0) drops a call to the callee (subnet 1) and does not reply: its context
  // stays open while the call is outstanding; "did not reply" comes when the response is in.
  Pair p(two_subnets(), 1);
  auto iid = p.h.submit(p.caller, "drop_call_no_reply");
  p.h.tick();
  EXPECT_FALSE(p.h.rt().ingress_result(iid)) << "answered while a callback is outstanding";
  EXPECT_EQ(p.h.rt().info(p.caller)->open_call_contexts, 1u);
  EXPECT_EQ(p.h.rt().info(p.caller)->outstanding_calls, 1u);
  p.h.settle();
  auto r = p.h.result<void>(iid);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r->error().message, "did not reply")) << r->error().message;
  EXPECT_EQ(p.log(), (std::vector<uint64_t>{43}));
}

TEST(R6_CallContexts, CoroutineThatEndsWithoutReplyingIsRejectedDidNotReply) {
  Pair p(two_subnets(), 1);
  auto r = p.h.update<void>(p.caller, "await_then_no_reply");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "did not reply")) << r.error().message;
  auto seen = p.h.rt().query<std::vector<Outcome>>(p.caller, "outcomes").value();
  ASSERT_EQ(seen.size(), 1u) << "the callback ran before the reject";
  EXPECT_TRUE(seen[0].ok());
  p.h.settle();
}

TEST(R6_CallContexts, SecondReplyTrapsAndRollsBackTheFirst) {
  Pair p;
  auto r = p.h.update<Outcome>(p.caller, "call_u64", std::string("reply_twice"));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->reject_code(), RejectCode::canister_error)
      << "the caller sees the trap, not the first reply: " << r->message;
  EXPECT_TRUE(contains(r->message, "reply")) << r->message;
  auto r2 = p.h.update<Outcome>(p.caller, "call_u64", std::string("reply_then_return"));
  ASSERT_TRUE(r2) << describe(r2);
  EXPECT_EQ(r2->reject_code(), RejectCode::canister_error) << r2->message;
  EXPECT_TRUE(p.log().empty()) << "the trapped executions' state changes were rolled back";
  // Also from ingress.
  auto direct = p.h.update<uint64_t>(p.callee, "reply_twice");
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code, RejectCode::canister_error);
  p.h.settle();
}

TEST(R6_CallContexts, ReplyEarlyThenKeepWorkingClosesTheContextAfterTheLastCallback) {
  Pair p(two_subnets(), 1);
  auto iid = p.h.submit(p.caller, "reply_early");
  p.h.tick();
  auto r = p.h.result<uint64_t>(iid);
  ASSERT_TRUE(r.has_value()) << "the reply is sent in the first execution";
  ASSERT_TRUE(*r) << describe(*r);
  EXPECT_EQ(**r, 5u);
  EXPECT_EQ(p.h.rt().info(p.caller)->open_call_contexts, 1u)
      << "replied, but a callback is outstanding: the context stays open";
  p.h.settle();
  auto seen = p.h.rt().query<std::vector<Outcome>>(p.caller, "outcomes").value();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].ok());
  EXPECT_EQ(p.log(), (std::vector<uint64_t>{45}));
  EXPECT_EQ(p.h.rt().info(p.caller)->open_call_contexts, 0u);
}

// ---------------------------------------------------------------- dispatch

TEST(R11_Dispatch, ArgumentsAndRepliesAroundTheInlinePayloadSizeArriveIntact) {
  for (uint32_t subnets : {1u, 2u}) {  // a local call edge and a cross-subnet stream
    Config cfg;
    cfg.subnets = subnets;
    Harness h{cfg};
    const CanisterId echo = h.install<Echo>(subnets - 1);
    const CanisterId caller = h.install<EchoCaller>(0);
    auto r = h.update<std::string>(caller, "check", echo);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "ok") << subnets << " subnet(s)";
  }
}

TEST(R11_Dispatch, MethodsWhoseNamesDifferInOneByteAreToldApart) {
  Harness h{Config{}};
  const CanisterId c = h.install<NearNames>(0);
  const std::vector<std::string> names = {"ab",
                                          "ac",
                                          "abcXe",
                                          "abcYe",
                                          "abcdXfgh",
                                          "abcdYfgh",
                                          "abcdefghXjklmnop",
                                          "abcdefghYjklmnop",
                                          "abcdefghijklmnopXrs",
                                          "abcdefghijklmnopYrs"};
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& n : names) {  // alternating neighbours: the cache changes each time
      auto r = h.update<std::string>(c, n);
      ASSERT_TRUE(r) << n << ": " << describe(r);
      EXPECT_EQ(*r, n);
    }
  }
  auto unknown = h.update<std::string>(c, "abcdZfgh");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, RejectCode::canister_error);
}
