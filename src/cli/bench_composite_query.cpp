// `canopy bench composite-query` — seed 002 benchmarks:
//   copy     the cost of one per-call-edge state copy against shard size (--sizes, default 10k,
//            100k, 1M keys): PMap state (should stay flat) and std::map state (grows with n);
//            also the latency of the whole one-edge composite query;
//   memory   peak memory of a call tree (--tree-depth, --tree-fanout) whose every execution
//            holds a --state-kb state: depth-first vs breadth-first vs parallel (copies alive at
//            once and heap in use, sampled inside every execution with mallinfo2);
//   qps      composite queries (get_many fan-out) per second on --query-threads threads through
//            QueryService while the driver runs rounds of updates, against the same without
//            rounds, for the depth-first and parallel orders.
// --json prints one object {"copy":[..],"memory":[..],"qps":[..],"config":{..}}.
#include <fmt/format.h>
#include <malloc.h>
#include <canopy/canopy.hpp>
#include <canopy/query.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "sharded_kv/sharded_kv.hpp"

namespace canopy::cli {
namespace {

using examples::sharded_kv::CallOutcome;
using examples::sharded_kv::Frontend;
using examples::sharded_kv::key_name;
using examples::sharded_kv::Shard;
using examples::sharded_kv::shard_of;
using examples::sharded_kv::ShardState;
using examples::sharded_kv::StdShard;
using examples::sharded_kv::Values;

std::atomic<uint64_t> g_heap_peak{0};

uint64_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<uint64_t>(mi.uordblks + mi.hblkhd);
}

// A call tree over a flat (non-persistent) state: every copy costs its full size.
struct HeavyTree : Canister<std::vector<uint64_t>> {
  static void methods(Methods<HeavyTree>& m) { m.composite_query("tree", &HeavyTree::tree); }
  Task<uint64_t> tree(Ctx& ctx, uint64_t depth, uint64_t fanout) {
    const uint64_t h = heap_in_use();
    uint64_t cur = g_heap_peak.load();
    while (cur < h && !g_heap_peak.compare_exchange_weak(cur, h)) {
    }
    if (!state().empty()) state()[0] += 1;  // the copy is this execution's own
    if (depth == 0) co_return 1;
    std::vector<Call<uint64_t>> calls;
    for (uint64_t i = 0; i < fanout; ++i)
      calls.push_back(ctx.call<uint64_t>(ctx.self(), "tree", depth - 1, fanout));
    uint64_t n = 1;
    for (auto& r : co_await when_all_settled(std::move(calls))) {
      if (!r) throw Trap("tree: " + r.error().to_string());
      n += *r;
    }
    co_return n;
  }
};

struct Options {
  bool json = false;
  std::string sizes = "10000,100000,1000000";
  int64_t copy_repeats = 101;
  bool std_map = true;
  int64_t tree_depth = 6;
  int64_t tree_fanout = 3;
  int64_t state_kb = 64;
  int64_t query_threads = 2;
  double seconds = 3.0;
  int64_t shards = 8;
  int64_t keys = 100'000;
  int64_t lookup = 16;
};

double since_s(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct CopyResult {
  double copy_us = 0;   // median per-edge copy (Env wall time around clone())
  double query_us = 0;  // median whole one-edge composite query
};

template <class C, class Build>
CopyResult measure_copy(uint64_t n, int64_t repeats, Build build) {
  Runtime rt(Config{}, std::make_unique<RealEnv>(0));
  const CanisterId big = rt.install<C>(rt.subnet(0), build(n));
  const CanisterId frontend = rt.install<Frontend>(rt.subnet(0));
  const Bytes payload = encode(big, key_name(n / 2));
  std::vector<double> copy, whole;
  for (int64_t i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto out = query_with_stats(rt, frontend, "probe_get", payload, QueryOrder::depth_first);
    whole.push_back(since_s(t0) * 1e6);
    if (!out.result || out.stats.edges != 1 || decode<CallOutcome>(*out.result).code != 0)
      throw std::runtime_error("copy probe failed");
    copy.push_back(static_cast<double>(out.stats.edge_copy_ns) / 1000.0);
  }
  return CopyResult{median(copy), median(whole)};
}

nlohmann::ordered_json bench_copy(const Options& o, std::string& text) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  text += "per-edge state copy against state size (median of the copy made for one call edge):\n";
  for (uint64_t n : parse_u64_list(o.sizes, "--sizes", 1, 10'000'000, 16, "10000,100000,1000000")) {
    progress(fmt::format("bench composite-query: copy cost, {} keys", n));
    auto p = measure_copy<Shard>(n, o.copy_repeats, [](uint64_t k) {
      ShardState st;
      for (uint64_t i = 0; i < k; ++i)
        st.data.set(key_name(i), "v" + std::to_string(i));
      return st;
    });
    nlohmann::ordered_json row = {
        {"keys", n}, {"pmap_copy_us", round3(p.copy_us)}, {"pmap_query_us", round3(p.query_us)}};
    std::string line = fmt::format("  {:>8} keys  PMap copy {:>8.3f} us  (whole query {:>8.3f} us)",
                                   n, p.copy_us, p.query_us);
    if (o.std_map) {
      auto s = measure_copy<StdShard>(
          n, std::max<int64_t>(1, std::min<int64_t>(o.copy_repeats, n >= 1'000'000 ? 5 : 21)),
          [](uint64_t k) {
            std::map<std::string, std::string> st;
            for (uint64_t i = 0; i < k; ++i)
              st.emplace_hint(st.end(), key_name(i), "v" + std::to_string(i));
            return st;
          });
      row["std_map_copy_us"] = round3(s.copy_us);
      line += fmt::format("   std::map copy {:>12.3f} us", s.copy_us);
    }
    rows.push_back(row);
    text += line + "\n";
  }
  return rows;
}

nlohmann::ordered_json bench_memory(const Options& o, std::string& text) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  const auto depth = static_cast<uint64_t>(o.tree_depth);
  const auto fanout = static_cast<uint64_t>(o.tree_fanout);
  const uint64_t words = static_cast<uint64_t>(o.state_kb) * 1024 / 8;
  text += fmt::format(
      "\npeak memory of a call tree (depth {}, fanout {}, {} KiB state per canister "
      "copy):\n",
      depth, fanout, o.state_kb);
  for (auto order : {QueryOrder::depth_first, QueryOrder::breadth_first, QueryOrder::parallel}) {
    Config cfg;
    cfg.composite_query_depth_max = static_cast<uint32_t>(std::max<uint64_t>(depth, 1));
    Runtime rt(cfg, std::make_unique<RealEnv>(0));
    const CanisterId tree = rt.install<HeavyTree>(rt.subnet(0), std::vector<uint64_t>(words, 7));
    malloc_trim(0);
    const uint64_t base = heap_in_use();
    g_heap_peak.store(base);
    const auto t0 = std::chrono::steady_clock::now();
    auto out = query_with_stats(rt, tree, "tree", encode(depth, fanout), order);
    const double ms = since_s(t0) * 1e3;
    if (!out.result)
      throw std::runtime_error("tree query failed: " + out.result.error().to_string());
    const double peak_mb = static_cast<double>(g_heap_peak.load() - base) / (1024.0 * 1024.0);
    rows.push_back({{"order", to_string(order)},
                    {"executions", out.stats.executions},
                    {"copies_peak", out.stats.copies_peak},
                    {"state_copies_peak_mb", round3(static_cast<double>(out.stats.copies_peak) *
                                                    static_cast<double>(o.state_kb) / 1024.0)},
                    {"heap_peak_mb", round3(peak_mb)},
                    {"wall_ms", round3(ms)}});
    text += fmt::format(
        "  {:<13} {:>6} executions  {:>6} copies alive at most  heap peak {:>9.3f} "
        "MiB  {:>9.3f} ms\n",
        to_string(order), out.stats.executions, out.stats.copies_peak, peak_mb, ms);
  }
  return rows;
}

