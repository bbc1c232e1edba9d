// Rules R16 (query) and R17 (composite query): the seed-002 table, row by row, and the limits.
//
//                | query                   | update              | composite query
//   state        | read-only               | modifies            | modifies, then discards
//   isolation    | isolated from queries   | sees updates        | isolated from queries
//   mode         | any                     | replicated only     | non-replicated only
//   calls        | none                    | same- and xnet      | same-subnet (composite) queries
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/query.hpp>

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "query/evaluator.hpp"  // lazy_calls_available()
#include "sharded_kv/sharded_kv.hpp"

using namespace canopy;
using examples::sharded_kv::CallOutcome;
using examples::sharded_kv::Frontend;
using examples::sharded_kv::Shard;
using examples::sharded_kv::shard_of;
using examples::sharded_kv::Values;
using examples::sharded_kv::WriteRead;

namespace {

struct Kv {
  explicit Kv(Config cfg = {}, uint32_t n_shards = 4, std::unique_ptr<Env> env = nullptr)
      : rt(cfg, std::move(env)) {
    for (uint32_t i = 0; i < n_shards; ++i)
      shards.push_back(rt.install<Shard>(rt.subnet(0)));
    frontend = rt.install<Frontend>(rt.subnet(0));
    EXPECT_TRUE(rt.update<void>(frontend, "set_shards", shards).has_value());
  }
  void put(const std::string& k, const std::string& v) {
    EXPECT_TRUE(rt.update<void>(shards[shard_of(k, shards.size())], "put", k, v).has_value());
  }
  Runtime rt;
  std::vector<CanisterId> shards;
  CanisterId frontend;
};

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// An update that calls a query (replicated mode) and reports what it saw.
struct UpdateCaller : Canister<Unit> {
  static void methods(Methods<UpdateCaller>& m) {
    m.update("bump_via_update", &UpdateCaller::bump_via_update);
  }
  Task<std::pair<uint64_t, uint64_t>> bump_via_update(Ctx& ctx, CanisterId shard) {
    auto a = co_await ctx.call<uint64_t>(shard, "bump");
    auto b = co_await ctx.call<uint64_t>(shard, "bump");
    co_return std::pair<uint64_t, uint64_t>{a.value_or(0), b.value_or(0)};
  }
};

// A composite query that relays to a method taking one CanisterId (to reach call_from_query).
struct Relay : Canister<Unit> {
  static void methods(Methods<Relay>& m) { m.composite_query("relay", &Relay::relay); }
  Task<CallOutcome> relay(Ctx& ctx, CanisterId target, std::string method, CanisterId arg) {
    co_return examples::sharded_kv::outcome_of(co_await ctx.call<uint64_t>(target, method, arg));
  }
};

// Wall clock that advances 1 ms every time it is read: deterministic time-limit tests.
class TickingEnv final : public Env {
 public:
  uint64_t random() override { return sim_.random(); }
  uint64_t wall_ns() override { return now_.fetch_add(1'000'000) + 1'000'000; }
  uint64_t seed() const override { return 0; }
  bool deterministic() const override { return true; }

 private:
  SimEnv sim_{0};
  std::atomic<uint64_t> now_{0};
};

}  // namespace

// ---------------------------------------------------------------- R16: query

TEST(R16_Query, ChangesAreDiscarded_EveryQueryStartsFromCommittedState) {
  Kv kv;
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.shards[0], "bump").value(), 1u);
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.shards[0], "bump").value(), 1u);  // not 2: discarded
}

TEST(R16_Query, SeesCommittedUpdates) {
  Kv kv;
  kv.put("alpha", "1");
  EXPECT_EQ(kv.rt
                .query<std::optional<std::string>>(kv.shards[shard_of("alpha", 4)], "get",
                                                   std::string("alpha"))
                .value(),
            std::optional<std::string>("1"));
  kv.put("alpha", "2");
  EXPECT_EQ(kv.rt
                .query<std::optional<std::string>>(kv.shards[shard_of("alpha", 4)], "get",
                                                   std::string("alpha"))
                .value(),
            std::optional<std::string>("2"));
}

TEST(R16_Query, AnyMode_CalledByAnUpdateItStillDiscardsItsChanges) {
  Kv kv;
  auto caller = kv.rt.install<UpdateCaller>(kv.rt.subnet(0));
  auto seen = kv.rt.update<std::pair<uint64_t, uint64_t>>(caller, "bump_via_update", kv.shards[0]);
  ASSERT_TRUE(seen.has_value()) << seen.error().to_string();
  EXPECT_EQ(*seen, (std::pair<uint64_t, uint64_t>{1, 1}));
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.shards[0], "bump").value(), 1u);
}

