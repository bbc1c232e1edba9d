// Seed 001 scenarios (examples/aqua_patterns) with peers over four subnets, some slow or silent:
// R18 (par, join acks!10, Peer.timeout, results!0, co), R19 (retries from a timer), R1/R10 (the
// abandoned calls are accounted for), R20 (the same results and trace for any thread count).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "aqua_patterns/aqua_patterns.hpp"

using namespace canopy;
using namespace examples::aqua;

namespace {

Config world_config(uint32_t threads = 1, uint64_t seed = 0) {
  Config cfg;
  cfg.subnets = 4;
  cfg.threads = threads;
  cfg.seed = seed;
  return cfg;
}

// Ticks until the client has no call outstanding and no context open (bounded), checking the
// system invariants every round.
void account_for_everything(Runtime& rt, CanisterId client) {
  for (int i = 0; i < 2'000; ++i) {
    auto info = rt.info(client);
    if (info->outstanding_calls == 0 && info->open_call_contexts == 0) return;
    rt.tick();
    auto v = rt.check_invariants();
    ASSERT_TRUE(v.empty()) << v.front();
  }
  FAIL() << "the client's abandoned calls were never accounted for (R1, R10)";
}

struct World {
  explicit World(const std::vector<PeerSpec>& specs, uint32_t threads = 1, uint64_t seed = 0)
      : rt(world_config(threads, seed)) {
    client = rt.install<Client>(rt.subnet(0));
    peers = install_peers(rt, specs);
  }
  Runtime rt;
  CanisterId client;
  std::vector<CanisterId> peers;
};

TEST(R18_Aqua, TraversePeersReturnsAsSoonAsTenAcksArrived) {
  World w(peer_mix(15, 5, 0));
  auto r = w.rt.update<TraverseReport>(w.client, "traverse_peers", w.peers, uint64_t{10},
                                       uint64_t{1000});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->acks.size(), 10u);
  EXPECT_FALSE(r->timed_out);
  EXPECT_LT(r->finished_ms - r->started_ms, 1000u);
  account_for_everything(w.rt, w.client);
}

TEST(R18_Aqua, TraversePeersTimesOutAfterOneSecondWithWhatArrived) {
  World w(peer_mix(5, 10, 5));
  auto r = w.rt.update<TraverseReport>(w.client, "traverse_peers", w.peers, uint64_t{10},
                                       uint64_t{1000});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->acks.size(), 5u);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->finished_ms - r->started_ms, 1000u);
  EXPECT_EQ(r->cancelled, 15u);
  account_for_everything(w.rt, w.client);
  // The slow peers did answer — after the deadline; their answers were discarded (R18).
  for (size_t i = 0; i < w.peers.size(); ++i) {
    EXPECT_EQ(*w.rt.query<uint64_t>(w.peers[i], "served"), 1u);
  }
}

TEST(R18_Aqua, TraversePeersAskingForMoreAcksThanPeersIsAClearTrap) {
  World w(peer_mix(3, 0, 0));
  auto r = w.rt.update<TraverseReport>(w.client, "traverse_peers", w.peers, uint64_t{10},
                                       uint64_t{1000});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("size_at_least(10) can never be satisfied"), std::string::npos)
      << r.error().message;
}

TEST(R18_Aqua, GetOrNotFailsOverWhenTheOtherPeerIsSilent) {
  World w(
      {PeerSpec{PeerMode::silent, 0}, PeerSpec{PeerMode::fast, 100}, PeerSpec{PeerMode::slow, 0}});
  auto silent = w.rt.update<GetOrNotReport>(w.client, "get_or_not", w.peers[0], uint64_t{1000});
  ASSERT_TRUE(silent.has_value()) << silent.error().to_string();
  EXPECT_TRUE(silent->failover);
  EXPECT_EQ(silent->status, "timeout");
  EXPECT_EQ(silent->value, failover_value);
  EXPECT_EQ(silent->finished_ms - silent->started_ms, 1000u);

  auto fast = w.rt.update<GetOrNotReport>(w.client, "get_or_not", w.peers[1], uint64_t{1000});
  ASSERT_TRUE(fast.has_value());
  EXPECT_FALSE(fast->failover);
  EXPECT_EQ(fast->status, "ok");
  EXPECT_EQ(fast->value, "result from peer1");

  auto slow = w.rt.update<GetOrNotReport>(w.client, "get_or_not", w.peers[2], uint64_t{1000});
  ASSERT_TRUE(slow.has_value());
  EXPECT_TRUE(slow->failover) << "an answer after the deadline is a timeout";
  account_for_everything(w.rt, w.client);
}

