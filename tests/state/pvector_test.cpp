// Tests for canopy::PVector (include/canopy/pvector.hpp): the persistent vector behind canister
// state snapshots — trap rollback copies (R7), per-edge copies of composite queries (R17),
// committed state read by concurrent queries (R16) and checkpoints (R21).
//
// Randomised tests are seeded; the seed is printed on failure (SCOPED_TRACE) and can be forced
// with CANOPY_TEST_SEED=<n>.
#include "canopy/pvector.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/archives/json.hpp>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>

#include "canopy/pmap.hpp"

namespace {

using IntVec = canopy::PVector<int>;

static_assert(std::random_access_iterator<IntVec::const_iterator>);
static_assert(std::is_nothrow_move_constructible_v<IntVec>);

std::vector<std::uint64_t> test_seeds(std::initializer_list<std::uint64_t> defaults) {
  if (const char* forced = std::getenv("CANOPY_TEST_SEED")) {
    return {std::strtoull(forced, nullptr, 10)};
  }
  return defaults;
}

template <class T>
void expect_matches(const canopy::PVector<T>& vec, const std::vector<T>& model) {
  vec.detail_check_invariants();
  ASSERT_EQ(vec.size(), model.size());
  ASSERT_EQ(vec.empty(), model.empty());
  ASSERT_TRUE(std::equal(vec.begin(), vec.end(), model.begin(), model.end()));
  for (std::size_t i = 0; i < model.size(); i += 1 + model.size() / 64) {
    ASSERT_EQ(vec[i], model[i]);
    ASSERT_EQ(vec.at(i), model[i]);
  }
}

template <class T>
std::set<const void*> node_ids(const canopy::PVector<T>& vec) {
  std::set<const void*> ids;
  vec.detail_visit_nodes([&](const void* id) { ids.insert(id); });
  return ids;
}

std::size_t count_not_in(const std::set<const void*>& ids, const std::set<const void*>& other) {
  std::size_t missing = 0;
  for (const void* id : ids)
    missing += other.count(id) == 0 ? 1 : 0;
  return missing;
}

std::vector<int> iota_vector(int n) {
  std::vector<int> out(static_cast<std::size_t>(n));
  std::iota(out.begin(), out.end(), 0);
  return out;
}

TEST(StatePVector, R17_BasicOperations) {
  IntVec vec;
  EXPECT_TRUE(vec.empty());
  EXPECT_EQ(vec.begin(), vec.end());
  EXPECT_THROW((void)vec.at(0), std::out_of_range);
  EXPECT_THROW(vec.pop_back(), std::out_of_range);
  EXPECT_THROW(vec.set(0, 1), std::out_of_range);

  vec.push_back(1);
  vec.push_back(2);
  vec.push_back(3);
  EXPECT_EQ(vec.size(), 3u);
  EXPECT_EQ(vec.front(), 1);
  EXPECT_EQ(vec.back(), 3);
  vec.set(1, 20);
  EXPECT_EQ(vec[1], 20);
  EXPECT_THROW(vec.set(3, 0), std::out_of_range);
  vec.pop_back();
  expect_matches(vec, std::vector<int>{1, 20});

  const IntVec list{4, 5, 6};
  expect_matches(list, std::vector<int>{4, 5, 6});
  const IntVec repeated(70, 9);
  expect_matches(repeated, std::vector<int>(70, 9));
  const std::vector<std::string> words{"a", "bb", "ccc"};
  const canopy::PVector<std::string> strings(words.begin(), words.end());
  expect_matches(strings, words);

  vec.clear();
  EXPECT_TRUE(vec.empty());
  vec.detail_check_invariants();
}

TEST(StatePVector, R17_FunctionalUpdatesLeaveTheOriginalUnchanged) {
  const IntVec base{1, 2, 3};
  const IntVec changed = base.with(0, 10);
  const IntVec longer = base.with_push_back(4);
  const IntVec shorter = base.without_back();
  expect_matches(base, std::vector<int>{1, 2, 3});
  expect_matches(changed, std::vector<int>{10, 2, 3});
  expect_matches(longer, std::vector<int>{1, 2, 3, 4});
  expect_matches(shorter, std::vector<int>{1, 2});
  EXPECT_EQ(longer.without_back(), base);
  EXPECT_NE(changed, base);
  EXPECT_NE(longer, base);
  EXPECT_EQ(IntVec{}, IntVec{});

  const IntVec chain = IntVec().with_push_back(1).with_push_back(2).with(0, 5).without_back();
  expect_matches(chain, std::vector<int>{5});
}

TEST(StatePVector, R17_MoveLeavesAnEmptyValidVector) {
  IntVec source(100, 1);
  IntVec target = std::move(source);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): documented state
  source.detail_check_invariants();
  source.push_back(3);
  expect_matches(source, std::vector<int>{3});
  expect_matches(target, std::vector<int>(100, 1));
  swap(source, target);
  expect_matches(source, std::vector<int>(100, 1));
}

