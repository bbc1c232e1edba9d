// Rule R9: lifecycle. Running -> Stopping (new calls rejected with CANISTER_ERROR, responses
// still processed) -> Stopped (no open call contexts); start; upgrade (state kept through
// pre/post_upgrade, volatile pending contexts rejected "callback lost"); uninstall (open contexts
// rejected, callbacks dropped).
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

struct V1 : Canister<uint64_t> {
  static void methods(Methods<V1>& m) {
    m.update("inc", &V1::inc);
    m.update("ping", &V1::ping);
    m.update("await_remote", &V1::await_remote);
    m.update("call", &V1::call);
    m.update("version", &V1::version);
    m.query("get", &V1::get);
  }
  uint64_t inc(Ctx&) { return ++state(); }
  void ping(Ctx&) {}
  // +1 now, +100 in the callback (unless the callback is lost).
  Task<uint64_t> await_remote(Ctx& ctx, CanisterId remote) {
    state() += 1;
    auto r = co_await ctx.call<void>(remote, "ping");
    if (!r) throw Trap("remote failed: " + r.error().message);
    state() += 100;
    co_return state();
  }
  Task<Outcome> call(Ctx& ctx, CanisterId to, std::string method) {
    auto r = co_await ctx.call<void>(to, method);
    co_return outcome_of(r);
  }
  uint64_t version(Ctx&) { return 1; }
  uint64_t get(Ctx&) { return state(); }
};

// Same state layout, different code.
struct V2 : Canister<uint64_t> {
  static void methods(Methods<V2>& m) {
    m.update("inc", &V2::inc);
    m.update("ping", &V2::ping);
    m.update("version", &V2::version);
    m.query("get", &V2::get);
  }
  uint64_t inc(Ctx&) { return state() += 10; }
  void ping(Ctx&) {}
  uint64_t version(Ctx&) { return 2; }
  uint64_t get(Ctx&) { return state(); }
};

// A different state layout, migrated in post_upgrade.
struct V3State {
  uint64_t count = 0;
  std::string note;
  template <class A>
  void serialize(A& ar) { ar(count, note); }
};
struct V3 : Canister<V3State> {
  static void methods(Methods<V3>& m) {
    m.update("version", &V3::version);
    m.query("get", &V3::get);
    m.query("note", &V3::note);
  }
  void post_upgrade(const Bytes& stable) override {
    state().count = decode<uint64_t>(stable);
    state().note = "migrated from v1";
  }
  uint64_t version(Ctx&) { return 3; }
  uint64_t get(Ctx&) { return state().count; }
  std::string note(Ctx&) { return state().note; }
};

struct BrokenUpgrade : Canister<uint64_t> {
  static void methods(Methods<BrokenUpgrade>& m) { m.update("version", &BrokenUpgrade::version); }
  void post_upgrade(const Bytes&) override { throw Trap("post_upgrade refuses"); }
  uint64_t version(Ctx&) { return 99; }
};

Config two_subnets() {
  Config c;
  c.subnets = 2;
  return c;
}

Status status_of(Harness& h, CanisterId id) { return h.rt().info(id)->status; }

// Checks after every round that a Stopped canister has no open call context (R9).
void tick_checked(Harness& h, const std::vector<CanisterId>& ids) {
  h.tick();
  for (auto id : ids) {
    auto i = h.rt().info(id);
    if (i->status == Status::stopped) {
      EXPECT_EQ(i->open_call_contexts, 0u)
          << id.to_string() << " is stopped with open call contexts (R9), round "
          << h.rt().round();
    }
  }
}

}  // namespace

TEST(R9_Lifecycle, StopWithoutOpenContextsStopsAtOnceAndRejectsCalls) {
  Harness h(Config{});
  auto a = h.install<V1>(0);
  auto c = h.install<V1>(0);
  ASSERT_TRUE(h.update<uint64_t>(a, "inc"));
  ASSERT_TRUE(h.rt().stop(a));
  EXPECT_EQ(status_of(h, a), Status::stopped);
  auto ingress = h.update<uint64_t>(a, "inc");
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(ingress.error().message, "stopped")) << ingress.error().message;
  auto call = h.update<Outcome>(c, "call", a, std::string("ping"));
  ASSERT_TRUE(call) << describe(call);
  EXPECT_EQ(call->reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains(call->message, "stopped")) << call->message;
  // A stopped canister answers no queries either (as on the IC).
  auto q = h.rt().query<uint64_t>(a, "get");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, RejectCode::canister_error);
  ASSERT_TRUE(h.rt().start(a));
  EXPECT_EQ(h.rt().query<uint64_t>(a, "get").value(), 1u);
  EXPECT_EQ(status_of(h, a), Status::running);
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 2u);
  h.settle();
}

