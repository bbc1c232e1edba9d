// Tests for canopy::PMap (include/canopy/pmap.hpp): the persistent map behind canister state
// snapshots — trap rollback copies (R7), per-edge copies of composite queries (R17), committed
// state read by concurrent queries (R16) and checkpoints (R21).
//
// Randomised tests are seeded; the seed is printed on failure (SCOPED_TRACE) and can be forced
// with CANOPY_TEST_SEED=<n>.
#include "canopy/pmap.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/archives/json.hpp>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>

namespace {

using IntMap = canopy::PMap<int, int>;
using Model = std::map<int, int>;

static_assert(std::forward_iterator<IntMap::const_iterator>);
static_assert(std::is_nothrow_move_constructible_v<IntMap>);

std::vector<std::uint64_t> test_seeds(std::initializer_list<std::uint64_t> defaults) {
  if (const char* forced = std::getenv("CANOPY_TEST_SEED")) {
    return {std::strtoull(forced, nullptr, 10)};
  }
  return defaults;
}

template <class K, class V, class C>
void expect_matches(const canopy::PMap<K, V, C>& map, const std::map<K, V, C>& model) {
  map.detail_check_invariants();
  ASSERT_EQ(map.size(), model.size());
  ASSERT_EQ(map.empty(), model.empty());
  auto it = map.begin();
  for (const auto& [key, value] : model) {
    ASSERT_NE(it, map.end());
    ASSERT_EQ(it->first, key);
    ASSERT_EQ(it->second, value);
    ++it;
  }
  ASSERT_EQ(it, map.end());
}

std::set<const void*> node_ids(const IntMap& map) {
  std::set<const void*> ids;
  map.detail_visit_nodes([&](const void* id) { ids.insert(id); });
  return ids;
}

std::size_t count_not_in(const std::set<const void*>& ids, const std::set<const void*>& other) {
  std::size_t missing = 0;
  for (const void* id : ids)
    missing += other.count(id) == 0 ? 1 : 0;
  return missing;
}

TEST(StatePMap, R17_BasicOperations) {
  IntMap map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.find(1), nullptr);
  EXPECT_FALSE(map.erase(1));
  EXPECT_THROW((void)map.at(1), std::out_of_range);

  EXPECT_TRUE(map.set(2, 20));
  EXPECT_TRUE(map.insert_or_assign(1, 10));
  EXPECT_TRUE(map.set(3, 30));
  EXPECT_FALSE(map.set(2, 21));     // overwrite
  EXPECT_FALSE(map.insert(2, 99));  // insert never overwrites
  EXPECT_TRUE(map.insert(4, 40));
  EXPECT_EQ(map.size(), 4u);
  ASSERT_NE(map.find(2), nullptr);
  EXPECT_EQ(*map.find(2), 21);
  EXPECT_EQ(map.at(4), 40);
  EXPECT_TRUE(map.contains(3));
  EXPECT_FALSE(map.contains(5));

  EXPECT_TRUE(map.update(3, [](int& value) { value += 1; }));
  EXPECT_FALSE(map.update(9, [](int&) { ADD_FAILURE() << "called for an absent key"; }));
  EXPECT_EQ(map.at(3), 31);

  EXPECT_TRUE(map.erase(1));
  EXPECT_FALSE(map.erase(1));
  expect_matches(map, Model{{2, 21}, {3, 31}, {4, 40}});

  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.begin(), map.end());
  map.detail_check_invariants();
}

