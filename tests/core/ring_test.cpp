// detail::Ring — the FIFO behind the per-peer queues (R2, R3): tested like a library against
// std::deque, including wrap-around, growth while wrapped, move-only elements and exact
// destruction counts.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <deque>
#include <memory>
#include <string>

#include "core/ring.hpp"

namespace {

using canopy::detail::Ring;

struct Counted {
  static inline int live = 0;
  explicit Counted(int v) : value(std::make_unique<int>(v)) { ++live; }
  Counted(Counted&& o) noexcept : value(std::move(o.value)) { ++live; }
  Counted& operator=(Counted&&) = delete;
  ~Counted() { --live; }
  std::unique_ptr<int> value;  // move-only, and ASan sees a leak or double free
};

TEST(CoreRing, R3_FifoOrderAcrossWrapAroundAndGrowth) {
  Ring<int> r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.capacity(), 0u) << "an empty ring allocates nothing";
  int next_in = 0, next_out = 0;
  // Keep the ring partly full while pushing and popping so head wraps, then grow while wrapped.
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 3 + round * 5; ++i)
      r.push_back(next_in++);
    for (int i = 0; i < 2 + round * 3; ++i) {
      ASSERT_EQ(r.front(), next_out);
      r.pop_front();
      ++next_out;
    }
    ASSERT_EQ(r.size(), static_cast<size_t>(next_in - next_out));
    for (size_t i = 0; i < r.size(); ++i)
      ASSERT_EQ(r[i], next_out + static_cast<int>(i));
  }
  while (!r.empty()) {
    ASSERT_EQ(r.front(), next_out++);
    r.pop_front();
  }
  EXPECT_EQ(next_out, next_in);
  EXPECT_EQ(r.capacity() & (r.capacity() - 1), 0u) << "capacity is a power of two";
}

TEST(CoreRing, MoveOnlyElementsAreDestroyedExactlyOnce) {
  Counted::live = 0;
  {
    Ring<Counted> r;
    for (int i = 0; i < 100; ++i) {
      r.emplace_back(i);
      if (i % 3 == 0) {
        EXPECT_EQ(*r.front().value, i / 3) << "front is the oldest element";
        r.pop_front();
      }
    }
    EXPECT_EQ(Counted::live, static_cast<int>(r.size()));
    Ring<Counted> moved = std::move(r);
    EXPECT_TRUE(r.empty());  // NOLINT(bugprone-use-after-move): a moved-from ring is empty
    EXPECT_EQ(Counted::live, static_cast<int>(moved.size()));
    Ring<Counted> assigned;
    assigned.emplace_back(-1);
    assigned = std::move(moved);
    EXPECT_EQ(Counted::live, static_cast<int>(assigned.size()));
  }
  EXPECT_EQ(Counted::live, 0) << "every element destroyed when the ring goes away";
}

TEST(CoreRing, ClearKeepsCapacityAndDestroysElements) {
  Counted::live = 0;
  Ring<Counted> r;
  for (int i = 0; i < 10; ++i)
    r.emplace_back(i);
  const size_t cap = r.capacity();
  r.clear();
  EXPECT_EQ(Counted::live, 0);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.capacity(), cap);
  r.emplace_back(7);
  EXPECT_EQ(*r.front().value, 7);
}

TEST(CoreRing, PropertyAgreesWithStdDeque) {
  // op % 3: 0 push_back, 1 pop_front, 2 pop_back (pops on an empty ring push instead).
  const bool ok = rc::check("Ring agrees with std::deque under any push/pop sequence",
                            [](const std::vector<std::pair<uint8_t, std::string>>& ops) {
                              Ring<std::string> r;
                              std::deque<std::string> model;
                              for (const auto& [op, value] : ops) {
                                if (op % 3 == 0 || model.empty()) {
                                  r.push_back(value);
                                  model.push_back(value);
                                } else if (op % 3 == 1) {
                                  RC_ASSERT(r.front() == model.front());
                                  r.pop_front();
                                  model.pop_front();
                                } else {
                                  RC_ASSERT(r.back() == model.back());
                                  r.pop_back();
                                  model.pop_back();
                                }
                                RC_ASSERT(r.size() == model.size());
                              }
                              for (size_t i = 0; i < model.size(); ++i)
                                RC_ASSERT(r[i] == model[i]);
                            });
  EXPECT_TRUE(ok);
}

}  // namespace

namespace {

TEST(CoreRing, SwapExchangesContentsWithoutTouchingElements) {
  Ring<Counted> a;
  Ring<Counted> b;
  for (int i = 0; i < 5; ++i)
    a.emplace_back(i);
  a.pop_front();  // wrapped storage after more pushes
  for (int i = 5; i < 8; ++i)
    a.emplace_back(i);
  b.emplace_back(100);
  const int live = Counted::live;
  const size_t cap_a = a.capacity();
  const size_t cap_b = b.capacity();
  a.swap(b);
  EXPECT_EQ(Counted::live, live) << "no element constructed or destroyed";
  EXPECT_EQ(a.capacity(), cap_b);
  EXPECT_EQ(b.capacity(), cap_a);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(*a.front().value, 100);
  ASSERT_EQ(b.size(), 7u);
  for (size_t i = 0; i < b.size(); ++i)
    EXPECT_EQ(*b[i].value, static_cast<int>(i) + 1);
  b.emplace_back(8);  // still a working FIFO after the exchange
  EXPECT_EQ(*b.back().value, 8);
}

TEST(CoreRing, DetachedFrontIsOutOfTheRingUntilTheCallerDestroysIt) {
  Ring<Counted> r;
  for (int i = 0; i < 3; ++i)
    r.emplace_back(i);
  const int live = Counted::live;
  Counted* first = r.detach_front();
  EXPECT_EQ(r.size(), 2u) << "its slot is free for capacity checks";
  EXPECT_EQ(*r.front().value, 1);
  EXPECT_EQ(*first->value, 0) << "the object is still there, where it lay";
  EXPECT_EQ(Counted::live, live);
  std::destroy_at(first);
  EXPECT_EQ(Counted::live, live - 1);
  r.emplace_back(3);  // may reuse the detached storage now
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(*r.back().value, 3);
}

}  // namespace