TEST(R16_Query, MakesNoCalls) {
  Kv kv;
  auto r = kv.rt.query<uint64_t>(kv.shards[0], "call_from_query", kv.shards[1]);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("a query cannot make calls"), std::string::npos)
      << r.error().message;
}

TEST(R16_Query, UpdateMethodsAreReplicatedOnly_QueryingOneIsRejected) {
  Kv kv;
  auto r = kv.rt.query<void>(kv.shards[0], "put", std::string("k"), std::string("v"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("update method"), std::string::npos) << r.error().message;
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.shards[0], "size").value(), 0u);
}

TEST(R16_Query, StoppedCanisterAnswersNoQueries) {
  Kv kv;
  ASSERT_TRUE(kv.rt.stop(kv.shards[0]).has_value());
  auto r = kv.rt.query<uint64_t>(kv.shards[0], "size");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_NE(r.error().message.find("stopped"), std::string::npos) << r.error().message;
}

// ---------------------------------------------------------------- R17: composite query

TEST(R17_CompositeQuery, FanOutToShardsAndMergeInKeyOrder) {
  Kv kv;
  std::map<std::string, std::string> model;
  for (int i = 0; i < 40; ++i) {
    const std::string k = "key-" + std::to_string(i);
    kv.put(k, "value-" + std::to_string(i * 7));
    model[k] = "value-" + std::to_string(i * 7);
  }
  std::vector<std::string> keys;
  for (int i = 45; i >= 0; i -= 3)
    keys.push_back("key-" + std::to_string(i));  // some missing
  auto out = kv.rt.query<Values>(kv.frontend, "get_many", keys);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();
  ASSERT_EQ(out->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = model.find(keys[i]);
    EXPECT_EQ((*out)[i], it == model.end() ? std::nullopt : std::optional<std::string>(it->second))
        << keys[i];
  }
}

TEST(R17_CompositeQuery, ModifiesThenDiscards_OwnWriteVisibleAlongTheExecution) {
  Kv kv;
  ASSERT_TRUE(
      kv.rt.update<void>(kv.frontend, "add_note", std::string("k"), std::string("committed"))
          .has_value());
  auto wr =
      kv.rt.query<WriteRead>(kv.frontend, "write_then_read", std::string("k"), std::string("mine"));
  ASSERT_TRUE(wr.has_value()) << wr.error().to_string();
  EXPECT_EQ(wr->before, std::optional<std::string>("committed"));
  EXPECT_EQ(wr->after_call, std::optional<std::string>("mine"));  // read its own write
  EXPECT_EQ(wr->queries, 1u);
  // Discarded: the committed state is unchanged, and the next composite query starts afresh.
  EXPECT_EQ(kv.rt.query<std::optional<std::string>>(kv.frontend, "note", std::string("k")).value(),
            std::optional<std::string>("committed"));
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.frontend, "queries").value(), 0u);
  EXPECT_EQ(
      kv.rt.query<WriteRead>(kv.frontend, "write_then_read", std::string("k"), std::string("again"))
          .value()
          .queries,
      1u);
}

TEST(R17_CompositeQuery, IsolatedFromOtherQueries_EachCallEdgeHasItsOwnCopy) {
  Kv kv;
  for (auto order : {QueryOrder::depth_first, QueryOrder::parallel, QueryOrder::breadth_first}) {
    auto out = query_with_stats(kv.rt, kv.frontend, "bump_twice", encode(kv.shards[0]), order);
    ASSERT_TRUE(out.result.has_value()) << to_string(order);
    EXPECT_EQ((decode<std::pair<uint64_t, uint64_t>>(*out.result)),
              (std::pair<uint64_t, uint64_t>{1, 1}))
        << to_string(order);
    EXPECT_EQ(out.stats.edges, 2u);
  }
}

TEST(R17_CompositeQuery, CallsQueriesAndCompositeQueries) {
  Kv kv;
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.frontend, "recurse", uint64_t{3}).value(), 3u);  // composite
  auto r = kv.rt.query<CallOutcome>(kv.frontend, "probe_get", kv.shards[0], std::string("x"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, 0);  // plain query
}