TEST(R9_Lifecycle, StoppingRejectsNewCallsButProcessesResponses) {
  Harness h(two_subnets());
  auto a = h.install<V1>(0);
  auto remote = h.install<V1>(1);
  auto c = h.install<V1>(0);
  auto pending = h.submit(a, "await_remote", remote);
  h.tick();
  ASSERT_EQ(h.rt().info(a)->open_call_contexts, 1u);
  ASSERT_TRUE(h.rt().stop(a));
  EXPECT_EQ(status_of(h, a), Status::stopping);
  // New calls are rejected while stopping: from ingress and from another canister.
  auto ingress = h.submit(a, "inc");
  auto from_c = h.submit(c, "call", a, std::string("ping"));
  uint64_t rounds = 0;
  while (status_of(h, a) != Status::stopped && rounds < 100) {
    tick_checked(h, {a});
    ++rounds;
  }
  EXPECT_EQ(status_of(h, a), Status::stopped);
  h.settle();
  auto r = h.result<uint64_t>(pending);
  ASSERT_TRUE(r && *r) << (r ? describe(*r) : "unanswered");
  EXPECT_EQ(**r, 101u) << "the response was processed while stopping";
  auto ri = h.result<uint64_t>(ingress);
  ASSERT_TRUE(ri && !*ri);
  EXPECT_EQ(ri->error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(ri->error().message, "stopping")) << ri->error().message;
  auto rc = h.result<Outcome>(from_c);
  ASSERT_TRUE(rc && *rc);
  EXPECT_EQ((*rc)->reject_code(), RejectCode::canister_error) << (*rc)->message;
}

TEST(R9_Lifecycle, RequestsQueuedBeforeStopAreNotExecutedByAStoppedCanister) {
  // One message per canister per round (canister_round_cost_max = message_base_cost): after the
  // first round two ingress messages are still queued at `a`. Once `a` is stopped they must be
  // rejected with CANISTER_ERROR, not executed: a Stopped canister runs nothing and opens no
  // call context.
  Config cfg = two_subnets();
  cfg.canister_round_cost_max = cfg.message_base_cost;
  Harness h(cfg);
  auto a = h.install<V1>(0);
  auto remote = h.install<V1>(1);
  auto first = h.submit(a, "inc");
  auto second = h.submit(a, "await_remote", remote);
  auto third = h.submit(a, "inc");
  h.tick();
  ASSERT_TRUE(h.result<uint64_t>(first).has_value());
  ASSERT_FALSE(h.rt().ingress_result(second).has_value()) << "test setup: expected it queued";
  ASSERT_TRUE(h.rt().stop(a));
  ASSERT_EQ(status_of(h, a), Status::stopped);
  for (int i = 0; i < 20 && !h.rt().idle(); ++i) tick_checked(h, {a});
  h.settle();
  for (auto iid : {second, third}) {
    auto r = h.result<uint64_t>(iid);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(*r) << "a stopped canister executed a queued message";
    if (!*r) {
      EXPECT_EQ(r->error().code, RejectCode::canister_error);
    }
  }
  ASSERT_TRUE(h.rt().start(a));
  EXPECT_EQ(h.rt().query<uint64_t>(a, "get").value(), 1u) << "only the first message ran";
}

TEST(R9_Lifecycle, StartWhileStoppingGoesBackToRunning) {
  Harness h(two_subnets());
  auto a = h.install<V1>(0);
  auto remote = h.install<V1>(1);
  auto pending = h.submit(a, "await_remote", remote);
  h.tick();
  ASSERT_TRUE(h.rt().stop(a));
  ASSERT_EQ(status_of(h, a), Status::stopping);
  ASSERT_TRUE(h.rt().start(a));
  EXPECT_EQ(status_of(h, a), Status::running);
  EXPECT_TRUE(h.update<uint64_t>(a, "inc"));
  h.settle();
  auto r = h.result<uint64_t>(pending);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(status_of(h, a), Status::running);
}