TEST(StatePMap, R17_InitializerListIterationAndLowerBound) {
  const IntMap map{{5, 50}, {1, 10}, {3, 30}, {9, 90}, {3, 31}};  // later duplicate wins
  expect_matches(map, Model{{1, 10}, {3, 31}, {5, 50}, {9, 90}});
  EXPECT_EQ(std::distance(map.begin(), map.end()), 4);

  EXPECT_EQ(map.lower_bound(0)->first, 1);
  EXPECT_EQ(map.lower_bound(3)->first, 3);
  EXPECT_EQ(map.lower_bound(4)->first, 5);
  EXPECT_EQ(map.lower_bound(9)->first, 9);
  EXPECT_EQ(map.lower_bound(10), map.end());

  std::vector<int> from_four;
  for (auto it = map.lower_bound(4); it != map.end(); ++it)
    from_four.push_back(it->first);
  EXPECT_EQ(from_four, (std::vector<int>{5, 9}));

  const canopy::PMap<std::string, int, std::greater<>> reversed{{"a", 1}, {"c", 3}, {"b", 2}};
  std::string order;
  for (const auto& [key, value] : reversed)
    order += key;
  EXPECT_EQ(order, "cba");
  reversed.detail_check_invariants();
}

TEST(StatePMap, R17_WithAndWithoutLeaveTheOriginalUnchanged) {
  const IntMap base{{1, 10}, {2, 20}};
  const IntMap added = base.with(3, 30);
  const IntMap removed = base.without(1);
  const IntMap replaced = base.with(2, 22);
  expect_matches(base, Model{{1, 10}, {2, 20}});
  expect_matches(added, Model{{1, 10}, {2, 20}, {3, 30}});
  expect_matches(removed, Model{{2, 20}});
  expect_matches(replaced, Model{{1, 10}, {2, 22}});
  EXPECT_EQ(base.without(7), base);

  IntMap chain = IntMap().with(1, 1).with(2, 2).without(1);  // rvalue overloads
  expect_matches(chain, Model{{2, 2}});

  EXPECT_NE(base, added);
  EXPECT_NE(base, replaced);
  EXPECT_EQ(added.without(3), base);
  EXPECT_EQ(IntMap{}, IntMap{});
}

TEST(StatePMap, R17_MoveLeavesAnEmptyValidMap) {
  IntMap source{{1, 1}, {2, 2}};
  IntMap target = std::move(source);
  EXPECT_EQ(source.size(), 0u);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_TRUE(source.empty());
  source.detail_check_invariants();
  source.set(7, 7);
  expect_matches(source, Model{{7, 7}});
  expect_matches(target, Model{{1, 1}, {2, 2}});
  source = std::move(target);
  expect_matches(source, Model{{1, 1}, {2, 2}});
  EXPECT_TRUE(target.empty());  // NOLINT(bugprone-use-after-move)
  swap(source, target);
  expect_matches(target, Model{{1, 1}, {2, 2}});
}

// The core persistence property: random updates through many handles, with every snapshot
// (and its std::map model) checked at the end — old versions stay intact (R7 rollback copies,
// R17 per-edge copies). Snapshots are also dropped at random so nodes go back to being uniquely
// owned and the in-place path is mixed with the copying path.
TEST(StatePMap, R7_R17_RandomOpsMatchStdMapAndSnapshotsStayIntact) {
  for (const std::uint64_t seed : test_seeds({1, 2, 3, 0xC0FFEE})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int key_range = seed % 2 == 0 ? 300 : 5000;
    auto random_key = [&] { return static_cast<int>(rng() % static_cast<unsigned>(key_range)); };

    IntMap map;
    Model model;
    std::vector<std::pair<IntMap, Model>> snapshots;
    for (int step = 0; step < 20000; ++step) {
      const auto op = rng() % 100;
      const int key = random_key();
      const int value = static_cast<int>(rng() % 1000000);
      if (op < 45) {
        const bool inserted = map.set(key, value);
        ASSERT_EQ(inserted, model.count(key) == 0);
        model[key] = value;
      } else if (op < 75) {
        ASSERT_EQ(map.erase(key), model.erase(key) == 1);
      } else if (op < 85) {
        const int* found = map.find(key);
        const auto expected = model.find(key);
        ASSERT_EQ(found != nullptr, expected != model.end());
        if (found != nullptr) {
          ASSERT_EQ(*found, expected->second);
        }
      } else if (op < 90) {
        snapshots.emplace_back(map, model);
      } else if (op < 93 && !snapshots.empty()) {
        // Branch off an old snapshot and keep working on the branch.
        auto& [old_map, old_model] = snapshots[rng() % snapshots.size()];
        map = old_map.with(key, value);
        model = old_model;
        model[key] = value;
      } else if (op < 96 && !snapshots.empty()) {
        snapshots.erase(snapshots.begin() + static_cast<std::ptrdiff_t>(rng() % snapshots.size()));
      } else if (op < 98) {
        map = std::move(map).without(key);
        model.erase(key);
      } else {
        if (key % 7 == 0) {
          map.update(key, [](int& v) { v = -v; });
          if (auto it = model.find(key); it != model.end()) it->second = -it->second;
        }
      }
      if (step % 1000 == 0) {
        ASSERT_NO_FATAL_FAILURE(expect_matches(map, model));
      }
    }
    ASSERT_NO_FATAL_FAILURE(expect_matches(map, model));
    for (const auto& [old_map, old_model] : snapshots) {
      ASSERT_NO_FATAL_FAILURE(expect_matches(old_map, old_model));
    }
  }
}

