// Rule R2: per-pair queues with capacity, reservations, and the 500 / 2000 result of seed 000.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "parallel_calls/parallel_calls.hpp"
#include "support/invariants.hpp"

using namespace canopy;
using canopy_test::contains;
using canopy_test::describe;
using canopy_test::Harness;
using canopy_test::Outcome;
using canopy_test::outcome_of;

namespace {

struct FanResult {
  uint64_t issued = 0;
  uint64_t failed_sync = 0;  // R1: no callback
  uint64_t failed_sync_transient = 0;
  uint64_t ok = 0;
  uint64_t rejected_async = 0;  // accepted, then rejected
  uint64_t rejected_async_transient = 0;
  std::string first_sync_message;
  std::string first_async_message;
  template <class A>
  void serialize(A& ar) {
    ar(issued, failed_sync, failed_sync_transient, ok, rejected_async, rejected_async_transient,
       first_sync_message, first_async_message);
  }
};

struct NodeState {
  uint64_t hellos = 0;
  uint64_t pingback_sync_failures = 0;
  uint64_t pingback_accepted = 0;
  std::vector<Outcome> outcomes;
  template <class A>
  void serialize(A& ar) {
    ar(hellos, pingback_sync_failures, pingback_accepted, outcomes);
  }
};

struct Node : Canister<NodeState> {
  static void methods(Methods<Node>& m) {
    m.update("fan", &Node::fan);
    m.update("hello", &Node::hello);
    m.update("pingback", &Node::pingback);
    m.update("call_peer", &Node::call_peer);
    m.query("get", &Node::get);
  }
  // n calls of `method`, round-robin over `targets`, all issued in this one execution.
  Task<FanResult> fan(Ctx& ctx, std::vector<CanisterId> targets, uint64_t n, std::string method) {
    FanResult res;
    std::vector<Call<void>> calls;
    for (uint64_t i = 0; i < n; ++i) {
      auto c = ctx.call<void>(targets[i % targets.size()], method);
      ++res.issued;
      if (c.failed_synchronously()) {
        ++res.failed_sync;
        auto r = c.take();
        if (r.error().code == RejectCode::sys_transient) ++res.failed_sync_transient;
        if (res.first_sync_message.empty()) res.first_sync_message = r.error().message;
        continue;
      }
      calls.push_back(std::move(c));
    }
    auto rs = co_await when_all_settled(std::move(calls));
    for (auto& r : rs) {
      if (r) {
        ++res.ok;
      } else {
        ++res.rejected_async;
        if (r.error().code == RejectCode::sys_transient) ++res.rejected_async_transient;
        if (res.first_async_message.empty()) res.first_async_message = r.error().message;
      }
    }
    co_return res;
  }
  void hello(Ctx&) { ++state().hellos; }
  // Answers at once, but first tries to call the caller back (and drops that call).
  void pingback(Ctx& ctx) {
    auto c = ctx.call<void>(ctx.caller(), "hello");
    if (c.failed_synchronously()) {
      ++state().pingback_sync_failures;
    } else {
      ++state().pingback_accepted;
    }
  }
  Task<Outcome> call_peer(Ctx& ctx, CanisterId peer) {
    auto r = co_await ctx.call<void>(peer, "hello");
    state().outcomes.push_back(outcome_of(r));
    co_return outcome_of(r);
  }
  NodeState get(Ctx&) { return state(); }
};

struct SprayState {
  std::vector<CanisterId> peers;
  uint64_t sync_transient = 0;
  uint64_t async_transient = 0;
  uint64_t ok = 0;
  template <class A>
  void serialize(A& ar) {
    ar(peers, sync_transient, async_transient, ok);
  }
};

// Random fan-out over all peers, ctx.random() decides how many and where.
struct Spray : Canister<SprayState> {
  static void methods(Methods<Spray>& m) {
    m.update("init", &Spray::init);
    m.update("spray", &Spray::spray);
    m.query("get", &Spray::get);
  }
  void init(Ctx&, std::vector<CanisterId> peers) { state().peers = std::move(peers); }
  Task<void> spray(Ctx& ctx, uint64_t ttl) {
    if (ttl == 0) co_return;
    const uint64_t k = ctx.random() % 8;
    std::vector<Call<void>> calls;
    for (uint64_t i = 0; i < k; ++i) {
      const CanisterId to = state().peers[ctx.random() % state().peers.size()];
      auto c = ctx.call<void>(to, "spray", ttl - 1);
      if (c.failed_synchronously()) {
        if (c.take().error().code == RejectCode::sys_transient) ++state().sync_transient;
        continue;
      }
      calls.push_back(std::move(c));
    }
    auto rs = co_await when_all_settled(std::move(calls));
    for (auto& r : rs) {
      if (r) {
        ++state().ok;
      } else if (r.error().code == RejectCode::sys_transient) {
        ++state().async_transient;
      }
    }
  }
  SprayState get(Ctx&) { return state(); }
};

Config with_capacity(uint32_t capacity, uint32_t subnets = 1) {
  Config c;
  c.queue_capacity = capacity;
  c.subnets = subnets;
  return c;
}

}  // namespace

