// R18 combinators over real calls: when_all, when_all_settled, when_any, when_n, race,
// with_timeout — their results, their error rules, what happens to losing arms, bad input.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "flow/flow_support.hpp"

using namespace canopy;
using namespace flow_test;

namespace {

constexpr uint8_t code(RejectCode c) {
  return static_cast<uint8_t>(c);
}

struct Fixture {
  explicit Fixture(uint32_t subnets = 2) : rt(test_config(subnets)) {
    for (uint32_t s = 0; s < subnets; ++s)
      peers.push_back(rt.install<Peer>(rt.subnet(s)));
    caller = rt.install<Caller>(rt.subnet(0), {}, 1'000);
    auto r = rt.update<void>(caller, "set_peers", peers);
    EXPECT_TRUE(r.has_value());
  }
  // The report, or SYS_UNKNOWN "pending" if not answered within rounds_max.
  Result<Report> run(const Spec& spec, uint64_t rounds_max = 1'000) {
    IngressId id = rt.submit(caller, "run", encode(spec));
    auto raw = run_for(rt, id, rounds_max);
    if (!raw) return make_reject(RejectCode::sys_unknown, "pending");
    if (!*raw) return tl::unexpected<Reject>(raw->error());
    return decode<Report>(**raw);
  }
  uint64_t resumed() { return *rt.query<uint64_t>(caller, "resumed"); }

  Runtime rt;
  std::vector<CanisterId> peers;
  CanisterId caller;
};

ArmSpec reply(uint64_t t, uint64_t v, uint32_t peer = 0) {
  return {ArmKind::reply, t, v, peer};
}
ArmSpec arm(ArmKind k, uint64_t t = 0, uint32_t peer = 0) {
  return {k, t, 0, peer};
}

Spec spec(Comb c, Form f, std::vector<ArmSpec> arms, uint64_t k = 1, uint64_t timeout_ms = 0) {
  Spec s;
  s.comb = c;
  s.form = f;
  s.arms = std::move(arms);
  s.k = k;
  s.timeout_ms = timeout_ms;
  return s;
}

class R18_ByArmForm : public ::testing::TestWithParam<Form> {};
INSTANTIATE_TEST_SUITE_P(Forms, R18_ByArmForm, ::testing::Values(Form::call, Form::task),
                         [](const auto& p) {
                           return std::string(p.param == Form::call ? "Calls" : "Tasks");
                         });

TEST_P(R18_ByArmForm, R18_WhenAll_AllSucceedValuesInArmOrder) {
  Fixture f;
  auto r = f.run(
      spec(Comb::all, GetParam(), {reply(3000, 30, 1), reply(1000, 10, 0), reply(2000, 20, 1)}));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->values, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 30}, {1, 10}, {2, 20}}));
}

TEST_P(R18_ByArmForm, R18_WhenAll_FirstErrorWinsLosersDiscarded) {
  Fixture f;
  // Arm 2 fails first (t=1000); arm 1 fails later; arm 0 would succeed last.
  auto r =
      f.run(spec(Comb::all, GetParam(),
                 {reply(5000, 1, 1), arm(ArmKind::reject, 3000, 0), arm(ArmKind::trap, 1000, 1)}));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->errors,
            (std::vector<std::pair<uint64_t, uint8_t>>{{2, code(RejectCode::canister_error)}}));
  f.rt.run_until_idle(1'000);
  // Losers' responses arrived later and were discarded without running user code (R18).
  if (GetParam() == Form::task) {
    EXPECT_EQ(f.resumed(), 1u);
  }
  auto info = f.rt.info(f.caller);
  EXPECT_EQ(info->open_call_contexts, 0u);
  EXPECT_EQ(info->outstanding_calls, 0u);
}

TEST_P(R18_ByArmForm, R18_WhenAllSettled_EveryOutcome) {
  Fixture f;
  auto r = f.run(spec(
      Comb::settled, GetParam(),
      {reply(2000, 7), arm(ArmKind::sync_invalid), arm(ArmKind::no_reply, 1000, 1),
       arm(ArmKind::unknown, 1500, 1), arm(ArmKind::sync_transient), arm(ArmKind::sync_fatal)}));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->values, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 7}}));
  EXPECT_EQ(r->errors,
            (std::vector<std::pair<uint64_t, uint8_t>>{{1, code(RejectCode::destination_invalid)},
                                                       {2, code(RejectCode::canister_error)},
                                                       {3, code(RejectCode::sys_unknown)},
                                                       {4, code(RejectCode::sys_transient)},
                                                       {5, code(RejectCode::sys_fatal)}}));
}

TEST_P(R18_ByArmForm, R18_WhenAny_FirstSuccessWins) {
  Fixture f;
  auto r = f.run(spec(Comb::any, GetParam(),
                      {arm(ArmKind::reject, 500, 1), reply(4000, 40, 0), reply(2000, 20, 1),
                       arm(ArmKind::silent, 0, 0)}));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->values, (std::vector<std::pair<uint64_t, uint64_t>>{{2, 20}}));
}

TEST_P(R18_ByArmForm, R18_WhenAny_FailsOnlyWhenEveryArmFailedWithAllErrors) {
  Fixture f;
  auto r = f.run(spec(
      Comb::any, GetParam(),
      {arm(ArmKind::reject, 2000, 1), arm(ArmKind::sync_invalid), arm(ArmKind::trap, 1000, 0)}));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->errors,
            (std::vector<std::pair<uint64_t, uint8_t>>{{0, code(RejectCode::canister_reject)},
                                                       {1, code(RejectCode::destination_invalid)},
                                                       {2, code(RejectCode::canister_error)}}));
}

