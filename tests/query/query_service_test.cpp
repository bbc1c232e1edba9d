// R16/R17 concurrency: queries and composite queries on worker threads against the last
// committed state while rounds continue (QueryService); a query never sees a half-executed round.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/query.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "sharded_kv/sharded_kv.hpp"

using namespace canopy;
using examples::sharded_kv::Frontend;
using examples::sharded_kv::Shard;
using examples::sharded_kv::Values;

namespace {

struct PairB : Canister<uint64_t> {
  static void methods(Methods<PairB>& m) {
    m.update("inc", &PairB::inc);
    m.query("get", &PairB::get);
  }
  void inc(Ctx&) { ++state(); }
  uint64_t get(Ctx&) { return state(); }
};

struct PairAState {
  uint64_t n = 0;
  CanisterId b;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(n, b);
  }
};

// tick_both increments A, then B through a call: both land in the same round (same subnet),
// in different executions. Between rounds n(A) == n(B); inside a round they differ.
struct PairA : Canister<PairAState> {
  static void methods(Methods<PairA>& m) {
    m.update("set_b", &PairA::set_b);
    m.update("tick_both", &PairA::tick_both);
    m.composite_query("read_both", &PairA::read_both);
  }
  void set_b(Ctx&, CanisterId b) { state().b = b; }
  Task<void> tick_both(Ctx& ctx) {
    ++state().n;
    auto r = co_await ctx.call<void>(state().b, "inc");
    if (!r) throw Trap("inc failed");
  }
  Task<std::pair<uint64_t, uint64_t>> read_both(Ctx& ctx) {
    const uint64_t a = state().n;
    auto b = co_await ctx.call<uint64_t>(state().b, "get");
    if (!b) throw Trap("get failed: " + b.error().to_string());
    co_return std::pair<uint64_t, uint64_t>{a, *b};
  }
};

std::atomic<bool> g_gate_entered{false};
std::atomic<bool> g_gate_open{false};

struct Gate : Canister<Unit> {
  static void methods(Methods<Gate>& m) { m.query("wait", &Gate::wait); }
  // Holds a worker thread until the test opens the gate (bounded: gives up eventually).
  uint64_t wait(Ctx&) {
    g_gate_entered.store(true);
    for (uint64_t i = 0; i < 100'000'000'000ULL && !g_gate_open.load(); ++i)
      std::this_thread::yield();
    return 1;
  }
};

template <class Pred>
void spin_until(Pred pred) {
  for (uint64_t i = 0; i < 100'000'000'000ULL && !pred(); ++i)
    std::this_thread::yield();
  ASSERT_TRUE(pred());
}

}  // namespace

TEST(R16_R17_Concurrency, QueriesOnWorkerThreadsNeverSeeAHalfExecutedRound) {
  Config cfg;
  cfg.threads = 2;
  Runtime rt(cfg);
  auto b = rt.install<PairB>(rt.subnet(0));
  auto a = rt.install<PairA>(rt.subnet(0));
  ASSERT_TRUE(rt.update<void>(a, "set_b", b).has_value());
  QueryService svc(rt);

  constexpr uint64_t rounds = 300;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> observations{0};
  std::atomic<uint64_t> torn{0};
  std::atomic<uint64_t> backwards{0};
  std::atomic<uint64_t> failed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!stop.load()) {
        auto r = svc.query<std::pair<uint64_t, uint64_t>>(a, "read_both");
        if (!r) {
          failed.fetch_add(1);
          continue;
        }
        if (r->first != r->second) torn.fetch_add(1);
        if (r->first < last) backwards.fetch_add(1);
        last = r->first;
        observations.fetch_add(1);
      }
    });
  }
  spin_until([&] { return observations.load() > 0; });
  for (uint64_t i = 0; i < rounds; ++i) {
    rt.submit(a, "tick_both", {});
    rt.tick();
  }
  rt.run_until_idle(100);
  svc.publish();
  const uint64_t seen_before_stop = observations.load();
  spin_until([&] { return observations.load() > seen_before_stop + 2; });
  stop.store(true);
  for (auto& t : readers)
    t.join();

  EXPECT_EQ(torn.load(), 0u) << "a query saw a half-executed round";
  EXPECT_EQ(backwards.load(), 0u) << "a later query saw an older state";
  EXPECT_EQ(failed.load(), 0u);
  EXPECT_GT(observations.load(), 0u);
  auto last = svc.query<std::pair<uint64_t, uint64_t>>(a, "read_both");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, (std::pair<uint64_t, uint64_t>{rounds, rounds}));
  EXPECT_EQ(svc.snapshot_round(), rt.round());
  EXPECT_TRUE(rt.check_quiescent_invariants().empty());
}

