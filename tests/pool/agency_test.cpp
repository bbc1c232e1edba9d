// Seed 004 / R22: the agency example in simulation — cheap DIDs, expensive credential
// definitions inline and offloaded give the same keys; the simulation is reproducible (R20).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>

#include "agency/agency.hpp"
#include "support/invariants.hpp"

using namespace canopy;
using examples::agency::Agency;
using examples::agency::AgencyState;
using examples::agency::AgencyStats;

namespace {

Config agency_config(uint32_t exec_threads) {
  Config cfg;
  cfg.threads = exec_threads;
  cfg.pools = {PoolConfig{"expensive", 1, 16}};
  return cfg;
}

AgencyState small_work() {
  AgencyState s;
  s.work.ops = 1;
  s.work.mem_kib = 64;  // tiny: the test checks results, not cost
  return s;
}

TEST(R22Agency, DidsAndCredentialDefinitions) {
  canopy_test::Harness h(agency_config(1));
  auto a = h.install<Agency>(0, small_work());
  auto did = h.update<std::string>(a, "create_did", std::string("client-1"));
  ASSERT_TRUE(did);
  EXPECT_EQ(did->rfind("did:sov:", 0), 0u) << *did;
  EXPECT_EQ(*did, examples::agency::did_from_seed("client-1"));
  auto inline_key = h.update<std::string>(a, "create_cred_def_inline", std::string("issuer"));
  auto pooled_key = h.update<std::string>(a, "create_cred_def", std::string("issuer"));
  ASSERT_TRUE(inline_key && pooled_key);
  EXPECT_EQ(*inline_key, *pooled_key);
  EXPECT_GE(inline_key->size(), 40u);
  auto other = h.update<std::string>(a, "create_cred_def", std::string("other issuer"));
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *pooled_key);
  auto st = h.rt().query<AgencyStats>(a, "stats");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->dids, 1u);
  EXPECT_EQ(st->cred_defs, 3u);
  EXPECT_EQ(find_pools(h.rt())->stats("expensive")->completed, 2u);
}

// Many clients at once, in simulation: the same answers and trace hash with 1 or 2 threads.
uint64_t agency_run(uint32_t exec_threads, std::vector<std::string>* answers) {
  Runtime rt(agency_config(exec_threads));
  auto a = rt.install<Agency>(rt.subnet(0), small_work());
  std::vector<IngressId> iids;
  for (int i = 0; i < 40; ++i) {
    const std::string seed = "client-" + std::to_string(i);
    iids.push_back(rt.submit(a, i % 8 == 0 ? "create_cred_def" : "create_did", encode(seed)));
  }
  rt.run_until_idle(10'000);  // R22: idle() waits for the offloaded key generations too
  for (auto iid : iids) {
    auto r = rt.ingress_result(iid);
    EXPECT_TRUE(r && *r);
    answers->push_back(r && *r ? decode<std::string>(**r) : "");
  }
  return rt.trace_hash();
}

TEST(R22Agency, SimulationIsReproducible) {
  std::vector<std::string> a1, a2;
  const uint64_t h1 = agency_run(1, &a1);
  const uint64_t h2 = agency_run(2, &a2);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(a1, a2);
}

}  // namespace
