// Bad input: unknown canister, unknown method, malformed payload, oversized payload, queue full,
// callback quota, reply twice, trap in a method and in a callback, call to a stopped canister.
// Each gets its documented reject (R4), the runtime keeps running, and nothing is lost (R1).
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

struct Target : Canister<uint64_t> {
  static void methods(Methods<Target>& m) {
    m.update("add", &Target::add);
    m.update("noop", &Target::noop);
    m.update("name", &Target::name);
    m.update("trap", &Target::trap);
    m.update("reply_twice", &Target::reply_twice);
    m.query("get", &Target::get);
  }
  uint64_t add(Ctx&, uint64_t d) { return state() += d; }
  void noop(Ctx&) {}
  std::string name(Ctx&) { return "target"; }
  void trap(Ctx&) { throw Trap("target trapped"); }
  NoReply reply_twice(Ctx& ctx) {
    ctx.reply();
    ctx.reply();
    return {};
  }
  uint64_t get(Ctx&) { return state(); }
};

struct Prober : Canister<std::vector<Outcome>> {
  static void methods(Methods<Prober>& m) {
    m.update("raw", &Prober::raw);
    m.update("raw_zeros", &Prober::raw_zeros);
    m.update("fan", &Prober::fan);
    m.update("expect_u64_from_string", &Prober::expect_u64_from_string);
    m.update("catch_malformed_reply", &Prober::catch_malformed_reply);
    m.update("trap_in_callback", &Prober::trap_in_callback);
    m.query("seen", &Prober::seen);
  }
  // Sends an arbitrary payload to to.method; the reply is expected empty.
  Task<Outcome> raw(Ctx& ctx, CanisterId to, std::string method, std::vector<uint8_t> payload) {
    auto r = co_await ctx.call_raw<void>(CallOptions{}, to, method, payload);
    co_return outcome_of(r);
  }
  // Like raw, with a payload of n zero bytes made here (too big to come in through ingress).
  Task<Outcome> raw_zeros(Ctx& ctx, CanisterId to, std::string method, uint64_t n) {
    auto r = co_await ctx.call_raw<void>(CallOptions{}, to, method, Bytes(n, 0));
    co_return outcome_of(r);
  }
  Task<std::vector<Outcome>> fan(Ctx& ctx, CanisterId to, uint64_t n) {
    std::vector<Call<void>> calls;
    for (uint64_t i = 0; i < n; ++i) calls.push_back(ctx.call<void>(to, "noop"));
    auto rs = co_await when_all_settled(std::move(calls));
    std::vector<Outcome> out;
    for (auto& r : rs) out.push_back(outcome_of(r));
    co_return out;
  }
  // The reply is a string; decoding it as uint64_t throws MalformedPayload: a trap here.
  Task<uint64_t> expect_u64_from_string(Ctx& ctx, CanisterId to) {
    auto r = co_await ctx.call<uint64_t>(to, "name");
    co_return r ? *r : 0;
  }
  Task<std::string> catch_malformed_reply(Ctx& ctx, CanisterId to) {
    try {
      auto r = co_await ctx.call<uint64_t>(to, "name");
      (void)r;
      co_return "decoded?";
    } catch (const MalformedPayload& e) {
      co_return std::string("caught: ") + e.what();
    }
  }
  Task<void> trap_in_callback(Ctx& ctx, CanisterId to) {
    state().push_back(Outcome{0, "before"});
    auto r = co_await ctx.call<uint64_t>(to, "add", uint64_t{1});
    state().push_back(Outcome{0, "after"});
    (void)r;
    throw std::logic_error("callback trapped");
  }
  std::vector<Outcome> seen(Ctx&) { return state(); }
};

Config cfg() {
  Config c;
  c.subnets = 2;
  c.queue_capacity = 50;
  c.callbacks_max_per_canister = 80;
  return c;
}

