// R22 pool configuration: sizes from code, a config file and CLI flags; validation.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>

#include <fstream>
#include <stdexcept>
#include <string>

using namespace canopy;

namespace {

TEST(R22PoolConfig, FlagSpecs) {
  auto a = parse_pool_flag("expensive=2");
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->name, "expensive");
  EXPECT_EQ(a->threads, 2u);
  EXPECT_EQ(a->queue_capacity, PoolConfig{}.queue_capacity);
  auto b = parse_pool_flag("io=4:16");
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->threads, 4u);
  EXPECT_EQ(b->queue_capacity, 16u);
  // An omitted queue capacity keeps the earlier definition's.
  auto c = parse_pool_flag("io=8", {PoolConfig{"io", 1, 99}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->threads, 8u);
  EXPECT_EQ(c->queue_capacity, 99u);
  auto d = parse_pool_flag("io=1:8:10");
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->nice, 10);
  for (const char* bad :
       {"io", "=2", "io=", "io=x", "io=2:", "io=2:x", "io=-1", "io=2:3:4:5", "io=2:3:x"}) {
    auto r = parse_pool_flag(bad);
    EXPECT_FALSE(r) << bad;
  }
}

TEST(R22PoolConfig, JsonFile) {
  auto r = parse_pool_json(
      R"({"pools": {"cheap": 1, "expensive": {"threads": 2, "queue_capacity": 8, "nice": 5}}})");
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "cheap");
  EXPECT_EQ((*r)[0].threads, 1u);
  EXPECT_EQ((*r)[1].name, "expensive");
  EXPECT_EQ((*r)[1].threads, 2u);
  EXPECT_EQ((*r)[1].queue_capacity, 8u);
  EXPECT_EQ((*r)[1].nice, 5);
  EXPECT_FALSE(parse_pool_json("{"));
  EXPECT_FALSE(parse_pool_json(R"({"pool": {}})"));
  EXPECT_FALSE(parse_pool_json(R"({"pools": {"x": {"thread": 2}}})"));
  EXPECT_FALSE(parse_pool_json(R"({"pools": {"x": -1}})"));
  EXPECT_FALSE(parse_pool_json(R"({"pools": {"x": "two"}})"));
  EXPECT_FALSE(load_pool_file("/nonexistent/canopy-pools.json"));
}

// Code, then the file, then flags: later definitions of a name replace earlier ones.
TEST(R22PoolConfig, PrecedenceCodeFileFlags) {
  const std::string path = testing::TempDir() + "canopy_pools_test.json";
  {
    std::ofstream out(path);
    out << R"({"pools": {"expensive": {"threads": 3}, "io": 4}})";
  }
  Config cfg;
  cfg.pools = {PoolConfig{"cheap", 1, 10}, PoolConfig{"expensive", 1, 20}};
  auto file = load_pool_file(path, cfg.pools);
  ASSERT_TRUE(file) << file.error();
  cfg.pools = *file;
  auto flag = parse_pool_flag("expensive=2", cfg.pools);
  ASSERT_TRUE(flag);
  merge_pool(cfg.pools, *flag);
  ASSERT_EQ(cfg.pools.size(), 3u);
  EXPECT_EQ(cfg.pools[0].name, "cheap");
  EXPECT_EQ(cfg.pools[1].name, "expensive");
  EXPECT_EQ(cfg.pools[1].threads, 2u);          // flag
  EXPECT_EQ(cfg.pools[1].queue_capacity, 20u);  // code, kept by file and flag
  EXPECT_EQ(cfg.pools[2].name, "io");
  EXPECT_EQ(cfg.pools[2].threads, 4u);  // file
  EXPECT_FALSE(cfg.validate());
  Runtime rt(cfg);
  EXPECT_EQ(attach_pools(rt).names(), (std::vector<std::string>{"cheap", "expensive", "io"}));
}

TEST(R22PoolConfig, Validation) {
  auto invalid = [](std::vector<PoolConfig> pools) {
    Config cfg;
    cfg.pools = std::move(pools);
    auto e = cfg.validate();
    return e ? *e : std::string();
  };
  EXPECT_EQ(invalid({{"a", 1, 1}, {"b", 256, 1'000'000}}), "");
  EXPECT_NE(invalid({{"", 1, 1}}), "");
  EXPECT_NE(invalid({{"a b", 1, 1}}).find("may only contain"), std::string::npos);
  EXPECT_NE(invalid({{"a", 1, 1}, {"a", 2, 2}}).find("defined twice"), std::string::npos);
  EXPECT_NE(invalid({{"a", 0, 1}}).find("threads"), std::string::npos);
  EXPECT_NE(invalid({{"a", 257, 1}}).find("threads"), std::string::npos);
  EXPECT_NE(invalid({{"a", 1, 0}}).find("queue_capacity"), std::string::npos);
  EXPECT_NE(invalid({{"a", 1, 1, 20}}).find("nice"), std::string::npos);
  EXPECT_NE(invalid({{"a", 1, 1, -1}}).find("nice"), std::string::npos);
  Config cfg;
  cfg.pools = {PoolConfig{"a", 0, 1}};
  EXPECT_THROW(Runtime rt(cfg), std::invalid_argument);
  cfg = Config{};
  cfg.offload_cost_rounds_max = 0;
  EXPECT_TRUE(cfg.validate());
}

}  // namespace
