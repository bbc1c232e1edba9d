#include <gtest/gtest.h>

#include "parallel_calls/parallel_calls.hpp"

using namespace canopy;

TEST(Seed000, ParallelAndSequentialCalls) {
  Runtime rt(Config{});
  auto callee = rt.install<examples::Callee>(rt.subnet(0));
  auto caller = rt.install<examples::Caller>(rt.subnet(0));
  ASSERT_TRUE(rt.update<void>(caller, "setup_callee", callee));
  EXPECT_EQ(rt.update<uint64_t>(caller, "sequential_calls", uint64_t{100}).value(), 100u);
  EXPECT_EQ(rt.update<uint64_t>(caller, "parallel_calls", uint64_t{100}).value(), 100u);
  EXPECT_EQ(rt.update<uint64_t>(caller, "parallel_calls", uint64_t{2000}).value(), 500u);
  EXPECT_EQ(rt.update<uint64_t>(caller, "sequential_calls", uint64_t{2000}).value(), 2000u);
  EXPECT_TRUE(rt.check_quiescent_invariants().empty());
}