TEST(R9_Lifecycle, UpgradeKeepsStateThroughSerialization) {
  Harness h(Config{});
  auto a = h.install<V1>(0, 41);
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 42u);
  ASSERT_TRUE(h.rt().upgrade<V2>(a));
  EXPECT_EQ(h.update<uint64_t>(a, "version").value(), 2u);
  EXPECT_EQ(h.rt().query<uint64_t>(a, "get").value(), 42u);
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 52u) << "the new code runs on the old state";
  ASSERT_TRUE(h.rt().upgrade<V1>(a));
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 53u);
  h.settle();
}

TEST(R9_Lifecycle, UpgradeMigratesStateInPostUpgrade) {
  Harness h(Config{});
  auto a = h.install<V1>(0, 7);
  ASSERT_TRUE(h.rt().upgrade<V3>(a));
  EXPECT_EQ(h.update<uint64_t>(a, "version").value(), 3u);
  EXPECT_EQ(h.rt().query<uint64_t>(a, "get").value(), 7u);
  EXPECT_EQ(h.rt().query<std::string>(a, "note").value(), "migrated from v1");
  h.settle();
}

TEST(R9_Lifecycle, FailedUpgradeKeepsTheOldCodeAndState) {
  Harness h(Config{});
  auto a = h.install<V1>(0, 5);
  auto r = h.rt().upgrade<BrokenUpgrade>(a);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r.error().message, "post_upgrade refuses")) << r.error().message;
  EXPECT_EQ(h.update<uint64_t>(a, "version").value(), 1u);
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 6u);
  h.settle();
}

TEST(R9_Lifecycle, UpgradeRejectsPendingVolatileContextsWithCallbackLost) {
  Harness h(two_subnets());
  auto a = h.install<V1>(0);
  auto remote = h.install<V1>(1);
  auto c = h.install<V1>(0);
  auto from_ingress = h.submit(a, "await_remote", remote);
  h.tick();
  ASSERT_EQ(h.rt().info(a)->open_call_contexts, 1u);
  ASSERT_EQ(h.rt().query<uint64_t>(a, "get").value(), 1u);
  ASSERT_TRUE(h.rt().upgrade<V1>(a));
  h.tick();
  auto r = h.result<uint64_t>(from_ingress);
  ASSERT_TRUE(r.has_value()) << "the pending context must be rejected at the upgrade (the next "
                                "round at the latest), not when the lost callback's response "
                                "happens to come back";
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r->error().message, "callback lost")) << r->error().message;
  h.settle();
  EXPECT_EQ(h.rt().query<uint64_t>(a, "get").value(), 1u)
      << "the lost callback must not run (it would add 100)";
  (void)c;
}

TEST(R9_Lifecycle, UpgradeRejectsPendingContextsOfInterCanisterCallers) {
  Harness h(two_subnets());
  auto a = h.install<V1>(0);
  auto remote = h.install<V1>(1);
  struct Caller : Canister<Unit> {
    static void methods(Methods<Caller>& m) { m.update("go", &Caller::go); }
    Task<Outcome> go(Ctx& ctx, CanisterId a_id, CanisterId remote_id) {
      auto r = co_await ctx.call<uint64_t>(a_id, "await_remote", remote_id);
      co_return outcome_of(r);
    }
  };
  auto c = h.install<Caller>(0);
  auto iid = h.submit(c, "go", a, remote);
  h.tick();
  ASSERT_EQ(h.rt().info(a)->open_call_contexts, 1u);
  ASSERT_TRUE(h.rt().upgrade<V2>(a));
  h.settle();
  auto r = h.result<Outcome>(iid);
  ASSERT_TRUE(r && *r) << (r ? describe(*r) : "unanswered");
  EXPECT_EQ((*r)->reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains((*r)->message, "callback lost")) << (*r)->message;
  EXPECT_EQ(h.rt().query<uint64_t>(a, "get").value(), 1u);
}