TEST(StatePVector, R17_RandomAccessIterator) {
  const auto model = iota_vector(5000);
  const IntVec vec(model.begin(), model.end());
  EXPECT_EQ(vec.end() - vec.begin(), 5000);
  EXPECT_EQ(*(vec.begin() + 1234), 1234);
  EXPECT_EQ(vec.begin()[4321], 4321);
  auto it = vec.end();
  --it;
  EXPECT_EQ(*it, 4999);
  it -= 1000;
  EXPECT_EQ(*it, 3999);
  EXPECT_TRUE(vec.begin() < it);
  EXPECT_EQ(std::lower_bound(vec.begin(), vec.end(), 2500) - vec.begin(), 2500);
  std::vector<int> reversed(std::make_reverse_iterator(vec.end()),
                            std::make_reverse_iterator(vec.begin()));
  EXPECT_EQ(reversed.front(), 4999);
  EXPECT_EQ(reversed.back(), 0);
  long long sum = 0;
  for (int value : vec)
    sum += value;
  EXPECT_EQ(sum, 4999LL * 5000 / 2);
}

// Old versions stay intact: random push/pop/set through many handles, all snapshots (with
// their std::vector models) verified at the end. Phases of growth and shrinkage (bursts of up to
// 64 pushes or pops) swing the size between 0 and ~40k, so the trie gains and loses levels
// (boundaries at 32, 1056 and 32800 elements) many times.
TEST(StatePVector, R7_R17_RandomOpsMatchStdVectorAndSnapshotsStayIntact) {
  constexpr std::size_t kSnapshotsMax = 48;
  constexpr std::size_t kSizeMax = 70000;
  for (const std::uint64_t seed : test_seeds({1, 2, 3, 0xBEEF})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    IntVec vec;
    std::vector<int> model;
    std::vector<std::pair<IntVec, std::vector<int>>> snapshots;
    std::size_t size_max_seen = 0;
    unsigned shift_max_seen = 0;
    int level_drops = 0;
    const int steps = seed % 2 == 0 ? 20000 : 60000;
    for (int step = 0; step < steps; ++step) {
      const bool growing = (step / 4000) % 2 == 0 && model.size() < kSizeMax;
      const auto op = rng() % 1000;  // per mille
      const int value = static_cast<int>(rng() % 1000000);
      if (op < (growing ? 400u : 150u)) {
        const auto count = 1 + rng() % (growing ? 64 : 4);
        for (std::size_t k = 0; k < count; ++k) {
          vec.push_back(value + static_cast<int>(k));
          model.push_back(value + static_cast<int>(k));
        }
      } else if (op < 550) {
        const auto count = 1 + rng() % (growing ? 4 : 64);
        for (std::size_t k = 0; k < count && !model.empty(); ++k) {
          const unsigned shift_before = vec.detail_shift();
          vec.pop_back();
          model.pop_back();
          level_drops += vec.detail_shift() < shift_before ? 1 : 0;
        }
      } else if (op < 750) {
        if (!model.empty()) {
          const auto i = rng() % model.size();
          vec.set(i, value);
          model[i] = value;
        }
      } else if (op < 800) {
        if (!model.empty()) {
          const auto i = rng() % model.size();
          ASSERT_EQ(vec[i], model[i]);
        }
      } else if (op < 805) {
        snapshots.emplace_back(vec, model);
        if (snapshots.size() > kSnapshotsMax) {
          snapshots.erase(snapshots.begin() +
                          static_cast<std::ptrdiff_t>(rng() % snapshots.size()));
        }
      } else if (op < 806 && !snapshots.empty()) {
        // Branch off an old snapshot and keep working on the branch.
        auto& [old_vec, old_model] = snapshots[rng() % snapshots.size()];
        vec = old_vec.with_push_back(value);
        model = old_model;
        model.push_back(value);
      } else if (op < 810 && !snapshots.empty()) {
        snapshots.erase(snapshots.begin() + static_cast<std::ptrdiff_t>(rng() % snapshots.size()));
      } else if (op < 900) {
        vec = std::move(vec).with_push_back(value);
        model.push_back(value);
      } else if (!model.empty()) {
        vec = std::move(vec).without_back();
        model.pop_back();
      }
      size_max_seen = std::max(size_max_seen, model.size());
      shift_max_seen = std::max(shift_max_seen, vec.detail_shift());
      if (step % 2000 == 0) {
        ASSERT_NO_FATAL_FAILURE(expect_matches(vec, model));
      }
    }
    ASSERT_NO_FATAL_FAILURE(expect_matches(vec, model));
    for (const auto& [old_vec, old_model] : snapshots) {
      ASSERT_NO_FATAL_FAILURE(expect_matches(old_vec, old_model));
    }
    // The run really went through the deep levels and back.
    EXPECT_GT(size_max_seen, 32800u);
    EXPECT_EQ(shift_max_seen, 15u);
    EXPECT_GT(level_drops, 0);
  }
}

