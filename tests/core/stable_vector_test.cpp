// StableVector (src/core/stable_vector.hpp): the pending-call slot table's storage (DESIGN §2:
// slot array + generation, O(1) per call). Tested like a library: against std::vector, for
// address stability across growth, and for exactly-once destruction.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <string>
#include <vector>

#include "core/stable_vector.hpp"

namespace {

using canopy::detail::StableVector;

TEST(CoreStableVector, ElementsKeepTheirAddressAcrossGrowth) {
  StableVector<std::string, 2> v;  // blocks of 4: growth happens often
  std::vector<const std::string*> addresses;
  for (int i = 0; i < 1000; ++i) {
    addresses.push_back(&v.emplace_back(std::to_string(i)));
  }
  ASSERT_EQ(v.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(&v[static_cast<size_t>(i)], addresses[static_cast<size_t>(i)]);
    EXPECT_EQ(v[static_cast<size_t>(i)], std::to_string(i));
  }
}

struct Counted {
  explicit Counted(int* live) : live_(live) { ++*live_; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { --*live_; }
  int* live_;
};

TEST(CoreStableVector, DestroysEveryElementExactlyOnce) {
  int live = 0;
  {
    StableVector<Counted, 3> v;
    for (int i = 0; i < 77; ++i) v.emplace_back(&live);  // not movable: never moved
    EXPECT_EQ(live, 77);
  }
  EXPECT_EQ(live, 0);
}

TEST(CoreStableVector, PropertyAgreesWithStdVector) {
  const bool ok = rc::check("StableVector agrees with std::vector under appends and writes",
                            [](const std::vector<std::pair<bool, int>>& ops) {
                              StableVector<int, 3> v;
                              std::vector<int> model;
                              for (const auto& [append, value] : ops) {
                                if (append || model.empty()) {
                                  v.emplace_back(value);
                                  model.push_back(value);
                                } else {
                                  const size_t i = static_cast<size_t>(value < 0 ? -(value + 1) : value) % model.size();
                                  v[i] = value;
                                  model[i] = value;
                                }
                                RC_ASSERT(v.size() == model.size());
                              }
                              for (size_t i = 0; i < model.size(); ++i) RC_ASSERT(v[i] == model[i]);
                            });
  EXPECT_TRUE(ok);
}

}  // namespace