struct World {
  Harness h{cfg()};
  CanisterId target = h.install<Target>(0);
  CanisterId remote = h.install<Target>(1);
  CanisterId prober = h.install<Prober>(0);
  // A normal call in between: the runtime keeps working, nothing was lost or added.
  void good_call() {
    const uint64_t before = h.rt().query<uint64_t>(target, "get").value();
    auto r = h.update<uint64_t>(target, "add", uint64_t{1});
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, before + 1);
  }
};

}  // namespace

TEST(BadInput_R4, UnknownCanisterIsDestinationInvalidEverywhere) {
  World w;
  const CanisterId nobody{4096};
  auto ingress = w.h.update<uint64_t>(nobody, "add", uint64_t{1});
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::destination_invalid);
  EXPECT_TRUE(contains(ingress.error().message, "c4096")) << ingress.error().message;
  auto q = w.h.rt().query<uint64_t>(nobody, "get");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, RejectCode::destination_invalid);
  auto call = w.h.update<Outcome>(w.prober, "raw", nobody, std::string("noop"), Bytes{});
  ASSERT_TRUE(call) << describe(call);
  EXPECT_EQ(call->reject_code(), RejectCode::destination_invalid);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R4, UnknownMethodIsCanisterErrorNamingTheMethod) {
  World w;
  auto ingress = w.h.update<void>(w.target, "frobnicate");
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(ingress.error().message, "frobnicate")) << ingress.error().message;
  auto q = w.h.rt().query<void>(w.target, "frobnicate");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, RejectCode::canister_error);
  for (auto to : {w.target, w.remote}) {
    auto call = w.h.update<Outcome>(w.prober, "raw", to, std::string("frobnicate"), Bytes{});
    ASSERT_TRUE(call) << describe(call);
    EXPECT_EQ(call->reject_code(), RejectCode::canister_error);
    EXPECT_TRUE(contains(call->message, "frobnicate")) << call->message;
  }
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R4, MalformedPayloadIsCanisterErrorAndChangesNothing) {
  World w;
  const std::vector<Bytes> bad = {
      Bytes{},                          // missing argument
      Bytes{1, 2, 3},                   // too short for a uint64
      Bytes{1, 0, 0, 0, 0, 0, 0, 0, 9}, // trailing byte
  };
  for (const auto& payload : bad) {
    SCOPED_TRACE(payload.size());
    auto ingress = w.h.rt().update_raw(w.target, "add", payload);
    ASSERT_FALSE(ingress);
    EXPECT_EQ(ingress.error().code, RejectCode::canister_error);
    EXPECT_TRUE(contains(ingress.error().message, "malformed payload")) << ingress.error().message;
    auto call = w.h.update<Outcome>(w.prober, "raw", w.remote, std::string("add"), payload);
    ASSERT_TRUE(call) << describe(call);
    EXPECT_EQ(call->reject_code(), RejectCode::canister_error);
    EXPECT_TRUE(contains(call->message, "malformed payload")) << call->message;
  }
  // Arguments to a method that takes none.
  auto extra = w.h.update<void>(w.target, "noop", uint64_t{5});
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().code, RejectCode::canister_error);
  EXPECT_EQ(w.h.rt().query<uint64_t>(w.target, "get").value(), 0u);
  EXPECT_EQ(w.h.rt().query<uint64_t>(w.remote, "get").value(), 0u);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R4, MalformedReplyTrapsTheCallerUnlessCaught) {
  World w;
  auto trapped = w.h.update<uint64_t>(w.prober, "expect_u64_from_string", w.remote);
  ASSERT_FALSE(trapped);
  EXPECT_EQ(trapped.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(trapped.error().message, "malformed payload")) << trapped.error().message;
  auto caught = w.h.update<std::string>(w.prober, "catch_malformed_reply", w.target);
  ASSERT_TRUE(caught) << describe(caught);
  EXPECT_TRUE(contains(*caught, "caught: malformed payload")) << *caught;
  // An ingress reply that does not decode as the expected type.
  auto wrong = w.h.update<uint64_t>(w.target, "name");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, RejectCode::sys_fatal);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R5, OversizedPayloadIsSysFatal) {
  World w;
  const uint64_t xnet = w.h.rt().config().payload_max_bytes_xnet;
  auto ingress = w.h.rt().update_raw(w.target, "add", Bytes(xnet + 1, 0));
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::sys_fatal);
  auto call = w.h.update<Outcome>(w.prober, "raw_zeros", w.remote, std::string("add"), xnet + 1);
  ASSERT_TRUE(call) << describe(call);
  EXPECT_EQ(call->reject_code(), RejectCode::sys_fatal);
  EXPECT_TRUE(contains(call->message, "exceeds")) << call->message;
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R2, QueueFullIsSysTransientAndTheRestSucceeds) {
  World w;
  auto r = w.h.update<std::vector<Outcome>>(w.prober, "fan", w.target, uint64_t{70});
  ASSERT_TRUE(r) << describe(r);
  size_t ok = 0;
  size_t transient = 0;
  for (auto& o : *r) {
    ok += o.ok() ? 1 : 0;
    transient += o.reject_code() == RejectCode::sys_transient ? 1 : 0;
  }
  EXPECT_EQ(ok, 50u);
  EXPECT_EQ(transient, 20u);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R5, CallbackQuotaIsSysTransient) {
  // 80 callbacks, 50 per queue: 50 to each of two callees hits the quota at 80.
  World w;
  struct Two : Canister<Unit> {
    static void methods(Methods<Two>& m) { m.update("go", &Two::go); }
    Task<std::vector<Outcome>> go(Ctx& ctx, CanisterId x, CanisterId y) {
      std::vector<Call<void>> calls;
      for (int i = 0; i < 50; ++i) {
        calls.push_back(ctx.call<void>(x, "noop"));
        calls.push_back(ctx.call<void>(y, "noop"));
      }
      auto rs = co_await when_all_settled(std::move(calls));
      std::vector<Outcome> out;
      for (auto& r : rs) out.push_back(outcome_of(r));
      co_return out;
    }
  };
  auto two = w.h.install<Two>(0);
  auto r = w.h.update<std::vector<Outcome>>(two, "go", w.target, w.remote);
  ASSERT_TRUE(r) << describe(r);
  size_t ok = 0;
  size_t quota = 0;
  for (auto& o : *r) {
    ok += o.ok() ? 1 : 0;
    quota += (o.reject_code() == RejectCode::sys_transient && contains(o.message, "callback quota"))
                 ? 1
                 : 0;
  }
  EXPECT_EQ(ok, 80u);
  EXPECT_EQ(quota, 20u);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R6, ReplyTwiceIsATrap) {
  World w;
  auto ingress = w.h.update<void>(w.target, "reply_twice");
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(ingress.error().message, "reply called twice")) << ingress.error().message;
  auto call = w.h.update<Outcome>(w.prober, "raw", w.remote, std::string("reply_twice"), Bytes{});
  ASSERT_TRUE(call) << describe(call);
  EXPECT_EQ(call->reject_code(), RejectCode::canister_error);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R7, TrapInMethodAndInCallback) {
  World w;
  auto in_method = w.h.update<Outcome>(w.prober, "raw", w.remote, std::string("trap"), Bytes{});
  ASSERT_TRUE(in_method) << describe(in_method);
  EXPECT_EQ(in_method->reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains(in_method->message, "target trapped")) << in_method->message;
  auto in_callback = w.h.update<void>(w.prober, "trap_in_callback", w.remote);
  ASSERT_FALSE(in_callback);
  EXPECT_EQ(in_callback.error().code, RejectCode::canister_error);
  EXPECT_TRUE(contains(in_callback.error().message, "callback trapped"))
      << in_callback.error().message;
  auto seen = w.h.rt().query<std::vector<Outcome>>(w.prober, "seen").value();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].message, "before");
  EXPECT_EQ(w.h.rt().query<uint64_t>(w.remote, "get").value(), 1u)
      << "the call made before the trapping callback happened";
  w.good_call();
  w.h.settle();
}