TEST(StatePVector, R17_PropertyAgreesWithStdVectorAndOriginalUntouched) {
  const bool ok = rc::check(
      "PVector agrees with std::vector; the copy it started from is untouched",
      [](const std::vector<int>& initial, const std::vector<std::pair<std::uint8_t, int>>& ops) {
        const IntVec original(initial.begin(), initial.end());
        IntVec vec = original;
        std::vector<int> model = initial;
        for (const auto& [op, value] : ops) {
          if (op % 4 == 0 && !model.empty()) {
            vec.pop_back();
            model.pop_back();
          } else if (op % 4 == 1 && !model.empty()) {
            const auto i = static_cast<std::size_t>(value) % model.size();
            vec.set(i, value);
            model[i] = value;
          } else {
            for (int k = 0; k < op % 40; ++k) {  // pushes in bursts to reach the trie
              vec.push_back(value + k);
              model.push_back(value + k);
            }
          }
        }
        vec.detail_check_invariants();
        original.detail_check_invariants();
        RC_ASSERT(std::equal(vec.begin(), vec.end(), model.begin(), model.end()));
        RC_ASSERT(std::equal(original.begin(), original.end(), initial.begin(), initial.end()));
        RC_ASSERT((vec == original) == (model == initial));
      });
  EXPECT_TRUE(ok);
}

TEST(StatePVector, R17_Large100kGrowAndShrinkThroughEveryLevel) {
  constexpr int kN = 100000;
  IntVec vec;
  std::vector<IntVec> checkpoints;
  for (int i = 0; i < kN; ++i) {
    vec.push_back(i);
    if (i % 9973 == 0) checkpoints.push_back(vec);
  }
  EXPECT_EQ(vec.detail_shift(), 15u);  // 32^3 < 100000 - 32 <= 32^4
  ASSERT_NO_FATAL_FAILURE(expect_matches(vec, iota_vector(kN)));
  for (int i = 0; i < kN; i += 3)
    vec.set(static_cast<std::size_t>(i), -i);
  for (int i = kN; i > 0; --i) {
    vec.pop_back();
    if (i % 1000 == 0 || i < 40 || (i > 1000 && i < 1100) || (i > 32700 && i < 32900)) {
      vec.detail_check_invariants();
      ASSERT_EQ(vec.size(), static_cast<std::size_t>(i - 1));
      if (i > 1) {
        ASSERT_EQ(vec.back(), (i - 2) % 3 == 0 ? -(i - 2) : i - 2);
      }
    }
  }
  EXPECT_TRUE(vec.empty());
  EXPECT_EQ(vec.detail_shift(), 5u);
  for (std::size_t c = 0; c < checkpoints.size(); ++c) {
    ASSERT_NO_FATAL_FAILURE(
        expect_matches(checkpoints[c], iota_vector(static_cast<int>(c * 9973 + 1))));
  }
}