TEST(R16_QueryService, SnapshotIsIsolatedFromLaterRounds) {
  Runtime rt(Config{});
  auto shard = rt.install<Shard>(rt.subnet(0));
  QueryService svc(rt);
  ASSERT_TRUE(rt.update<void>(shard, "put", std::string("k"), std::string("v1")).has_value());
  svc.publish();
  const uint64_t snap = svc.snapshot_round();
  EXPECT_EQ(svc.query<std::optional<std::string>>(shard, "get", std::string("k")).value(),
            std::optional<std::string>("v1"));
  // The live state moves on (changed without a publish in between): the snapshot does not.
  ASSERT_TRUE(rt.update<void>(shard, "put", std::string("k"), std::string("v2")).has_value());
  if (svc.snapshot_round() == snap) {
    EXPECT_EQ(svc.query<std::optional<std::string>>(shard, "get", std::string("k")).value(),
              std::optional<std::string>("v1"));
  }
  svc.publish();
  EXPECT_EQ(svc.query<std::optional<std::string>>(shard, "get", std::string("k")).value(),
            std::optional<std::string>("v2"));
  EXPECT_EQ(rt.query<std::optional<std::string>>(shard, "get", std::string("k")).value(),
            std::optional<std::string>("v2"));
}

TEST(R16_QueryService, PublishCopiesOnlyChangedCanisters) {
  Runtime rt(Config{});
  std::vector<CanisterId> shards;
  for (int i = 0; i < 10; ++i)
    shards.push_back(rt.install<Shard>(rt.subnet(0)));
  QueryService svc(rt);
  EXPECT_EQ(svc.stats().canister_copies, 10u);
  svc.publish();
  EXPECT_EQ(svc.stats().canister_copies, 10u);  // nothing changed
  ASSERT_TRUE(rt.update<void>(shards[3], "put", std::string("k"), std::string("v")).has_value());
  svc.publish();
  EXPECT_EQ(svc.stats().canister_copies, 11u);  // only the shard that executed
}

TEST(R16_QueryService, SubmitAnswersOnWorkerThreads) {
  Runtime rt(Config{});
  std::vector<CanisterId> shards;
  for (int i = 0; i < 3; ++i)
    shards.push_back(rt.install<Shard>(rt.subnet(0)));
  auto frontend = rt.install<Frontend>(rt.subnet(0));
  ASSERT_TRUE(rt.update<void>(frontend, "set_shards", shards).has_value());
  for (int i = 0; i < 30; ++i) {
    const std::string k = "k" + std::to_string(i);
    const auto s = shards[examples::sharded_kv::shard_of(k, shards.size())];
    ASSERT_TRUE(rt.update<void>(s, "put", k, std::string("v") + std::to_string(i)).has_value());
  }
  QueryService svc(rt);
  std::vector<std::future<Result<Bytes>>> futures;
  for (int i = 0; i < 50; ++i) {
    futures.push_back(svc.submit(frontend, "get_many",
                                 encode(std::vector<std::string>{"k" + std::to_string(i % 40)})));
  }
  for (int i = 0; i < 50; ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    auto v = decode<Values>(*r);
    ASSERT_EQ(v.size(), 1u);
    const int k = i % 40;
    EXPECT_EQ(v[0], k < 30 ? std::optional<std::string>("v" + std::to_string(k)) : std::nullopt);
  }
  EXPECT_EQ(svc.stats().queries_served, 50u);
}

TEST(R16_QueryService, FullQueueIsRefusedAtOnce) {
  g_gate_entered = false;
  g_gate_open = false;
  Config cfg;
  cfg.query_threads = 1;
  cfg.query_queue_capacity = 1;
  Runtime rt(cfg);
  auto gate = rt.install<Gate>(rt.subnet(0));
  auto shard = rt.install<Shard>(rt.subnet(0));
  QueryService svc(rt);
  auto held = svc.submit(gate, "wait", {});
  spin_until([] { return g_gate_entered.load(); });
  auto queued = svc.submit(shard, "size", {});
  auto refused = svc.submit(shard, "size", {});
  ASSERT_EQ(refused.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  auto r = refused.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::sys_transient);
  g_gate_open = true;
  EXPECT_TRUE(held.get().has_value());
  EXPECT_TRUE(queued.get().has_value());
  EXPECT_EQ(svc.stats().queries_refused, 1u);
}
