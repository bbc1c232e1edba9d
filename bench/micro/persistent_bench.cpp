// Micro-benchmarks for canopy's persistent containers (include/canopy/pmap.hpp, pvector.hpp).
//
// What R7 (rollback copies) and R17 (one copy of the callee's state per call edge) cost:
//   *Copy          — taking (and dropping) a snapshot: O(1) for PMap/PVector, O(n) for std::
//   *CopyThenSet   — a snapshot followed by one write (the write path-copies O(log n) nodes)
//   *SetInPlace    — a write through a handle that owns its nodes alone (no copying)
//   *Find / Get    — reads
// Sizes: 10k, 100k, 1M entries. Keys are a fixed pseudo-random permutation (seed 42).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "canopy/pmap.hpp"
#include "canopy/pvector.hpp"

namespace {

using IntMap = canopy::PMap<std::int64_t, std::int64_t>;
using StdMap = std::map<std::int64_t, std::int64_t>;
using IntVec = canopy::PVector<std::int64_t>;

// The keys 0, 2, 4, ... 2(n-1) in a fixed shuffled order (odd keys are known to be absent).
const std::vector<std::int64_t>& keys(std::int64_t n) {
  static std::map<std::int64_t, std::vector<std::int64_t>> cache;
  auto& out = cache[n];
  if (out.empty()) {
    out.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      out[static_cast<std::size_t>(i)] = 2 * i;
    std::shuffle(out.begin(), out.end(), std::mt19937_64(42));
  }
  return out;
}

const IntMap& pmap_of(std::int64_t n) {
  static std::map<std::int64_t, IntMap> cache;
  auto& out = cache[n];
  if (out.empty()) {
    for (const auto key : keys(n))
      out.set(key, key);
  }
  return out;
}

const StdMap& std_map_of(std::int64_t n) {
  static std::map<std::int64_t, StdMap> cache;
  auto& out = cache[n];
  if (out.empty()) {
    for (const auto key : keys(n))
      out.emplace(key, key);
  }
  return out;
}

const IntVec& pvector_of(std::int64_t n) {
  static std::map<std::int64_t, IntVec> cache;
  auto& out = cache[n];
  if (out.empty()) {
    for (std::int64_t i = 0; i < n; ++i)
      out.push_back(i);
  }
  return out;
}

void sizes(benchmark::internal::Benchmark* bench) {
  bench->Arg(10'000)->Arg(100'000)->Arg(1'000'000);
}

// ---- PMap vs std::map -------------------------------------------------------------------------

void BM_PMapCopy(benchmark::State& state) {
  const IntMap& base = pmap_of(state.range(0));
  for (auto _ : state) {
    IntMap copy = base;
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_PMapCopy)->Apply(sizes);

void BM_StdMapCopy(benchmark::State& state) {
  const StdMap& base = std_map_of(state.range(0));
  for (auto _ : state) {
    StdMap copy = base;
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_StdMapCopy)->Apply(sizes)->Unit(benchmark::kMicrosecond);

void BM_PMapCopyThenSet(benchmark::State& state) {
  const IntMap& base = pmap_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    IntMap copy = base;
    copy.set(ks[i], -1);
    benchmark::DoNotOptimize(copy);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_PMapCopyThenSet)->Apply(sizes);

void BM_PMapCopyThenErase(benchmark::State& state) {
  const IntMap& base = pmap_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    IntMap copy = base;
    copy.erase(ks[i]);
    benchmark::DoNotOptimize(copy);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_PMapCopyThenErase)->Apply(sizes);

// A handle that owns its nodes alone overwrites in place (no allocation).
void BM_PMapSetInPlace(benchmark::State& state) {
  IntMap own = pmap_of(state.range(0));
  own.set(-2, 0);  // one private path; then make everything private:
  {
    IntMap rebuilt;
    for (const auto& [key, value] : own)
      rebuilt.set(key, value);
    own = std::move(rebuilt);
  }
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    own.set(ks[i], static_cast<std::int64_t>(i));
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(own);
}
BENCHMARK(BM_PMapSetInPlace)->Apply(sizes);

void BM_StdMapAssign(benchmark::State& state) {
  StdMap own = std_map_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    own[ks[i]] = static_cast<std::int64_t>(i);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(own);
}
BENCHMARK(BM_StdMapAssign)->Apply(sizes);

// Insert then erase one fresh key through a sole owner (rebalancing, one allocation).
void BM_PMapInsertEraseInPlace(benchmark::State& state) {
  IntMap own;
  for (const auto key : keys(state.range(0)))
    own.set(key, key);
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    own.set(ks[i] + 1, 0);
    own.erase(ks[i] + 1);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(own);
}
BENCHMARK(BM_PMapInsertEraseInPlace)->Apply(sizes);

void BM_StdMapInsertErase(benchmark::State& state) {
  StdMap own = std_map_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    own.emplace(ks[i] + 1, 0);
    own.erase(ks[i] + 1);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(own);
}
BENCHMARK(BM_StdMapInsertErase)->Apply(sizes);

void BM_PMapFind(benchmark::State& state) {
  const IntMap& base = pmap_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(base.find(ks[i]));
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_PMapFind)->Apply(sizes);

void BM_StdMapFind(benchmark::State& state) {
  const StdMap& base = std_map_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(base.find(ks[i]));
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_StdMapFind)->Apply(sizes);

// ---- PVector vs std::vector -------------------------------------------------------------------

void BM_PVectorCopy(benchmark::State& state) {
  const IntVec& base = pvector_of(state.range(0));
  for (auto _ : state) {
    IntVec copy = base;
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_PVectorCopy)->Apply(sizes);

void BM_StdVectorCopy(benchmark::State& state) {
  const std::vector<std::int64_t> base(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) {
    std::vector<std::int64_t> copy = base;
    benchmark::DoNotOptimize(copy.data());
  }
}
BENCHMARK(BM_StdVectorCopy)->Apply(sizes);

void BM_PVectorCopyThenSet(benchmark::State& state) {
  const IntVec& base = pvector_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    IntVec copy = base;
    copy.set(static_cast<std::size_t>(ks[i] / 2), -1);
    benchmark::DoNotOptimize(copy);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_PVectorCopyThenSet)->Apply(sizes);

void BM_PVectorSetInPlace(benchmark::State& state) {
  IntVec own;
  for (std::int64_t i = 0; i < state.range(0); ++i)
    own.push_back(i);
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    own.set(static_cast<std::size_t>(ks[i] / 2), static_cast<std::int64_t>(i));
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
  benchmark::DoNotOptimize(own);
}
BENCHMARK(BM_PVectorSetInPlace)->Apply(sizes);

void BM_PVectorGet(benchmark::State& state) {
  const IntVec& base = pvector_of(state.range(0));
  const auto& ks = keys(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(base[static_cast<std::size_t>(ks[i] / 2)]);
    i = i + 1 == ks.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_PVectorGet)->Apply(sizes);

void BM_PVectorPushBack(benchmark::State& state) {
  for (auto _ : state) {
    IntVec vec;
    for (std::int64_t i = 0; i < state.range(0); ++i)
      vec.push_back(i);
    benchmark::DoNotOptimize(vec);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PVectorPushBack)->Apply(sizes)->Unit(benchmark::kMicrosecond);

void BM_PVectorIterate(benchmark::State& state) {
  const IntVec& base = pvector_of(state.range(0));
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto value : base)
      sum += value;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PVectorIterate)->Apply(sizes)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
