// Rule R5: payload limits (10 MiB within a subnet, 2 MiB across), the callback quota and the
// other per-canister limits; exceeding one is a synchronous failure with a clear message.
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

constexpr uint64_t kMiB = 1024 * 1024;
// cereal encodes a std::string as an 8-byte length and the characters.
constexpr uint64_t kStringOverhead = 8;

struct Probe {
  bool failed_sync = false;
  Outcome outcome;
  template <class A>
  void serialize(A& ar) { ar(failed_sync, outcome); }
};

struct Sink : Canister<uint64_t> {
  static void methods(Methods<Sink>& m) {
    m.update("sink", &Sink::sink);
    m.update("big_reply", &Sink::big_reply);
    m.update("big_reply_task", &Sink::big_reply_task);
    m.update("big_reply_after_await", &Sink::big_reply_after_await);
    m.update("send", &Sink::send);
    m.update("fan", &Sink::fan);
    m.update("hold", &Sink::hold);
    m.update("hello", &Sink::hello);
    m.query("received", &Sink::received);
  }
  uint64_t sink(Ctx&, std::string data) {
    state() += data.size();
    return data.size();
  }
  std::string big_reply(Ctx&, uint64_t n) { return std::string(n, 'r'); }
  Task<std::string> big_reply_task(Ctx&, uint64_t n) { co_return std::string(n, 'r'); }
  Task<std::string> big_reply_after_await(Ctx& ctx, uint64_t n) {
    auto r = co_await ctx.call<void>(ctx.self(), "hello");
    if (!r) throw Trap("hello failed");
    state() += 1;  // rolled back with the trap
    co_return std::string(n, 'r');
  }
  // Sends a string so that the encoded payload is exactly `payload_bytes` long.
  Task<Probe> send(Ctx& ctx, CanisterId to, uint64_t payload_bytes) {
    auto c = ctx.call<uint64_t>(to, "sink", std::string(payload_bytes - kStringOverhead, 'x'));
    Probe p;
    p.failed_sync = c.failed_synchronously();
    auto r = co_await std::move(c);
    p.outcome = outcome_of(r);
    co_return p;
  }
  // n parallel calls of `method` on `to`; returns the outcomes in order.
  Task<std::vector<Outcome>> fan(Ctx& ctx, CanisterId to, uint64_t n, std::string method) {
    std::vector<Call<void>> calls;
    for (uint64_t i = 0; i < n; ++i) calls.push_back(ctx.call<void>(to, method));
    auto rs = co_await when_all_settled(std::move(calls));
    std::vector<Outcome> out;
    for (auto& r : rs) out.push_back(outcome_of(r));
    co_return out;
  }
  // Keeps its call context open across a call to `to`.
  Task<void> hold(Ctx& ctx, CanisterId to) {
    auto r = co_await ctx.call<void>(to, "hello");
    if (!r) throw Trap("hold: " + r.error().message);
  }
  void hello(Ctx&) {}
  uint64_t received(Ctx&) { return state(); }
};

Config small_limits() {
  Config c;
  c.subnets = 2;
  return c;
}

}  // namespace

TEST(R5_Limits, SameSubnetPayloadUpTo10MiBIsAccepted) {
  Harness h(small_limits());
  auto a = h.install<Sink>(0);
  auto b = h.install<Sink>(0);
  auto at = h.update<Probe>(a, "send", b, uint64_t{10 * kMiB});
  ASSERT_TRUE(at) << describe(at);
  EXPECT_FALSE(at->failed_sync);
  EXPECT_TRUE(at->outcome.ok()) << at->outcome.message;
  auto over = h.update<Probe>(a, "send", b, uint64_t{10 * kMiB + 1});
  ASSERT_TRUE(over) << describe(over);
  EXPECT_TRUE(over->failed_sync);
  EXPECT_EQ(over->outcome.reject_code(), RejectCode::sys_fatal);
  EXPECT_TRUE(contains(over->outcome.message, "exceeds")) << over->outcome.message;
  EXPECT_EQ(h.rt().query<uint64_t>(b, "received").value(), 10 * kMiB - kStringOverhead);
  h.settle();
}