TEST(R17_CompositeQuery, NonReplicatedOnly_AnUpdateCannotCallIt) {
  Kv kv;
  auto o = kv.rt.update<CallOutcome>(kv.frontend, "probe_get_many", kv.frontend,
                                     std::vector<std::string>{"a"});
  ASSERT_TRUE(o.has_value()) << o.error().to_string();
  EXPECT_EQ(o->code, static_cast<uint8_t>(RejectCode::canister_error));
  EXPECT_NE(o->message.find("composite query"), std::string::npos) << o->message;
  // Nor can ingress run it as an update.
  auto direct = kv.rt.update<Values>(kv.frontend, "get_many", std::vector<std::string>{"a"});
  ASSERT_FALSE(direct.has_value());
  EXPECT_EQ(direct.error().code, RejectCode::canister_error);
}

TEST(R17_CompositeQuery, CannotCallAnUpdate) {
  Kv kv;
  auto o = kv.rt.query<CallOutcome>(kv.frontend, "probe_put", kv.shards[0], std::string("k"),
                                    std::string("v"));
  ASSERT_TRUE(o.has_value()) << o.error().to_string();
  EXPECT_EQ(o->code, static_cast<uint8_t>(RejectCode::canister_error));
  EXPECT_NE(o->message.find("update method"), std::string::npos) << o->message;
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.shards[0], "size").value(), 0u);
}

TEST(R17_CompositeQuery, APlainQueryItCallsStillCannotCall) {
  Kv kv;
  auto relay = kv.rt.install<Relay>(kv.rt.subnet(0));
  auto o = kv.rt.query<CallOutcome>(relay, "relay", kv.shards[0], std::string("call_from_query"),
                                    kv.shards[1]);
  ASSERT_TRUE(o.has_value()) << o.error().to_string();
  EXPECT_EQ(o->code, static_cast<uint8_t>(RejectCode::canister_error));
  EXPECT_NE(o->message.find("a query cannot make calls"), std::string::npos) << o->message;
}

TEST(R17_CompositeQuery, SameSubnetOnly_CrossSubnetCalleeIsCanisterError) {
  Config cfg;
  cfg.subnets = 2;
  Kv kv(cfg);
  auto remote = kv.rt.install<Shard>(kv.rt.subnet(1));
  auto o = kv.rt.query<CallOutcome>(kv.frontend, "probe_get", remote, std::string("k"));
  ASSERT_TRUE(o.has_value()) << o.error().to_string();
  EXPECT_EQ(o->code, static_cast<uint8_t>(RejectCode::canister_error));
  EXPECT_NE(o->message.find("own subnet"), std::string::npos) << o->message;
}

TEST(R17_CompositeQuery, NonexistentCalleeIsDestinationInvalid) {
  Kv kv;
  auto o = kv.rt.query<CallOutcome>(kv.frontend, "probe_get", CanisterId{9999}, std::string("k"));
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->code, static_cast<uint8_t>(RejectCode::destination_invalid));
}

TEST(R17_Limits, DepthLimitDefaultsToSix) {
  Kv kv;
  EXPECT_EQ(Config{}.composite_query_depth_max, 6u);
  EXPECT_EQ(kv.rt.query<uint64_t>(kv.frontend, "recurse", uint64_t{6}).value(), 6u);
  auto r = kv.rt.query<uint64_t>(kv.frontend, "recurse", uint64_t{7});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(starts_with(r.error().message, query_too_deep_prefix)) << r.error().message;
  EXPECT_NE(r.error().message.find("depth 7"), std::string::npos) << r.error().message;
}

TEST(R17_Limits, DepthLimitIsConfigurable_AndTheSameInEveryOrder) {
  Config cfg;
  cfg.composite_query_depth_max = 2;
  Kv kv(cfg);
  for (auto order : {QueryOrder::depth_first, QueryOrder::parallel, QueryOrder::breadth_first}) {
    auto ok = query_with_stats(kv.rt, kv.frontend, "recurse", encode(uint64_t{2}), order);
    EXPECT_TRUE(ok.result.has_value()) << to_string(order);
    auto deep = query_with_stats(kv.rt, kv.frontend, "recurse", encode(uint64_t{3}), order);
    ASSERT_FALSE(deep.result.has_value()) << to_string(order);
    EXPECT_TRUE(starts_with(deep.result.error().message, query_too_deep_prefix));
  }
}

