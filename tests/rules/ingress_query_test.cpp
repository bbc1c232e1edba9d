// Rules R11 (ingress: updates run in rounds, queries at once against the committed state) and
// the basics of R16 (a query is read-only, makes no calls, its changes are discarded).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>

#include <algorithm>
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

struct Counter : Canister<uint64_t> {
  static void methods(Methods<Counter>& m) {
    m.update("inc", &Counter::inc);
    m.update("inc_then_await", &Counter::inc_then_await);
    m.update("inc_then_trap", &Counter::inc_then_trap);
    m.update("call_query", &Counter::call_query);
    m.update("ping", &Counter::ping);
    m.query("get", &Counter::get);
    m.query("bump", &Counter::bump);
    m.query("query_that_calls", &Counter::query_that_calls);
  }
  uint64_t inc(Ctx&) { return ++state(); }
  Task<uint64_t> inc_then_await(Ctx& ctx, CanisterId remote) {
    ++state();
    auto r = co_await ctx.call<void>(remote, "ping");
    (void)r;
    co_return state();
  }
  void inc_then_trap(Ctx&) {
    state() += 1000;
    throw Trap("no");
  }
  // Calls a query method of another canister in replicated mode.
  Task<uint64_t> call_query(Ctx& ctx, CanisterId other) {
    auto r = co_await ctx.call<uint64_t>(other, "bump");
    if (!r) throw Trap(r.error().message);
    co_return *r;
  }
  void ping(Ctx&) {}
  uint64_t get(Ctx&) { return state(); }
  // A query that modifies the state: the change must not survive.
  uint64_t bump(Ctx&) { return state() += 50; }
  Task<uint64_t> query_that_calls(Ctx& ctx, CanisterId other) {
    auto r = co_await ctx.call<uint64_t>(other, "get");
    co_return r ? *r : 0;
  }
};

Config two_subnets() {
  Config c;
  c.subnets = 2;
  return c;
}

}  // namespace

TEST(R11_Ingress, UpdateRunsInTheNextRoundAndIsAnsweredOnce) {
  Harness h(Config{});
  auto c = h.install<Counter>(0);
  auto iid = h.submit(c, "inc");
  EXPECT_FALSE(h.rt().ingress_result(iid).has_value()) << "nothing runs before a round";
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 0u);
  h.tick();
  auto r = h.result<uint64_t>(iid);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(**r, 1u);
  h.ticks(3);
  EXPECT_EQ(h.result<uint64_t>(iid)->value(), 1u) << "the answer stays";
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 1u);
  h.settle();
}

TEST(R11_Ingress, SubmittedMessagesGetDistinctIdsAndAllAnswers) {
  Harness h(Config{});
  auto c = h.install<Counter>(0);
  std::vector<IngressId> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(h.submit(c, "inc"));
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_NE(ids[i - 1].value, ids[i].value);
  h.settle();
  std::vector<uint64_t> answers;
  for (auto iid : ids) answers.push_back(h.result<uint64_t>(iid)->value());
  std::sort(answers.begin(), answers.end());
  for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(answers[i], i + 1);
  EXPECT_FALSE(h.rt().ingress_result(IngressId{987654}).has_value()) << "unknown ingress id";
}

TEST(R11_Ingress, QueryRunsAtOnceWithoutARoundAndLeavesNoTrace) {
  Harness h(Config{});
  auto c = h.install<Counter>(0);
  ASSERT_TRUE(h.update<uint64_t>(c, "inc"));
  const uint64_t round = h.rt().round();
  const uint64_t hash = h.rt().trace_hash();
  const auto stats = h.rt().stats();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 1u);
  EXPECT_EQ(h.rt().round(), round);
  EXPECT_EQ(h.rt().trace_hash(), hash) << "queries are not part of the replicated trace";
  EXPECT_EQ(h.rt().stats().messages_executed, stats.messages_executed);
  h.settle();
}

TEST(R16_Query, ChangesMadeByAQueryAreDiscarded) {
  Harness h(Config{});
  auto c = h.install<Counter>(0, 7);
  EXPECT_EQ(h.rt().query<uint64_t>(c, "bump").value(), 57u);
  EXPECT_EQ(h.rt().query<uint64_t>(c, "bump").value(), 57u) << "each query starts from 7";
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 7u);
  EXPECT_EQ(h.update<uint64_t>(c, "inc").value(), 8u);
  h.settle();
}

TEST(R16_Query, QueryMethodCalledAsAnUpdateKeepsNoChanges) {
  // Replicated mode: an ingress update or an inter-canister call to a query method executes it,
  // returns its reply, and discards its state changes.
  Harness h(Config{});
  auto c = h.install<Counter>(0, 7);
  auto other = h.install<Counter>(0, 100);
  EXPECT_EQ(h.update<uint64_t>(c, "bump").value(), 57u);
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 7u);
  EXPECT_EQ(h.update<uint64_t>(c, "call_query", other).value(), 150u);
  EXPECT_EQ(h.rt().query<uint64_t>(other, "get").value(), 100u);
  h.settle();
}

TEST(R16_Query, AQueryCannotCall) {
  Harness h(Config{});
  auto c = h.install<Counter>(0);
  auto other = h.install<Counter>(0);
  auto q = h.rt().query<uint64_t>(c, "query_that_calls", other);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, RejectCode::canister_error);
  // As an update (replicated query) it cannot call either.
  auto u = h.update<uint64_t>(c, "query_that_calls", other);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(u.error().message, "query")) << u.error().message;
  h.settle();
  EXPECT_EQ(h.rt().stats().calls_accepted, 0u);
}

TEST(R16_Query, UpdateMethodsCannotBeQueried) {
  Harness h(Config{});
  auto c = h.install<Counter>(0);
  auto q = h.rt().query<uint64_t>(c, "inc");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, RejectCode::canister_error);
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 0u);
  h.settle();
}

TEST(R16_Query, QueriesSeeTheLastCommittedStateNeverATrappedOne) {
  Harness h(two_subnets());
  auto c = h.install<Counter>(0);
  auto remote = h.install<Counter>(1);
  auto pending = h.submit(c, "inc_then_await", remote);
  h.tick();
  ASSERT_FALSE(h.rt().ingress_result(pending).has_value());
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 1u)
      << "the first execution of a pending call context is committed";
  auto trapped = h.update<void>(c, "inc_then_trap");
  ASSERT_FALSE(trapped);
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 1u);
  h.settle();
  EXPECT_EQ(h.result<uint64_t>(pending)->value(), 1u);
}

TEST(R11_Ingress, UpdateGivesUpAfterIngressRoundsMaxButTheAnswerStillComes) {
  Config cfg = two_subnets();
  cfg.xnet_latency_rounds = 5;
  cfg.ingress_rounds_max = 3;
  Harness h(cfg);
  auto c = h.install<Counter>(0);
  auto remote = h.install<Counter>(1);
  auto r = h.rt().update<uint64_t>(c, "inc_then_await", remote);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::sys_unknown) << describe(r.error());
  EXPECT_EQ(h.rt().round(), 3u);
  h.settle();
  EXPECT_EQ(h.rt().query<uint64_t>(c, "get").value(), 1u) << "the message itself ran to the end";
}