TEST(BadInput_R9, CallToStoppedCanisterIsCanisterError) {
  World w;
  ASSERT_TRUE(w.h.rt().stop(w.remote));
  auto call = w.h.update<Outcome>(w.prober, "raw", w.remote, std::string("noop"), Bytes{});
  ASSERT_TRUE(call) << describe(call);
  EXPECT_EQ(call->reject_code(), RejectCode::canister_error);
  EXPECT_TRUE(contains(call->message, "stopped")) << call->message;
  auto ingress = w.h.update<void>(w.remote, "noop");
  ASSERT_FALSE(ingress);
  EXPECT_EQ(ingress.error().code, RejectCode::canister_error);
  w.good_call();
  w.h.settle();
}

TEST(BadInput_API, MisuseOfTheApiThrowsInvalidArgument) {
  Config bad;
  bad.subnets = 0;
  EXPECT_THROW(Runtime{bad}, std::invalid_argument);
  Config also_bad;
  also_bad.payload_max_bytes_xnet = also_bad.payload_max_bytes_local + 1;
  EXPECT_THROW(Runtime{also_bad}, std::invalid_argument);
  Runtime rt(Config{});
  EXPECT_THROW(rt.subnet(5), std::invalid_argument);
  EXPECT_THROW(rt.install<Target>(SubnetId{3}), std::invalid_argument);
}