// Property-based (rapidcheck): any sequence of set/erase on a copy agrees with std::map, and the
// original is untouched.
TEST(StatePMap, R17_PropertyAgreesWithStdMapAndOriginalUntouched) {
  const bool ok =
      rc::check("PMap agrees with std::map; the copy it started from is untouched",
                [](const std::vector<std::pair<int, int>>& initial,
                   const std::vector<std::tuple<bool, std::uint8_t, int>>& ops) {
                  IntMap original;
                  Model original_model;
                  for (const auto& [key, value] : initial) {
                    original.set(key % 128, value);
                    original_model[key % 128] = value;
                  }
                  IntMap map = original;
                  Model model = original_model;
                  for (const auto& [is_set, key, value] : ops) {
                    if (is_set) {
                      RC_ASSERT(map.set(key, value) == (model.count(key) == 0));
                      model[key] = value;
                    } else {
                      RC_ASSERT(map.erase(key) == (model.erase(key) == 1));
                    }
                  }
                  map.detail_check_invariants();
                  original.detail_check_invariants();
                  RC_ASSERT(std::equal(map.begin(), map.end(), model.begin(), model.end()));
                  RC_ASSERT(std::equal(original.begin(), original.end(), original_model.begin(),
                                       original_model.end()));
                  RC_ASSERT((map == original) == (model == original_model));
                });
  EXPECT_TRUE(ok);
}

// R17: a per-edge copy must be O(1). A copy shares the root (no node is allocated), and one
// update afterwards allocates only the path — checked by node identity, not by wall clock.
TEST(StatePMap, R17_CopyIsO1AndUpdatesCopyOnlyThePath) {
  IntMap map;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i)
    map.set(static_cast<int>(rng() % 1000000), i);
  const std::size_t n = map.size();
  const auto original_ids = node_ids(map);
  ASSERT_EQ(original_ids.size(), n);
  const std::size_t height = static_cast<std::size_t>(map.detail_height());
  EXPECT_LE(static_cast<double>(height), 1.4405 * std::log2(static_cast<double>(n) + 2));

  IntMap copy = map;
  EXPECT_EQ(copy.detail_root_id(), map.detail_root_id());
  EXPECT_EQ(node_ids(copy), original_ids);  // every node shared, none allocated

  const int existing = map.begin()->first;
  copy.set(existing, -1);
  auto copy_ids = node_ids(copy);
  EXPECT_LE(count_not_in(copy_ids, original_ids), height);  // only the path was copied
  EXPECT_EQ(map.at(existing), map.begin()->second);
  EXPECT_EQ(copy.at(existing), -1);

  copy.set(-5, 5);  // a new key: path + new node (+ rotations among path nodes)
  copy_ids = node_ids(copy);
  EXPECT_LE(count_not_in(copy_ids, original_ids), 2 * height + 1);

  IntMap erased = map;
  for (int i = 0; i < 10; ++i)
    erased.erase(std::next(map.begin(), i * 1000)->first);
  // Each erase copies its path and the siblings its rotations move (<= 3 per level).
  EXPECT_LE(count_not_in(node_ids(erased), original_ids), 10 * 3 * (height + 1));
  EXPECT_EQ(erased.size(), n - 10);
  EXPECT_EQ(node_ids(map), original_ids);  // the original never changed
  map.detail_check_invariants();
  copy.detail_check_invariants();
  erased.detail_check_invariants();
}