TEST(R2_Queues, TwoThousandParallelCallsYieldExactly500SameSubnet) {
  Harness h(Config{});
  auto callee = h.install<examples::Callee>(0);
  auto caller = h.install<examples::Caller>(0);
  ASSERT_TRUE(h.update<void>(caller, "setup_callee", callee));
  auto r = h.update<uint64_t>(caller, "parallel_calls", uint64_t{2000});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 500u);
  // The reservations were released: the next batch gets its 500 again.
  r = h.update<uint64_t>(caller, "parallel_calls", uint64_t{2000});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 500u);
  r = h.update<uint64_t>(caller, "sequential_calls", uint64_t{2000});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 2000u) << "sequential calls never hold more than one slot";
  h.settle();
  EXPECT_EQ(h.rt().stats().calls_failed_sync, 3000u);
}

TEST(R2_Queues, TwoThousandParallelCallsYieldExactly500AcrossSubnets) {
  Harness h(with_capacity(500, 2));
  auto callee = h.install<examples::Callee>(1);
  auto caller = h.install<examples::Caller>(0);
  ASSERT_TRUE(h.update<void>(caller, "setup_callee", callee));
  auto r = h.update<uint64_t>(caller, "parallel_calls", uint64_t{2000});
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(*r, 500u);
  h.settle();
}

TEST(R2_Queues, ParallelCallsBeyondCapacityFailSynchronouslyWithSysTransient) {
  Harness h(with_capacity(10));
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  auto r =
      h.update<FanResult>(a, "fan", std::vector<CanisterId>{b}, uint64_t{25}, std::string("hello"));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->issued, 25u);
  EXPECT_EQ(r->failed_sync, 15u);
  EXPECT_EQ(r->failed_sync_transient, 15u);
  EXPECT_TRUE(contains(r->first_sync_message, "full")) << r->first_sync_message;
  EXPECT_EQ(r->ok, 10u);
  EXPECT_EQ(r->rejected_async, 0u);
  EXPECT_EQ(h.rt().query<NodeState>(b, "get")->hellos, 10u);
  h.settle();
}

TEST(R2_Queues, CapacityIsPerCanisterPair) {
  Harness h(with_capacity(10));
  auto a = h.install<Node>(0);
  auto b = h.install<Node>(0);
  auto c = h.install<Node>(0);
  auto r = h.update<FanResult>(a, "fan", std::vector<CanisterId>{b, c}, uint64_t{40},
                               std::string("hello"));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->ok, 20u) << "10 to each of the two peers";
  EXPECT_EQ(r->failed_sync, 20u);
  // And another caller towards the same callee has its own queues.
  auto r2 =
      h.update<FanResult>(c, "fan", std::vector<CanisterId>{b}, uint64_t{10}, std::string("hello"));
  ASSERT_TRUE(r2) << describe(r2);
  EXPECT_EQ(r2->ok, 10u);
  h.settle();
}

TEST(R2_Queues, ResponsesNeverFailForLackOfSpace) {
  // A sends `capacity` requests to B. Each inducted request reserved a response slot in B's
  // output queue towards A, so while B handles them it cannot call A back (synchronous
  // SYS_TRANSIENT), but every one of its responses goes out and arrives.
  for (uint32_t subnets : {1u, 2u}) {
    SCOPED_TRACE(subnets);
    Harness h(with_capacity(20, subnets));
    auto a = h.install<Node>(0);
    auto b = h.install<Node>(subnets - 1);
    auto r = h.update<FanResult>(a, "fan", std::vector<CanisterId>{b}, uint64_t{20},
                                 std::string("pingback"));
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(r->failed_sync, 0u);
    EXPECT_EQ(r->ok, 20u) << "every response arrived";
    auto st = h.rt().query<NodeState>(b, "get").value();
    EXPECT_EQ(st.pingback_sync_failures, 20u);
    EXPECT_EQ(st.pingback_accepted, 0u);
    EXPECT_EQ(h.rt().query<NodeState>(a, "get")->hellos, 0u);
    h.settle();
  }
}