struct QpsRun {
  double qps = 0;
  double rounds_per_s = 0;
  uint64_t queries = 0;
  uint64_t failures = 0;
};

QpsRun qps_run(const Options& o, QueryOrder order, bool rounds) {
  Config cfg;
  cfg.query_threads = static_cast<uint32_t>(o.query_threads);
  Runtime rt(cfg, std::make_unique<RealEnv>(0));
  const auto nshards = static_cast<uint32_t>(o.shards);
  std::vector<CanisterId> shards;
  for (uint32_t i = 0; i < nshards; ++i) {
    ShardState st;
    for (uint64_t k = 0; k < static_cast<uint64_t>(o.keys); ++k) {
      const std::string key = key_name(k);
      if (shard_of(key, nshards) == i) st.data.set(key, "v" + std::to_string(k));
    }
    shards.push_back(rt.install<Shard>(rt.subnet(0), std::move(st)));
  }
  const CanisterId frontend = rt.install<Frontend>(rt.subnet(0));
  if (!rt.update<void>(frontend, "set_shards", shards))
    throw std::runtime_error("set_shards failed");
  QueryService svc(rt);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0}, failed{0};
  std::vector<std::thread> clients;
  for (int64_t t = 0; t < o.query_threads; ++t) {
    clients.emplace_back([&, t] {
      uint64_t i = static_cast<uint64_t>(t) * 7919;
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<std::string> keys;
        for (int64_t k = 0; k < o.lookup; ++k)
          keys.push_back(
              key_name((i * 31 + static_cast<uint64_t>(k) * 977) % static_cast<uint64_t>(o.keys)));
        ++i;
        auto r = svc.query_raw(frontend, "get_many", encode(keys), order);
        if (r.result) {
          done.fetch_add(1, std::memory_order_relaxed);
        } else {
          failed.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t nrounds = 0;
  uint64_t seq = 0;
  for (uint64_t guard = 0; guard < (uint64_t{1} << 40) && since_s(t0) < o.seconds; ++guard) {
    if (rounds) {
      for (uint32_t s = 0; s < nshards; ++s) {
        const std::string key = key_name(seq++ % static_cast<uint64_t>(o.keys));
        rt.submit(shards[shard_of(key, nshards)], "put",
                  encode(key, std::string("u") + std::to_string(seq)));
      }
      rt.tick();
      ++nrounds;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const double secs = since_s(t0);
  stop.store(true);
  for (auto& c : clients)
    c.join();
  QpsRun r;
  r.queries = done.load();
  r.failures = failed.load();
  r.qps = static_cast<double>(r.queries) / secs;
  r.rounds_per_s = static_cast<double>(nrounds) / secs;
  return r;
}

nlohmann::ordered_json bench_qps(const Options& o, std::string& text) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  text += fmt::format(
      "\ncomposite queries per second (get_many of {} keys over {} shards, {} query "
      "threads, {} s each):\n",
      o.lookup, o.shards, o.query_threads, o.seconds);
  for (auto order : {QueryOrder::depth_first, QueryOrder::parallel}) {
    for (bool rounds : {false, true}) {
      progress(fmt::format("bench composite-query: qps, {}, rounds {}", to_string(order),
                           rounds ? "running" : "idle"));
      auto r = qps_run(o, order, rounds);
      if (r.failures != 0) throw std::runtime_error(fmt::format("{} queries failed", r.failures));
      rows.push_back({{"order", to_string(order)},
                      {"rounds_running", rounds},
                      {"query_threads", o.query_threads},
                      {"queries", r.queries},
                      {"queries_per_s", std::round(r.qps)},
                      {"rounds_per_s", round3(r.rounds_per_s)}});
      text += fmt::format("  {:<11} rounds {:<7}: {:>9.0f} queries/s{}\n", to_string(order),
                          rounds ? "running" : "idle", r.qps,
                          rounds ? fmt::format(" while {:.0f} rounds/s ran", r.rounds_per_s) : "");
    }
  }
  return rows;
}

void run_bench(const Options& o) {
  check_range("--copy-repeats", o.copy_repeats, 1, 100'000);
  check_range("--tree-depth", o.tree_depth, 1, 12);
  check_range("--tree-fanout", o.tree_fanout, 1, 16);
  check_range("--state-kb", o.state_kb, 0, 1'048'576);
  check_range("--query-threads", o.query_threads, 1, 64);
  check_range("--shards", o.shards, 1, 256);
  check_range("--keys", o.keys, 1, 10'000'000);
  check_range("--lookup", o.lookup, 1, 10'000);
  if (!(o.seconds > 0 && o.seconds <= 3600)) throw UsageError("--seconds must be in (0, 3600]");
  double nodes = 0;
  for (int64_t d = 0; d <= o.tree_depth; ++d)
    nodes += std::pow(static_cast<double>(o.tree_fanout), static_cast<double>(d));
  if (nodes > 200'000)
    throw UsageError("--tree-depth/--tree-fanout: the tree must have at most 200000 nodes");

  std::string text = "canopy bench composite-query \u2014 seed 002\n\n";
  nlohmann::ordered_json j;
  j["copy"] = bench_copy(o, text);
  j["memory"] = bench_memory(o, text);
  j["qps"] = bench_qps(o, text);
  j["config"] = {{"copy_repeats", o.copy_repeats},
                 {"tree_depth", o.tree_depth},
                 {"tree_fanout", o.tree_fanout},
                 {"state_kb", o.state_kb},
                 {"query_threads", o.query_threads},
                 {"seconds", o.seconds},
                 {"shards", o.shards},
                 {"keys", o.keys},
                 {"lookup", o.lookup},
                 {"hardware_threads", std::thread::hardware_concurrency()}};
  std::fputs(o.json ? (j.dump() + "\n").c_str() : text.c_str(), stdout);
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_flag("--json", o->json, "print one JSON object");
  app.add_option("--sizes", o->sizes, "shard sizes (keys) for the copy benchmark")
      ->capture_default_str();
  app.add_option("--copy-repeats", o->copy_repeats, "queries per copy measurement")
      ->capture_default_str();
  app.add_flag("!--no-std-map", o->std_map, "skip the std::map contrast");
  app.add_option("--tree-depth", o->tree_depth, "call tree depth (memory benchmark)")
      ->capture_default_str();
  app.add_option("--tree-fanout", o->tree_fanout, "call tree fanout")->capture_default_str();
  app.add_option("--state-kb", o->state_kb, "state per tree canister copy, KiB")
      ->capture_default_str();
  app.add_option("--query-threads", o->query_threads, "threads issuing queries (qps)")
      ->capture_default_str();
  app.add_option("--seconds", o->seconds, "duration of each qps run")->capture_default_str();
  app.add_option("--shards", o->shards, "shards (qps)")->capture_default_str();
  app.add_option("--keys", o->keys, "keys over the shards (qps)")->capture_default_str();
  app.add_option("--lookup", o->lookup, "keys per get_many (qps)")->capture_default_str();
  app.callback(guarded("bench composite-query", [o] { run_bench(*o); }));
}

const Register registered{Command{"bench", "composite-query",
                                  "seed 002: per-edge copy cost vs state size, DFS vs BFS memory, "
                                  "composite queries/s while rounds run",
                                  setup}};

}  // namespace
}  // namespace canopy::cli