// Transient optimisation: a handle that is the sole owner updates in place (no new nodes); as
// soon as a copy exists it copies, and once the copy is gone it goes back to in-place.
TEST(StatePMap, R17_SoleOwnerUpdatesInPlaceSharedOwnerCopies) {
  IntMap map;
  for (int i = 0; i < 1000; ++i)
    map.set(i, i);
  const auto ids = node_ids(map);

  map.set(500, -500);  // overwrite: no allocation at all
  EXPECT_EQ(node_ids(map), ids);
  map.update(7, [](int& v) { v = 70; });
  EXPECT_EQ(node_ids(map), ids);

  map.set(5000, 1);  // insert: exactly one new node
  auto after_insert = node_ids(map);
  EXPECT_EQ(after_insert.size(), ids.size() + 1);
  EXPECT_EQ(count_not_in(after_insert, ids), 1u);

  {
    const IntMap copy = map;
    const void* root = map.detail_root_id();
    map.set(500, 1);
    EXPECT_NE(map.detail_root_id(), root);  // shared root was copied
    EXPECT_EQ(copy.detail_root_id(), root);
    EXPECT_EQ(copy.at(500), -500);
  }
  const void* root = map.detail_root_id();
  const auto before = node_ids(map);
  map.set(500, 2);  // the copy is gone: in place again
  EXPECT_EQ(map.detail_root_id(), root);
  EXPECT_EQ(node_ids(map), before);
  map.erase(3);  // erase of a sole owner allocates nothing either
  EXPECT_EQ(count_not_in(node_ids(map), before), 0u);
  map.detail_check_invariants();
}