TEST(R17_Limits, TotalCostBudget) {
  Config cfg;
  cfg.composite_query_cost_max = 100'000;
  Kv kv(cfg);  // 4 shards
  // 4 edges × (1000 base + 1000) + root: within budget.
  EXPECT_EQ(
      kv.rt.query<uint64_t>(kv.frontend, "charged_fanout", uint64_t{1}, uint64_t{1'000}).value(),
      4u);
  auto r = kv.rt.query<uint64_t>(kv.frontend, "charged_fanout", uint64_t{1}, uint64_t{50'000});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(starts_with(r.error().message, query_cost_prefix)) << r.error().message;
  // Many cheap calls exhaust it too (checked at every call edge).
  auto many = kv.rt.query<uint64_t>(kv.frontend, "charged_fanout", uint64_t{100}, uint64_t{0});
  ASSERT_FALSE(many.has_value());
  EXPECT_TRUE(starts_with(many.error().message, query_cost_prefix)) << many.error().message;
}

TEST(R17_Limits, WallTimeLimitReadsTimeThroughEnv) {
  Config cfg;
  cfg.composite_query_time_max_ms = 5;  // TickingEnv: every wall_ns() read is 1 ms later
  Kv kv(cfg, 4, std::make_unique<TickingEnv>());
  auto r = kv.rt.query<uint64_t>(kv.frontend, "recurse", uint64_t{6});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RejectCode::canister_error);
  EXPECT_TRUE(starts_with(r.error().message, query_time_prefix)) << r.error().message;
  // A plain query is not a call graph: no time limit applies to it here.
  EXPECT_TRUE(kv.rt.query<uint64_t>(kv.shards[0], "size").has_value());
}

TEST(R17_Limits, EachViolationHasItsOwnReject) {
  std::vector<std::string> messages;
  {
    Kv kv;
    messages.push_back(kv.rt.query<uint64_t>(kv.frontend, "recurse", uint64_t{50}).error().message);
  }
  {
    Config cfg;
    cfg.composite_query_cost_max = 10'000;
    Kv kv(cfg);
    messages.push_back(
        kv.rt.query<uint64_t>(kv.frontend, "charged_fanout", uint64_t{10}, uint64_t{0})
            .error()
            .message);
  }
  {
    Config cfg;
    cfg.composite_query_time_max_ms = 3;
    Kv kv(cfg, 4, std::make_unique<TickingEnv>());
    messages.push_back(kv.rt.query<uint64_t>(kv.frontend, "recurse", uint64_t{5}).error().message);
  }
  EXPECT_TRUE(starts_with(messages[0], query_too_deep_prefix)) << messages[0];
  EXPECT_TRUE(starts_with(messages[1], query_cost_prefix)) << messages[1];
  EXPECT_TRUE(starts_with(messages[2], query_time_prefix)) << messages[2];
}

TEST(R17_Evaluation, DepthFirstKeepsOneCopyPerLevel) {
  Kv kv;
  auto dfs = query_with_stats(kv.rt, kv.frontend, "tree", encode(uint64_t{4}, uint64_t{3}),
                              QueryOrder::depth_first);
  ASSERT_TRUE(dfs.result.has_value()) << dfs.result.error().to_string();
  EXPECT_EQ(decode<uint64_t>(*dfs.result), 1u + 3 + 9 + 27 + 81);
  EXPECT_EQ(dfs.stats.executions, 121u);
  EXPECT_EQ(dfs.stats.edges, 120u);
  EXPECT_EQ(dfs.stats.depth, 4u);
  EXPECT_EQ(dfs.stats.copies_peak, 5u);  // the root and one copy per level
  auto bfs = query_with_stats(kv.rt, kv.frontend, "tree", encode(uint64_t{4}, uint64_t{3}),
                              QueryOrder::breadth_first);
  ASSERT_TRUE(bfs.result.has_value());
  EXPECT_EQ(*bfs.result, *dfs.result);
  ASSERT_TRUE(detail::lazy_calls_available()) << "CanisterRt::complete_lazily is required";
  EXPECT_GE(bfs.stats.copies_peak, 81u) << "breadth-first holds a whole level of copies";
}

TEST(R16_R17_Config, LimitsAreValidated) {
  Config c;
  c.composite_query_depth_max = 0;
  EXPECT_TRUE(c.validate().has_value());
  c = Config{};
  c.composite_query_cost_max = 1;
  EXPECT_TRUE(c.validate().has_value());
  c = Config{};
  c.composite_query_time_max_ms = 0;
  EXPECT_TRUE(c.validate().has_value());
  c = Config{};
  c.query_threads = 0;
  EXPECT_TRUE(c.validate().has_value());
  EXPECT_FALSE(Config{}.validate().has_value());
}