TEST(R2_Queues, ReservedResponseSlotsRefuseInboundRequestsAtInduction) {
  // Capacity 20. In the same round A sends 20 requests to B and B sends one request to A. When
  // B's request reaches A, A's input queue from B is fully reserved for the 20 responses: the
  // request is refused with SYS_TRANSIENT. Likewise B reserved one slot of its input queue from
  // A for its own response, so it takes only 19 of A's requests. No response is ever refused.
  // Across subnets the requests arrive through streams; on one subnet A's 20 requests reach B
  // as one batch that does not fit whole, so induction goes message by message (R2 exactly as
  // for single messages).
  for (uint32_t subnets : {2u, 1u}) {
    SCOPED_TRACE(subnets);
    Harness h(with_capacity(20, subnets));
    auto a = h.install<Node>(0);
    auto b = h.install<Node>(subnets - 1);
    auto fan = h.submit(a, "fan", std::vector<CanisterId>{b}, uint64_t{20}, std::string("hello"));
    auto back = h.submit(b, "call_peer", a);
    h.settle();
    auto fr = h.result<FanResult>(fan);
    ASSERT_TRUE(fr && *fr) << (fr ? describe(*fr) : "unanswered");
    EXPECT_EQ((*fr)->failed_sync, 0u);
    EXPECT_EQ((*fr)->ok, 19u);
    EXPECT_EQ((*fr)->rejected_async, 1u);
    EXPECT_EQ((*fr)->rejected_async_transient, 1u) << (*fr)->first_async_message;
    auto br = h.result<Outcome>(back);
    ASSERT_TRUE(br && *br) << (br ? describe(*br) : "unanswered");
    EXPECT_EQ((*br)->reject_code(), RejectCode::sys_transient) << (*br)->message;
    EXPECT_EQ(h.rt().query<NodeState>(a, "get")->hellos, 0u);
    EXPECT_EQ(h.rt().query<NodeState>(b, "get")->hellos, 19u);
  }
}

TEST(R2_Queues, IngressQueueCapacityRefusesTheExcessWithSysTransient) {
  Config cfg;
  cfg.ingress_queue_capacity = 5;
  Harness h(cfg);
  auto a = h.install<Node>(0);
  std::vector<IngressId> ids;
  for (int i = 0; i < 8; ++i)
    ids.push_back(h.submit(a, "hello"));
  h.settle();
  int ok = 0;
  int transient = 0;
  for (auto iid : ids) {
    auto r = h.result<void>(iid);
    ASSERT_TRUE(r.has_value());
    if (*r) {
      ++ok;
    } else if (r->error().code == RejectCode::sys_transient) {
      ++transient;
    }
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(transient, 3);
  EXPECT_EQ(h.rt().query<NodeState>(a, "get")->hellos, 5u);
}

TEST(R2_Queues, RandomTrafficThroughTinyQueuesKeepsEveryInvariant) {
  // Capacity 3, nine canisters on three subnets, two threads, random fan-out: plenty of full
  // queues, both at issue (synchronous) and at induction (asynchronous). The harness checks
  // after every round that no queue exceeds its capacity and every response found its reserved
  // slot; at the end every call was answered exactly once.
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    Config cfg = with_capacity(3, 3);
    cfg.threads = 2;
    cfg.seed = seed;
    Harness h(cfg);
    std::vector<CanisterId> ids;
    for (uint32_t i = 0; i < 9; ++i)
      ids.push_back(h.install<Spray>(i % 3));
    for (auto id : ids)
      ASSERT_TRUE(h.update<void>(id, "init", ids));
    for (int round = 0; round < 5; ++round) {
      for (auto id : ids)
        h.submit(id, "spray", uint64_t{4});
      h.tick();
    }
    h.settle();
    uint64_t sync = 0, async = 0, ok = 0;
    for (auto id : ids) {
      auto st = h.rt().query<SprayState>(id, "get").value();
      sync += st.sync_transient;
      async += st.async_transient;
      ok += st.ok;
    }
    EXPECT_GT(ok, 100u);
    EXPECT_GT(sync, 0u) << "the scenario should fill output queues";
    EXPECT_GT(async, 0u) << "the scenario should fill input queues at induction";
    if (HasFailure()) return;
  }
}