TEST(R18_Aqua, RaceBetweenTwoPeersAndATimeoutFirstResultWins) {
  World w({PeerSpec{PeerMode::slow, 0}, PeerSpec{PeerMode::fast, 300},
           PeerSpec{PeerMode::silent, 0}, PeerSpec{PeerMode::silent, 0}});
  auto r = w.rt.update<RaceReport>(w.client, "race_peers", w.peers[0], w.peers[1], uint64_t{1000});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->winner, "b");
  EXPECT_EQ(r->value, "result from peer1");
  auto t = w.rt.update<RaceReport>(w.client, "race_peers", w.peers[2], w.peers[3], uint64_t{1000});
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->winner, "timeout");
  account_for_everything(w.rt, w.client);
}

TEST(R18_Aqua, ParallelCallsCappedAndRetriedAllSucceed) {
  World w({});
  CanisterId callee = w.rt.install<Peer>(w.rt.subnet(1));
  auto uncapped = w.rt.update<ParallelReport>(w.client, "parallel_calls", callee, uint64_t{2000});
  ASSERT_TRUE(uncapped.has_value());
  EXPECT_EQ(uncapped->ok, 500u) << "seed 000 (R2)";
  auto capped = w.rt.update<ParallelReport>(w.client, "capped_parallel_calls", callee,
                                            uint64_t{2000}, uint64_t{500});
  ASSERT_TRUE(capped.has_value());
  EXPECT_EQ(capped->ok, 2000u);
  auto retried =
      w.rt.update<ParallelReport>(w.client, "parallel_calls_retry", callee, uint64_t{2000});
  ASSERT_TRUE(retried.has_value());
  EXPECT_EQ(retried->ok, 2000u);
  EXPECT_GE(retried->retries, 1500u);
  account_for_everything(w.rt, w.client);
}

// R20: every scenario gives the same answers and the same trace hash with 1 and 3 threads.
TEST(R20_Determinism, AquaScenariosWithTimersAndRacesDoNotDependOnThreads) {
  for (uint64_t seed : {0ull, 7ull}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::vector<uint64_t> hashes;
    std::vector<std::string> answers;
    for (uint32_t threads : {1u, 3u}) {
      World w(peer_mix(12, 5, 3), threads, seed);
      CanisterId callee = w.rt.install<Peer>(w.rt.subnet(2));
      std::string a;
      auto t = w.rt.update<TraverseReport>(w.client, "traverse_peers", w.peers, uint64_t{10},
                                           uint64_t{1000});
      ASSERT_TRUE(t.has_value());
      for (auto& ack : t->acks)
        a += ack + ",";
      a += std::to_string(t->finished_ms) + ";";
      auto g = w.rt.update<GetOrNotReport>(w.client, "get_or_not", w.peers[1], uint64_t{1000});
      ASSERT_TRUE(g.has_value());
      a += g->status + ";";
      auto r =
          w.rt.update<RaceReport>(w.client, "race_peers", w.peers[0], w.peers[2], uint64_t{700});
      ASSERT_TRUE(r.has_value());
      a += r->winner + r->value + ";";
      auto p =
          w.rt.update<ParallelReport>(w.client, "parallel_calls_retry", callee, uint64_t{1200});
      ASSERT_TRUE(p.has_value());
      a += std::to_string(p->ok) + "/" + std::to_string(p->retries) + ";";
      account_for_everything(w.rt, w.client);
      hashes.push_back(w.rt.trace_hash());
      answers.push_back(a);
    }
    EXPECT_EQ(answers[0], answers[1]);
    EXPECT_EQ(hashes[0], hashes[1]);
  }
}

}  // namespace