TEST(BadInput_All, EveryKindOfBadInputInOneRunLosesNothing) {
  // All the bad inputs at once, interleaved with good calls, submitted in the same rounds: every
  // ingress message is answered exactly once, every good increment is there, and the invariants
  // hold after every round (checked by the harness).
  World w;
  ASSERT_TRUE(w.h.rt().stop(w.remote));
  std::vector<IngressId> good_ids;
  std::vector<std::pair<IngressId, RejectCode>> bad_ids;
  const Bytes garbage{1, 2, 3};
  for (int rep = 0; rep < 5; ++rep) {
    good_ids.push_back(w.h.submit(w.target, "add", uint64_t{1}));
    bad_ids.push_back({w.h.submit(CanisterId{999}, "add", uint64_t{1}), RejectCode::destination_invalid});
    bad_ids.push_back({w.h.submit(w.target, "nope"), RejectCode::canister_error});
    bad_ids.push_back({w.h.submit_raw(w.target, "add", garbage), RejectCode::canister_error});
    bad_ids.push_back({w.h.submit_raw(w.target, "add", Bytes(3 * 1024 * 1024, 0)), RejectCode::sys_fatal});
    bad_ids.push_back({w.h.submit(w.target, "reply_twice"), RejectCode::canister_error});
    bad_ids.push_back({w.h.submit(w.target, "trap"), RejectCode::canister_error});
    bad_ids.push_back({w.h.submit(w.remote, "noop"), RejectCode::canister_error});
    bad_ids.push_back({w.h.submit(w.prober, "trap_in_callback", w.target), RejectCode::canister_error});
    good_ids.push_back(w.h.submit(w.prober, "fan", w.target, uint64_t{60}));
    good_ids.push_back(w.h.submit(w.target, "add", uint64_t{1}));
    w.h.tick();
  }
  w.h.settle();
  for (auto [iid, code] : bad_ids) {
    auto r = w.h.rt().ingress_result(iid);
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(*r) << "ingress " << iid.value << " should have failed";
    EXPECT_EQ(r->error().code, code) << describe(r->error());
  }
  for (auto iid : good_ids) {
    auto r = w.h.rt().ingress_result(iid);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r) << describe(r->error());
  }
  // 10 good "add 1" ingress + 5 from trap_in_callback's first execution.
  EXPECT_EQ(w.h.rt().query<uint64_t>(w.target, "get").value(), 15u);
  const auto st = w.h.rt().stats();
  EXPECT_EQ(st.calls_accepted, st.responses_delivered);
  w.good_call();
  w.h.settle();
}
