// detail::SmallVec — the short per-canister lists of the execution and routing hot path (R7
// rollback lists, R2/R3 staged output queues): tested like a library against std::vector,
// across the inline/heap boundary and through swaps of every inline/heap combination.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/small_vec.hpp"

namespace {

using canopy::detail::SmallVec;

struct Pair {
  uint32_t a;
  uint64_t b;
};

TEST(CoreSmallVec, StaysInlineUpToNThenMovesToTheHeapKeepingItsElements) {
  SmallVec<uint32_t, 4> v;
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(v.is_inline());
  EXPECT_EQ(v.capacity(), 4u);
  for (uint32_t i = 0; i < 4; ++i)
    v.push_back(i * 10);
  EXPECT_TRUE(v.is_inline()) << "N elements need no allocation";
  v.push_back(40);
  EXPECT_FALSE(v.is_inline());
  EXPECT_GE(v.capacity(), 5u);
  ASSERT_EQ(v.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i)
    EXPECT_EQ(v[i], i * 10);
  const size_t cap = v.capacity();
  v.clear();
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.capacity(), cap) << "clear keeps the capacity";
  v.reserve(100);
  EXPECT_GE(v.capacity(), 100u);
}

TEST(CoreSmallVec, IteratesForwardAndBackward) {
  SmallVec<Pair, 2> v;
  for (uint32_t i = 0; i < 5; ++i)
    v.push_back(Pair{i, uint64_t{i} * 3});
  uint32_t next = 0;
  for (const Pair& p : v) {
    EXPECT_EQ(p.a, next);
    EXPECT_EQ(p.b, uint64_t{next} * 3);
    ++next;
  }
  EXPECT_EQ(next, 5u);
  for (auto it = v.rbegin(); it != v.rend(); ++it)
    EXPECT_EQ(it->a, --next);
  EXPECT_EQ(v.back().a, 4u);
  v.pop_back();
  EXPECT_EQ(v.back().a, 3u);
}

TEST(CoreSmallVec, SwapExchangesContentsInEveryInlineHeapCombination) {
  for (size_t na : {0u, 1u, 3u, 7u}) {
    for (size_t nb : {0u, 2u, 3u, 9u}) {
      SCOPED_TRACE(testing::Message() << "sizes " << na << " and " << nb);
      SmallVec<uint64_t, 3> a;
      SmallVec<uint64_t, 3> b;
      for (size_t i = 0; i < na; ++i)
        a.push_back(100 + i);
      for (size_t i = 0; i < nb; ++i)
        b.push_back(200 + i);
      a.swap(b);
      ASSERT_EQ(a.size(), nb);
      ASSERT_EQ(b.size(), na);
      for (size_t i = 0; i < nb; ++i)
        EXPECT_EQ(a[i], 200 + i);
      for (size_t i = 0; i < na; ++i)
        EXPECT_EQ(b[i], 100 + i);
      EXPECT_EQ(a.is_inline(), nb <= 3);
      EXPECT_EQ(b.is_inline(), na <= 3);
      a.push_back(1);  // both still work after the exchange
      b.push_back(2);
      EXPECT_EQ(a.back(), 1u);
      EXPECT_EQ(b.back(), 2u);
    }
  }
}

TEST(CoreSmallVec, PropertyAgreesWithStdVector) {
  // op % 4: 0, 1 push_back; 2 pop_back (push on empty); 3 swap with a second pair of lists.
  const bool ok = rc::check("SmallVec agrees with std::vector under any push/pop/swap sequence",
                            [](const std::vector<std::pair<uint8_t, uint32_t>>& ops) {
                              SmallVec<uint32_t, 2> v;
                              SmallVec<uint32_t, 2> w;
                              std::vector<uint32_t> mv;
                              std::vector<uint32_t> mw;
                              for (const auto& [op, value] : ops) {
                                if (op % 4 == 3) {
                                  v.swap(w);
                                  std::swap(mv, mw);
                                } else if (op % 4 == 2 && !mv.empty()) {
                                  RC_ASSERT(v.back() == mv.back());
                                  v.pop_back();
                                  mv.pop_back();
                                } else {
                                  v.push_back(value);
                                  mv.push_back(value);
                                }
                                RC_ASSERT(v.size() == mv.size());
                                RC_ASSERT(w.size() == mw.size());
                              }
                              RC_ASSERT(std::vector<uint32_t>(v.begin(), v.end()) == mv);
                              RC_ASSERT(std::vector<uint32_t>(w.begin(), w.end()) == mw);
                            });
  EXPECT_TRUE(ok);
}

}  // namespace