// R17: copies are O(1) (every node shared, none allocated); a set on the copy allocates one
// leaf plus the inner nodes of its path; a sole owner writes in place.
TEST(StatePVector, R17_CopyIsO1AndUpdatesCopyOnlyThePath) {
  const auto model = iota_vector(99999);  // tail holds 31: the next push_back copies it
  IntVec vec(model.begin(), model.end());
  const auto ids = node_ids(vec);
  const std::size_t levels = vec.detail_shift() / 5 + 1;  // inner levels + leaf

  IntVec copy = vec;
  EXPECT_EQ(copy.detail_root_id(), vec.detail_root_id());
  EXPECT_EQ(copy.detail_tail_id(), vec.detail_tail_id());
  EXPECT_EQ(node_ids(copy), ids);

  copy.set(12345, -1);
  EXPECT_EQ(count_not_in(node_ids(copy), ids), levels);
  copy.push_back(7);  // tail not full: copies the tail only
  EXPECT_EQ(count_not_in(node_ids(copy), ids), levels + 1);
  ASSERT_NO_FATAL_FAILURE(expect_matches(vec, model));
  EXPECT_EQ(copy[12345], -1);

  // Nodes the copy now owns alone are written in place.
  const auto copy_ids = node_ids(copy);
  copy.set(12346, -2);  // same leaf as 12345
  copy.set(copy.size() - 1, -3);
  EXPECT_EQ(node_ids(copy), copy_ids);
  copy.pop_back();
  EXPECT_EQ(count_not_in(node_ids(copy), copy_ids), 0u);
  ASSERT_NO_FATAL_FAILURE(expect_matches(vec, model));
}

template <class Archive, class Value>
std::string save_to_string(const Value& value) {
  std::ostringstream os;
  {
    Archive archive(os);
    archive(value);
  }
  return os.str();
}

template <class Archive, class Value>
Value load_from_string(const std::string& bytes) {
  std::istringstream is(bytes);
  Archive archive(is);
  Value value;
  archive(value);
  return value;
}

// R21: canister state containing PVector (and PVector inside PMap) is checkpointed with cereal.
TEST(StatePVector, R21_CerealRoundTrip) {
  for (const int n : {0, 1, 31, 32, 33, 1056, 1057, 40000}) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto model = iota_vector(n);
    const IntVec vec(model.begin(), model.end());
    const auto binary = save_to_string<cereal::BinaryOutputArchive>(vec);
    EXPECT_EQ(binary.size(), sizeof(cereal::size_type) + model.size() * sizeof(int));
    const auto loaded = load_from_string<cereal::BinaryInputArchive, IntVec>(binary);
    ASSERT_NO_FATAL_FAILURE(expect_matches(loaded, model));
    const auto portable = save_to_string<cereal::PortableBinaryOutputArchive>(vec);
    ASSERT_NO_FATAL_FAILURE(expect_matches(
        load_from_string<cereal::PortableBinaryInputArchive, IntVec>(portable), model));
    if (n <= 1057) {
      const auto json = save_to_string<cereal::JSONOutputArchive>(vec);
      ASSERT_NO_FATAL_FAILURE(
          expect_matches(load_from_string<cereal::JSONInputArchive, IntVec>(json), model));
    }
  }

  std::vector<std::string> words;
  for (int i = 0; i < 500; ++i)
    words.push_back(std::string(static_cast<std::size_t>(i % 9), 'w'));
  const canopy::PVector<std::string> strings(words.begin(), words.end());
  ASSERT_NO_FATAL_FAILURE(
      expect_matches(load_from_string<cereal::BinaryInputArchive, canopy::PVector<std::string>>(
                         save_to_string<cereal::BinaryOutputArchive>(strings)),
                     words));

  using Nested = canopy::PMap<std::string, canopy::PVector<double>>;
  Nested nested;
  nested.set("a", canopy::PVector<double>{1.5, 2.5});
  nested.set("b", canopy::PVector<double>(100, 0.25));
  const auto round_trip = load_from_string<cereal::BinaryInputArchive, Nested>(
      save_to_string<cereal::BinaryOutputArchive>(nested));
  EXPECT_EQ(round_trip, nested);
}