TEST(R5_Limits, CrossSubnetPayloadIsLimitedTo2MiB) {
  Harness h(small_limits());
  auto a = h.install<Sink>(0);
  auto local = h.install<Sink>(0);
  auto remote = h.install<Sink>(1);
  auto at = h.update<Probe>(a, "send", remote, uint64_t{2 * kMiB});
  ASSERT_TRUE(at) << describe(at);
  EXPECT_FALSE(at->failed_sync);
  EXPECT_TRUE(at->outcome.ok()) << at->outcome.message;
  // 3 MiB: fine within the subnet, a synchronous SYS_FATAL across.
  auto three_local = h.update<Probe>(a, "send", local, uint64_t{3 * kMiB});
  ASSERT_TRUE(three_local) << describe(three_local);
  EXPECT_TRUE(three_local->outcome.ok()) << three_local->outcome.message;
  auto over = h.update<Probe>(a, "send", remote, uint64_t{2 * kMiB + 1});
  ASSERT_TRUE(over) << describe(over);
  EXPECT_TRUE(over->failed_sync);
  EXPECT_EQ(over->outcome.reject_code(), RejectCode::sys_fatal);
  EXPECT_TRUE(contains(over->outcome.message, "cross-subnet")) << over->outcome.message;
  h.settle();
}

TEST(R5_Limits, PayloadLimitsAreConfigurable) {
  Config cfg = small_limits();
  cfg.payload_max_bytes_local = 1000;
  cfg.payload_max_bytes_xnet = 100;
  Harness h(cfg);
  auto a = h.install<Sink>(0);
  auto local = h.install<Sink>(0);
  auto remote = h.install<Sink>(1);
  EXPECT_TRUE(h.update<Probe>(a, "send", local, uint64_t{1000})->outcome.ok());
  EXPECT_TRUE(h.update<Probe>(a, "send", local, uint64_t{1001})->failed_sync);
  EXPECT_TRUE(h.update<Probe>(a, "send", remote, uint64_t{100})->outcome.ok());
  EXPECT_TRUE(h.update<Probe>(a, "send", remote, uint64_t{101})->failed_sync);
  // Ingress is limited like a cross-subnet message.
  auto big = h.update<uint64_t>(local, "sink", std::string(200, 'i'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, RejectCode::sys_fatal);
  h.settle();
}

TEST(R5_Limits, OversizedIngressIsRejectedAtOnce) {
  Harness h(Config{});
  auto a = h.install<Sink>(0);
  auto iid = h.submit(a, "sink", std::string(2 * kMiB, 'i'));
  auto r = h.rt().ingress_result(iid);
  ASSERT_TRUE(r.has_value()) << "answered without running a round";
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().code, RejectCode::sys_fatal);
  EXPECT_TRUE(contains(r->error().message, "exceeds")) << r->error().message;
  h.settle();
  EXPECT_EQ(h.rt().query<uint64_t>(a, "received").value(), 0u);
}

TEST(R5_Limits, OversizedReplyAcrossSubnetsIsAnErrorNotDelivered) {
  // The 2 MiB cross-subnet limit holds for responses as well as requests: a callee whose reply
  // exceeds it must not get it delivered; the caller sees an error (CANISTER_ERROR, the callee
  // trapped when replying) instead of a 3 MiB payload crossing the subnet boundary.
  Harness h(small_limits());
  auto a = h.install<Sink>(0);
  auto remote = h.install<Sink>(1);
  struct Fetch : Canister<Unit> {
    static void methods(Methods<Fetch>& m) { m.update("fetch", &Fetch::fetch); }
    Task<Outcome> fetch(Ctx& ctx, CanisterId from, uint64_t n) {
      auto r = co_await ctx.call<std::string>(from, "big_reply", n);
      if (r && r->size() != n) throw Trap("wrong size");
      co_return outcome_of(r);
    }
  };
  auto f = h.install<Fetch>(0);
  auto small = h.update<Outcome>(f, "fetch", remote, uint64_t{kMiB});
  ASSERT_TRUE(small) << describe(small);
  EXPECT_TRUE(small->ok()) << small->message;
  auto big = h.update<Outcome>(f, "fetch", remote, uint64_t{3 * kMiB});
  ASSERT_TRUE(big) << describe(big);
  EXPECT_FALSE(big->ok()) << "a 3 MiB reply crossed subnets (limit 2 MiB)";
  EXPECT_EQ(big->reject_code(), RejectCode::canister_error) << big->message;
  (void)a;
  h.settle();
}