TEST(R9_Lifecycle, UninstallRejectsOpenContextsAndDropsCallbacks) {
  Harness h(two_subnets());
  auto a = h.install<V1>(0, 0, 500);
  auto remote = h.install<V1>(1);
  auto c = h.install<V1>(0);
  auto pending = h.submit(a, "await_remote", remote);
  h.tick();
  ASSERT_TRUE(h.rt().uninstall(a));
  EXPECT_FALSE(h.rt().info(a)->has_code);
  h.settle();
  auto r = h.result<uint64_t>(pending);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r->error().message, "uninstalled")) << r->error().message;
  // Calls, ingress and queries to the empty canister are rejected; the runtime keeps going.
  auto call = h.update<Outcome>(c, "call", a, std::string("ping"));
  ASSERT_TRUE(call) << describe(call);
  EXPECT_EQ(call->reject_code(), RejectCode::canister_error);
  auto ingress = h.update<uint64_t>(a, "inc");
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::canister_error);
  auto q = h.rt().query<uint64_t>(a, "get");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, RejectCode::canister_error);
  EXPECT_EQ(h.balance(a), 500u) << "uninstall keeps the cycles";
  // Installing code again (an upgrade of the empty canister) starts from a fresh state.
  ASSERT_TRUE(h.rt().upgrade<V1>(a));
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 1u);
  h.settle();
}

TEST(R9_Lifecycle, UpgradeAndUninstallRefundCyclesHeldByOpenContexts) {
  // A caller attaches cycles to a call into `a`; `a` keeps its context open (awaiting a remote
  // call) without accepting them. Upgrading or uninstalling `a` rejects the context and refunds
  // the attached cycles to the caller (R8); the harness checks conservation at the end.
  for (bool uninstall : {false, true}) {
    SCOPED_TRACE(uninstall ? "uninstall" : "upgrade");
    Harness h(two_subnets());
    auto a = h.install<V1>(0, 0, 100);
    auto remote = h.install<V1>(1);
    struct Payer : Canister<Unit> {
      static void methods(Methods<Payer>& m) { m.update("pay", &Payer::pay); }
      Task<uint64_t> pay(Ctx& ctx, CanisterId to, CanisterId remote_id) {
        auto c = ctx.call_with<uint64_t>(CallOptions{.cycles = 700}, to, "await_remote", remote_id);
        auto r = co_await c;
        if (r) throw Trap("expected a reject");
        co_return c.refunded_cycles();
      }
    };
    auto payer = h.install<Payer>(0, {}, 1'000);
    auto iid = h.submit(payer, "pay", a, remote);
    h.tick();
    ASSERT_EQ(h.rt().info(a)->open_call_contexts, 1u);
    EXPECT_EQ(h.balance(payer), 300u);
    if (uninstall) {
      ASSERT_TRUE(h.rt().uninstall(a));
    } else {
      ASSERT_TRUE(h.rt().upgrade<V2>(a));
    }
    h.settle();
    auto r = h.result<uint64_t>(iid);
    ASSERT_TRUE(r && *r) << (r ? describe(*r) : "unanswered");
    EXPECT_EQ(**r, 700u);
    EXPECT_EQ(h.balance(payer), 1'000u);
    EXPECT_EQ(h.balance(a), 100u);
  }
}

TEST(R9_Lifecycle, QueuedIngressOfAnUninstalledCanisterIsRejected) {
  Config cfg;
  cfg.canister_round_cost_max = cfg.message_base_cost;  // one message per round
  Harness h(cfg);
  auto a = h.install<V1>(0);
  std::vector<IngressId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(h.submit(a, "inc"));
  h.tick();
  ASSERT_TRUE(h.rt().uninstall(a));
  h.settle();
  EXPECT_TRUE(*h.result<uint64_t>(ids[0]));
  for (int i = 1; i < 3; ++i) {
    auto r = h.result<uint64_t>(ids[i]);
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().code, RejectCode::canister_error);
  }
}

TEST(R9_Lifecycle, StopUpgradeStartKeepsState) {
  Harness h(Config{});
  auto a = h.install<V1>(0, 3);
  ASSERT_TRUE(h.rt().stop(a));
  ASSERT_EQ(status_of(h, a), Status::stopped);
  ASSERT_TRUE(h.rt().upgrade<V2>(a));
  EXPECT_EQ(status_of(h, a), Status::stopped) << "an upgrade does not start the canister";
  ASSERT_TRUE(h.rt().start(a));
  EXPECT_EQ(h.update<uint64_t>(a, "inc").value(), 13u);
  h.settle();
}

TEST(R9_Lifecycle, LifecycleCallsOnUnknownCanisterAreRejected) {
  Harness h(Config{});
  const CanisterId nobody{777};
  for (auto r : {h.rt().stop(nobody), h.rt().start(nobody), h.rt().uninstall(nobody),
                 h.rt().upgrade<V1>(nobody), h.rt().deposit_cycles(nobody, 5)}) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, RejectCode::destination_invalid);
  }
  EXPECT_FALSE(h.rt().info(nobody).has_value());
  h.settle();
}
