// Runtime::Impl — topology, routing table, ingress bookkeeping, the round driver.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "canopy/runtime.hpp"
#include "sched/subnet.hpp"

namespace canopy {

struct Runtime::Impl final : detail::Routing {
  Impl(Config c, std::unique_ptr<Env> e);

  std::optional<SubnetId> subnet_of(CanisterId id) const override {
    auto it = routing.find(id);
    if (it == routing.end()) return std::nullopt;
    return it->second;
  }
  uint64_t version() const override { return routing_version; }
  Pools* pools() const override { return attached_pools.get(); }
  detail::CanisterRt* find(CanisterId id);
  const detail::CanisterRt* find(CanisterId id) const;
  // One round on every subnet. `now_ms`: the virtual time of this round; by default the
  // previous round's plus round_duration_ms (R15). A real-time driver passes the wall clock.
  void tick(std::optional<uint64_t> now_ms = std::nullopt);
  // Hooks run at the start of every tick, before the subnets execute, on the driver thread
  // (e.g. worker-pool completions, R22). Deterministic order: registration order.
  std::vector<std::function<void(uint64_t round)>> before_round;
  // Hooks run at the end of every tick, after every subnet finished its round and ingress
  // replies were collected, on the driver thread: the state is committed (R16: the query
  // service publishes its snapshot here). Deterministic order: registration order.
  std::vector<std::function<void(uint64_t round)>> after_round;
  // Hooks asked by Runtime::idle(): true means something outside the subnets is pending (e.g.
  // offloads staged or undelivered, R22), so another round has work. Driver thread.
  std::vector<std::function<bool()>> busy;
  void collect_ingress();
  // The subnets alone are idle: no input, nothing in streams, nothing waiting on time.
  bool subnets_idle() const;

  Config cfg;
  std::unique_ptr<Env> env;
  std::unique_ptr<detail::Executor> executor;
  std::vector<std::unique_ptr<detail::Subnet>> subnets;
  std::unordered_map<CanisterId, SubnetId> routing;
  uint64_t next_canister = 1;
  uint64_t routing_version = 1;  // bumped on every change of `routing`
  uint64_t next_ingress = 1;
  uint64_t round = 0;
  uint64_t time_ms = 0;
  std::map<uint64_t, std::optional<Result<Bytes>>> ingress;
  uint64_t ingress_duplicates = 0;
  uint64_t xnet_messages = 0;
  std::vector<TraceEvent> trace;
  uint64_t lifecycle_hash = trace_hash_seed;
  // R22: the worker pools (canopy/pool.hpp), attached by the Runtime constructor when
  // cfg.pools is not empty, or by attach_pools(). Destroyed first (~Runtime).
  std::shared_ptr<Pools> attached_pools;
};

}  // namespace canopy