TEST_P(R18_ByArmForm, R18_WhenAny_MissingValueSuspendsRatherThanFails) {
  Fixture f;
  // AquaVM: a par whose successful arm never comes does not fail while an arm is pending.
  auto r =
      f.run(spec(Comb::any, GetParam(), {arm(ArmKind::reject, 500, 1), arm(ArmKind::silent)}), 300);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "pending");
}

TEST_P(R18_ByArmForm, R18_WhenN_FirstKSuccessesInCompletionOrder) {
  Fixture f;
  auto r = f.run(spec(Comb::n, GetParam(),
                      {reply(3000, 3, 1), arm(ArmKind::silent), reply(1000, 1, 0),
                       arm(ArmKind::reject, 500, 1), reply(2000, 2, 0)},
                      /*k=*/3));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->values, (std::vector<std::pair<uint64_t, uint64_t>>{{2, 1}, {4, 2}, {0, 3}}));
}

TEST_P(R18_ByArmForm, R18_WhenN_FailsAsSoonAsKIsOutOfReach) {
  Fixture f;
  // n = 4, k = 3: the second failure (t=2000) makes 3 successes impossible; arm 0 (silent)
  // and arm 3 (t=5000) are still pending then.
  auto r = f.run(spec(Comb::n, GetParam(),
                      {arm(ArmKind::silent), arm(ArmKind::reject, 1000, 1),
                       arm(ArmKind::no_reply, 2000, 0), reply(5000, 5, 1)},
                      /*k=*/3));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->errors,
            (std::vector<std::pair<uint64_t, uint8_t>>{{1, code(RejectCode::canister_reject)},
                                                       {2, code(RejectCode::canister_error)}}));
}

TEST_P(R18_ByArmForm, R18_Race_FirstSettledEvenAFailure) {
  Fixture f;
  auto r = f.run(spec(Comb::race, GetParam(),
                      {reply(2000, 2, 1), arm(ArmKind::reject, 1000, 0), arm(ArmKind::silent)}));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->errors,
            (std::vector<std::pair<uint64_t, uint8_t>>{{1, code(RejectCode::canister_reject)}}));
  auto r2 = f.run(spec(Comb::race, GetParam(), {reply(2000, 2, 1), reply(1000, 1, 0)}));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->values, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}}));
}

TEST_P(R18_ByArmForm, R18_WithTimeout_TimerWinsWithSysUnknown) {
  Fixture f;
  auto r = f.run(spec(Comb::timeout, GetParam(), {arm(ArmKind::silent, 0, 1)}, 1, 1000));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->errors,
            (std::vector<std::pair<uint64_t, uint8_t>>{{0, code(RejectCode::sys_unknown)}}));
}

TEST_P(R18_ByArmForm, R18_WithTimeout_ArmWinsBeforeTheTimer) {
  Fixture f;
  auto r = f.run(spec(Comb::timeout, GetParam(), {reply(500, 9, 1)}, 1, 3000));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->values, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 9}}));
  // The losing timer still fires at its deadline and is discarded; then everything closes.
  f.rt.run_until_idle(1'000);
  EXPECT_EQ(f.rt.info(f.caller)->open_call_contexts, 0u);
}

TEST(R18_Combinators, ArmExceptionPropagatesAsATrap) {
  Fixture f;
  auto r = f.run(spec(Comb::any, Form::task,
                      {arm(ArmKind::throws, 1000), reply(3000, 1), arm(ArmKind::silent)}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("arm threw on purpose"), std::string::npos) << r.error().message;
}

TEST(R18_Combinators, BadInputIsAClearTrap) {
  Fixture f;
  auto expect_trap = [&](Spec s, const std::string& words) {
    auto r = f.run(s);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, RejectCode::canister_error);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  expect_trap(spec(Comb::n, Form::call, {reply(0, 1), reply(0, 2)}, /*k=*/3), "when_n(k = 3)");
  expect_trap(spec(Comb::n, Form::task, {reply(0, 1), reply(0, 2)}, /*k=*/0), "when_n(k = 0)");
  expect_trap(spec(Comb::any, Form::call, {}), "when_any needs at least one arm");
  expect_trap(spec(Comb::race, Form::call, {}), "race needs at least one arm");
  expect_trap(spec(Comb::timeout, Form::call, {reply(0, 1)}, 1, 0), "positive timeout, got 0");
  expect_trap(spec(Comb::timeout, Form::task, {reply(0, 1)}, 1, uint64_t(-5)),
              "positive timeout, got -5");
  // Nothing leaked: every call made before the trap was rolled back (R7).
  f.rt.run_until_idle(1'000);
  EXPECT_EQ(f.rt.info(f.caller)->open_call_contexts, 0u);
  EXPECT_EQ(f.rt.info(f.caller)->outstanding_calls, 0u);
}

TEST(R18_Combinators, EmptyVectorsOfWhenAllComplete) {
  Fixture f;
  auto r = f.run(spec(Comb::all, Form::call, {}));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->ok);
  EXPECT_TRUE(r->values.empty());
  auto s = f.run(spec(Comb::settled, Form::task, {}));
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->ok);
}

}  // namespace