// R16/R17: readers on other threads read (and drop) their copies while the writer updates its
// own; the writer's nodes go from shared (copied on write) to uniquely owned (written in place).
// Run under -fsanitize=thread: it reports a race if dropping a reference does not order the
// reader's reads before the writer's in-place writes (checked: relaxed refcounts are caught).
TEST(StatePVector, R16_R17_ConcurrentReadersOfSnapshotsWhileWriterMutates) {
  constexpr int kN = 50000;
  const auto expected = iota_vector(kN);
  IntVec writer(expected.begin(), expected.end());

  // Relaxed on purpose: the only happens-before from the readers to the writer's in-place writes
  // must come from the containers' reference counts (what TSan is here to check).
  std::atomic<int> readers_done{0};
  std::atomic<bool> failed{false};
  auto reader = [&](IntVec mine, int rounds) {
    for (int round = 0; round < rounds; ++round) {
      long long sum = 0;
      for (int value : mine)
        sum += value;
      if (sum != static_cast<long long>(kN) * (kN - 1) / 2) failed = true;
      for (int i = 0; i < kN; i += 101) {
        if (mine[static_cast<std::size_t>(i)] != i) failed = true;
      }
      const IntVec nested = mine;
      if (!(nested == mine)) failed = true;
    }
    mine = IntVec();  // drop the snapshot while the writer is still going
    readers_done.fetch_add(1, std::memory_order_relaxed);
  };
  std::thread first(reader, writer, 8);
  std::thread second(reader, IntVec(writer), 4);

  std::mt19937_64 rng(9);
  std::vector<int> model = expected;
  int steps_after_readers = 0;
  for (int step = 0; step < 5'000'000 && steps_after_readers < 30000; ++step) {
    if (readers_done.load(std::memory_order_relaxed) == 2) ++steps_after_readers;
    const auto op = rng() % 4;
    if (op == 0) {
      writer.push_back(step);
      model.push_back(step);
    } else if (op == 1 && !model.empty()) {
      writer.pop_back();
      model.pop_back();
    } else if (!model.empty()) {
      // While the readers run, stay near the front so most nodes are still shared when they
      // let go; afterwards write everywhere, in place, into nodes the readers have read.
      const std::size_t range =
          steps_after_readers == 0 ? std::min<std::size_t>(model.size(), 2000) : model.size();
      const auto i = rng() % range;
      writer.set(i, step);
      model[i] = step;
    }
    if (step % 5000 == 0) {
      IntVec scratch = writer;
      scratch.push_back(-1);
    }
  }
  first.join();
  second.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(steps_after_readers, 30000);
  ASSERT_NO_FATAL_FAILURE(expect_matches(writer, model));
}

// An element whose copies can be made to throw on the n-th copy (moves never throw).
struct Fragile {
  static inline int copies_until_throw = 0;  // 0 = never
  int value = 0;

  Fragile() = default;
  explicit Fragile(int v) : value(v) {}
  Fragile(const Fragile& other) : value(other.value) { tick(); }
  Fragile& operator=(const Fragile& other) {
    tick();
    value = other.value;
    return *this;
  }
  Fragile(Fragile&&) noexcept = default;
  Fragile& operator=(Fragile&&) noexcept = default;
  friend bool operator==(const Fragile&, const Fragile&) = default;

  static void tick() {
    if (copies_until_throw > 0 && --copies_until_throw == 0) throw std::runtime_error("copy");
  }
};

// R7: an update interrupted by a throwing copy leaves the vector exactly as it was.
TEST(StatePVector, R7_UpdatesThatThrowLeaveTheVectorUnchanged) {
  using FragileVec = canopy::PVector<Fragile>;
  FragileVec base;
  for (int i = 0; i < 2000; ++i)
    base.push_back(Fragile(i));
  auto values = [](const FragileVec& vec) {
    vec.detail_check_invariants();
    std::vector<int> out;
    for (const Fragile& f : vec)
      out.push_back(f.value);
    return out;
  };
  const auto base_values = values(base);

  std::mt19937_64 rng(4);
  int throws = 0;
  for (int trial = 0; trial < 600; ++trial) {
    FragileVec vec = base;
    const int extra = static_cast<int>(rng() % 100);
    for (int i = 0; i < extra; ++i)
      vec.push_back(Fragile(-i));  // tails of every fill level
    auto model = values(vec);
    const FragileVec keep = trial % 2 == 0 ? vec : FragileVec();

    Fragile::copies_until_throw = 1 + static_cast<int>(rng() % 40);
    try {
      switch (trial % 3) {
        case 0:
          vec.push_back(Fragile(7));
          model.push_back(7);
          break;
        case 1:
          vec.pop_back();
          model.pop_back();
          break;
        default: {
          const auto i = rng() % model.size();
          vec.set(i, Fragile(9));
          model[i] = 9;
        }
      }
    } catch (const std::runtime_error&) {
      ++throws;
    }
    Fragile::copies_until_throw = 0;
    ASSERT_EQ(values(vec), model) << "trial " << trial;
  }
  EXPECT_GT(throws, 100);
  EXPECT_EQ(values(base), base_values);
}

}  // namespace
