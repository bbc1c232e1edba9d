// Runtime::Impl — topology, routing table, ingress bookkeeping, the round driver.
#pragma once

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
  detail::CanisterRt* find(CanisterId id);
  const detail::CanisterRt* find(CanisterId id) const;
  void tick();
  void collect_ingress();

  Config cfg;
  std::unique_ptr<Env> env;
  std::unique_ptr<detail::Executor> executor;
  std::vector<std::unique_ptr<detail::Subnet>> subnets;
  std::unordered_map<CanisterId, SubnetId> routing;
  uint64_t next_canister = 1;
  uint64_t next_ingress = 1;
  uint64_t round = 0;
  std::map<uint64_t, std::optional<Result<Bytes>>> ingress;
  uint64_t ingress_duplicates = 0;
  uint64_t xnet_messages = 0;
  std::vector<TraceEvent> trace;
  uint64_t lifecycle_hash = trace_hash_seed;
};

}  // namespace canopy