TEST(R5_Limits, OversizedReplyFromACoroutineIsATrapNotACrash) {
  // The same limit when the reply is a coroutine's co_return value, in its first execution and
  // in a callback: the callee traps (CANISTER_ERROR), the runtime keeps running.
  Harness h(small_limits());
  auto remote = h.install<Sink>(1);
  struct Fetch : Canister<Unit> {
    static void methods(Methods<Fetch>& m) { m.update("fetch", &Fetch::fetch); }
    Task<Outcome> fetch(Ctx& ctx, CanisterId from, std::string method, uint64_t n) {
      auto r = co_await ctx.call<std::string>(from, method, n);
      co_return outcome_of(r);
    }
  };
  auto f = h.install<Fetch>(0);
  for (const char* method : {"big_reply_task", "big_reply_after_await"}) {
    SCOPED_TRACE(method);
    auto big = h.update<Outcome>(f, "fetch", remote, std::string(method), uint64_t{3 * kMiB});
    ASSERT_TRUE(big) << describe(big);
    EXPECT_EQ(big->reject_code(), RejectCode::canister_error) << big->message;
    EXPECT_TRUE(contains(big->message, "exceeds")) << big->message;
    auto ok = h.update<Outcome>(f, "fetch", remote, std::string(method), uint64_t{100});
    ASSERT_TRUE(ok) << describe(ok);
    EXPECT_TRUE(ok->ok()) << ok->message;
  }
  EXPECT_EQ(h.rt().query<uint64_t>(remote, "received").value(), 1u)
      << "only the small reply's callback committed";
  h.settle();
}

TEST(R5_Limits, CallbackQuotaFailsSynchronouslyAndIsReleased) {
  Config cfg;
  cfg.callbacks_max_per_canister = 3;
  Harness h(cfg);
  auto a = h.install<Sink>(0);
  auto b = h.install<Sink>(0);
  for (int round = 0; round < 2; ++round) {
    auto r = h.update<std::vector<Outcome>>(a, "fan", b, uint64_t{5}, std::string("hello"));
    ASSERT_TRUE(r) << describe(r);
    ASSERT_EQ(r->size(), 5u);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE((*r)[i].ok()) << i << ": " << (*r)[i].message;
    for (int i = 3; i < 5; ++i) {
      EXPECT_EQ((*r)[i].reject_code(), RejectCode::sys_transient) << i;
      EXPECT_TRUE(contains((*r)[i].message, "callback quota")) << (*r)[i].message;
    }
  }
  EXPECT_EQ(h.rt().stats().calls_failed_sync, 4u);
  h.settle();
}

TEST(R5_Limits, CallbackQuotaCountsCallsOfAllOpenContexts) {
  // Two ingress messages, each holding one call open across subnets; quota 1: the second
  // message's call fails synchronously (and it traps on that), the first succeeds.
  Config cfg = small_limits();
  cfg.callbacks_max_per_canister = 1;
  Harness h(cfg);
  auto a = h.install<Sink>(0);
  auto remote = h.install<Sink>(1);
  auto first = h.submit(a, "hold", remote);
  auto second = h.submit(a, "hold", remote);
  h.settle();
  auto r1 = h.result<void>(first);
  auto r2 = h.result<void>(second);
  ASSERT_TRUE(r1 && r2);
  EXPECT_TRUE(*r1) << describe(*r1);
  ASSERT_FALSE(*r2);
  EXPECT_EQ(r2->error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(r2->error().message, "callback quota")) << r2->error().message;
}

TEST(R5_Limits, CallContextLimitPerCanisterIsEnforced) {
  // Config::call_contexts_max_per_canister bounds the open call contexts of one canister. With
  // 2, a canister that receives 5 requests that each hold their context open across a
  // cross-subnet call may not open more than 2 at a time: the excess requests are rejected
  // (not executed), never crash the runtime.
  Config cfg = small_limits();
  cfg.call_contexts_max_per_canister = 2;
  Harness h(cfg);
  auto a = h.install<Sink>(0);
  auto b = h.install<Sink>(0);
  auto remote = h.install<Sink>(1);
  struct FanHold : Canister<Unit> {
    static void methods(Methods<FanHold>& m) { m.update("go", &FanHold::go); }
    Task<std::vector<Outcome>> go(Ctx& ctx, CanisterId holder, CanisterId remote_id) {
      std::vector<Call<void>> calls;
      for (int i = 0; i < 5; ++i) calls.push_back(ctx.call<void>(holder, "hold", remote_id));
      auto rs = co_await when_all_settled(std::move(calls));
      std::vector<Outcome> out;
      for (auto& r : rs) out.push_back(outcome_of(r));
      co_return out;
    }
  };
  auto driver = h.install<FanHold>(0);
  auto iid = h.submit(driver, "go", b, remote);
  uint64_t max_open = 0;
  for (int i = 0; i < 50 && !h.rt().ingress_result(iid); ++i) {
    h.tick();
    max_open = std::max<uint64_t>(max_open, h.rt().info(b)->open_call_contexts);
  }
  EXPECT_LE(max_open, 2u) << "open call contexts exceeded call_contexts_max_per_canister";
  auto r = h.result<std::vector<Outcome>>(iid);
  ASSERT_TRUE(r && *r);
  size_t ok = 0;
  for (auto& o : **r) ok += o.ok() ? 1 : 0;
  EXPECT_GE(ok, 2u);
  EXPECT_LT(ok, 5u);
  (void)a;
  h.settle();
}