TEST(StatePMap, R17_LargeMaps100k) {
  constexpr int kN = 100000;
  IntMap ascending;
  for (int i = 0; i < kN; ++i)
    ascending.set(i, i * 2);  // worst case for unbalanced trees
  ascending.detail_check_invariants();
  EXPECT_EQ(ascending.size(), static_cast<std::size_t>(kN));
  EXPECT_LE(static_cast<double>(ascending.detail_height()), 1.4405 * std::log2(kN + 2.0));
  const IntMap snapshot = ascending;
  for (int i = 0; i < kN; i += 2)
    ASSERT_TRUE(ascending.erase(i));
  ascending.detail_check_invariants();
  EXPECT_EQ(ascending.size(), static_cast<std::size_t>(kN / 2));
  for (int i = 0; i < kN; ++i) {
    const int* found = ascending.find(i);
    ASSERT_EQ(found != nullptr, i % 2 == 1);
    ASSERT_EQ(snapshot.at(i), i * 2);
  }
  snapshot.detail_check_invariants();

  std::mt19937_64 rng(11);
  IntMap random_map;
  Model model;
  for (int i = 0; i < kN; ++i) {
    const int key = static_cast<int>(rng() % 200000);
    random_map.set(key, i);
    model[key] = i;
  }
  for (int i = 0; i < kN / 2; ++i) {
    const int key = static_cast<int>(rng() % 200000);
    ASSERT_EQ(random_map.erase(key), model.erase(key) == 1);
  }
  ASSERT_NO_FATAL_FAILURE(expect_matches(random_map, model));
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

// R21: canister state containing PMap is checkpointed with cereal.
TEST(StatePMap, R21_CerealRoundTrip) {
  canopy::PMap<std::string, std::string> map;
  for (int i = 0; i < 5000; ++i)
    map.set("key" + std::to_string(i), std::string(i % 17, 'x'));
  using StrMap = decltype(map);

  const auto binary = save_to_string<cereal::BinaryOutputArchive>(map);
  const auto from_binary = load_from_string<cereal::BinaryInputArchive, StrMap>(binary);
  EXPECT_EQ(from_binary, map);
  from_binary.detail_check_invariants();
  // Loading sorted data builds a perfectly balanced tree.
  EXPECT_EQ(from_binary.detail_height(),
            static_cast<int>(std::floor(std::log2(static_cast<double>(map.size())))) + 1);

  const auto portable = save_to_string<cereal::PortableBinaryOutputArchive>(map);
  EXPECT_EQ((load_from_string<cereal::PortableBinaryInputArchive, StrMap>(portable)), map);

  const auto json = save_to_string<cereal::JSONOutputArchive>(map);
  EXPECT_EQ((load_from_string<cereal::JSONInputArchive, StrMap>(json)), map);

  const IntMap empty;
  EXPECT_EQ((load_from_string<cereal::BinaryInputArchive, IntMap>(
                save_to_string<cereal::BinaryOutputArchive>(empty))),
            empty);

  // Loading replaces previous contents.
  IntMap target{{1, 1}};
  {
    std::istringstream is(save_to_string<cereal::BinaryOutputArchive>(IntMap{{2, 2}}));
    cereal::BinaryInputArchive archive(is);
    archive(target);
  }
  expect_matches(target, Model{{2, 2}});
}

// Same layout as cereal's std::map: either loads what the other saved, including keys that
// arrive out of order (an archive from a map with another comparator).
TEST(StatePMap, R21_CerealCompatibleWithStdMapLayout) {
  const Model model{{1, 10}, {2, 20}, {3, 30}};
  const auto from_std = load_from_string<cereal::BinaryInputArchive, IntMap>(
      save_to_string<cereal::BinaryOutputArchive>(model));
  expect_matches(from_std, model);

  const auto to_std = load_from_string<cereal::BinaryInputArchive, Model>(
      save_to_string<cereal::BinaryOutputArchive>(from_std));
  EXPECT_EQ(to_std, model);

  const std::map<int, int, std::greater<>> descending{{1, 10}, {2, 20}, {3, 30}, {4, 40}};
  const auto resorted = load_from_string<cereal::JSONInputArchive, IntMap>(
      save_to_string<cereal::JSONOutputArchive>(descending));
  expect_matches(resorted, Model{{1, 10}, {2, 20}, {3, 30}, {4, 40}});
}

// R16/R17: queries read committed snapshots on other threads while the round updates its own
// copy. Readers own copies of the snapshot and drop them while the writer keeps going, so the
// writer's nodes go from shared (copied on write) to uniquely owned (written in place).
// Run under -fsanitize=thread: it reports a race if dropping a reference does not order the
// reader's reads before the writer's in-place writes (checked: relaxed refcounts are caught).
TEST(StatePMap, R16_R17_ConcurrentReadersOfSnapshotsWhileWriterMutates) {
  constexpr int kN = 20000;
  IntMap writer;
  for (int i = 0; i < kN; ++i)
    writer.set(i * 3, i);
  const Model expected(writer.begin(), writer.end());

  // Relaxed on purpose: the only happens-before from the readers to the writer's in-place writes
  // must come from the containers' reference counts (what TSan is here to check).
  std::atomic<int> readers_done{0};
  std::atomic<bool> failed{false};
  auto reader = [&](IntMap mine, int rounds) {
    for (int round = 0; round < rounds; ++round) {
      long long sum = 0;
      for (const auto& [key, value] : mine)
        sum += value;
      if (sum != static_cast<long long>(kN) * (kN - 1) / 2) failed = true;
      for (int i = 0; i < kN; i += 97) {
        const int* found = mine.find(i * 3);
        if (found == nullptr || *found != i || mine.contains(i * 3 + 1)) failed = true;
      }
      const IntMap nested = mine;  // a per-edge copy inside the reader
      if (!(nested == mine)) failed = true;
    }
    if (!std::equal(mine.begin(), mine.end(), expected.begin(), expected.end())) failed = true;
    mine = IntMap();  // drop the snapshot while the writer is still going
    readers_done.fetch_add(1, std::memory_order_relaxed);
  };
  std::thread first(reader, writer, 8);
  std::thread second(reader, IntMap(writer), 4);

  std::mt19937_64 rng(5);
  Model model = expected;
  int steps_after_readers = 0;
  for (int step = 0; step < 5'000'000 && steps_after_readers < 30000; ++step) {
    if (readers_done.load(std::memory_order_relaxed) == 2) ++steps_after_readers;
    // While the readers run, stay in a corner so most nodes are still shared when they let
    // go; afterwards write everywhere, in place, into nodes the readers have read.
    const int key_range = steps_after_readers == 0 ? 3000 : kN * 3;
    const int key = static_cast<int>(rng() % static_cast<unsigned>(key_range));
    if (rng() % 3 == 0) {
      writer.erase(key);
      model.erase(key);
    } else {
      writer.set(key, step);
      model[key] = step;
    }
    if (step % 5000 == 0) {
      IntMap scratch = writer;  // short-lived per-edge copy on the writer's thread
      scratch.set(-1, -1);
    }
  }
  first.join();
  second.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(steps_after_readers, 30000);
  ASSERT_NO_FATAL_FAILURE(expect_matches(writer, model));
}

// A value whose copies can be made to throw on the n-th copy (moves never throw).
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

// R7: a trap may strike in the middle of an update (here a copy of V throws while the path
// is being copied): the handle must be left exactly as before — strong guarantee.
TEST(StatePMap, R7_UpdatesThatThrowLeaveTheMapUnchanged) {
  using FragileMap = canopy::PMap<int, Fragile>;
  FragileMap base;
  for (int i = 0; i < 3000; i += 2)
    base.set(i, Fragile(i));
  const std::map<int, int> base_model = [&] {
    std::map<int, int> m;
    for (const auto& [key, value] : base)
      m[key] = value.value;
    return m;
  }();
  auto matches = [&](const FragileMap& map, const std::map<int, int>& model) {
    map.detail_check_invariants();
    return map.size() == model.size() && std::equal(map.begin(), map.end(), model.begin(),
                                                    model.end(), [](const auto& a, const auto& b) {
                                                      return a.first == b.first &&
                                                             a.second.value == b.second;
                                                    });
  };

  std::mt19937_64 rng(3);
  int throws = 0;
  for (int trial = 0; trial < 600; ++trial) {
    FragileMap map = base;  // shared with base: every update must copy nodes
    if (trial % 3 == 0) {   // and sometimes half-shared
      for (int i = 0; i < 40; ++i)
        map.set(static_cast<int>(rng() % 3000), Fragile(-1));
    }
    std::map<int, int> model;
    for (const auto& [key, value] : map)
      model[key] = value.value;
    const FragileMap keep = trial % 2 == 0 ? map : FragileMap();

    const int key = static_cast<int>(rng() % 3000);
    const int op = trial % 3;
    Fragile::copies_until_throw = 1 + static_cast<int>(rng() % 40);
    try {
      if (op == 0) {
        map.set(key, Fragile(7));
        model[key] = 7;
      } else if (op == 1) {
        map.erase(key);
        model.erase(key);
      } else {
        map = map.without(key).with(key + 1, Fragile(9));
        model.erase(key);
        model[key + 1] = 9;
      }
    } catch (const std::runtime_error&) {
      ++throws;
    }
    Fragile::copies_until_throw = 0;
    ASSERT_TRUE(matches(map, model)) << "trial " << trial;
    if (trial % 2 == 0) {
      ASSERT_FALSE(keep.empty());
    }
  }
  EXPECT_GT(throws, 100);  // the interesting path was exercised
  EXPECT_TRUE(matches(base, base_model));
}

}  // namespace
