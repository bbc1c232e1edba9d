#include "canopy/config.hpp"

#include <set>

namespace canopy {

std::optional<std::string> Config::validate() const {
  if (subnets == 0 || subnets > 1024) return "subnets must be in 1..1024";
  if (threads == 0 || threads > 256) return "threads must be in 1..256";
  if (queue_capacity == 0 || queue_capacity > 100'000'000) return "queue_capacity must be in 1..1e8";
  if (ingress_queue_capacity == 0) return "ingress_queue_capacity must be positive";
  if (payload_max_bytes_xnet > payload_max_bytes_local)
    return "payload_max_bytes_xnet must not exceed payload_max_bytes_local";
  if (callbacks_max_per_canister == 0) return "callbacks_max_per_canister must be positive";
  if (wake_ups_max_per_message == 0) return "wake_ups_max_per_message must be positive";
  if (call_contexts_max_per_canister == 0) return "call_contexts_max_per_canister must be positive";
  if (message_base_cost == 0) return "message_base_cost must be positive";
  if (message_cost_max < message_base_cost) return "message_cost_max must be >= message_base_cost";
  if (canister_round_cost_max < message_cost_max && canister_round_cost_max < message_base_cost)
    return "canister_round_cost_max must allow at least one message";
  if (round_cost_max < message_base_cost) return "round_cost_max must allow at least one message";
  if (round_iterations_max == 0) return "round_iterations_max must be positive";
  if (xnet_latency_rounds == 0 || xnet_latency_rounds > 1000)
    return "xnet_latency_rounds must be in 1..1000";
  if (round_duration_ms == 0) return "round_duration_ms must be positive";
  if (call_timeout_max_ms == 0) return "call_timeout_max_ms must be positive";
  if (ingress_rounds_max == 0) return "ingress_rounds_max must be positive";
  if (composite_query_depth_max == 0 || composite_query_depth_max > 1000)
    return "composite_query_depth_max must be in 1..1000";
  if (composite_query_cost_max < message_base_cost)
    return "composite_query_cost_max must allow at least one message";
  if (composite_query_time_max_ms == 0) return "composite_query_time_max_ms must be positive";
  if (query_threads == 0 || query_threads > 256) return "query_threads must be in 1..256";
  if (query_queue_capacity == 0) return "query_queue_capacity must be positive";
  if (auto err = validate_pools()) return err;
  return std::nullopt;
}

// R22: names unique and well-formed, sizes within their bounds.
std::optional<std::string> Config::validate_pools() const {
  if (offload_cost_rounds_max == 0) return "offload_cost_rounds_max must be positive";
  if (pool_threads_max == 0 || pool_queue_capacity_max == 0 || pool_name_length_max == 0)
    return "pool_threads_max, pool_queue_capacity_max and pool_name_length_max must be positive";
  if (pools.size() > pools_max)
    return "at most " + std::to_string(pools_max) + " pools (pools_max)";
  std::set<std::string> names;
  for (const auto& p : pools) {
    if (p.name.empty() || p.name.size() > pool_name_length_max)
      return "pool name '" + p.name + "' must have 1.." + std::to_string(pool_name_length_max) +
             " characters";
    for (char ch : p.name) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
      if (!ok) return "pool name '" + p.name + "' may only contain [A-Za-z0-9_.-]";
    }
    if (!names.insert(p.name).second) return "pool '" + p.name + "' is defined twice";
    if (p.threads == 0 || p.threads > pool_threads_max)
      return "pool '" + p.name + "': threads must be in 1.." + std::to_string(pool_threads_max);
    if (p.nice < 0 || p.nice > 19)
      return "pool '" + p.name + "': nice must be in 0..19";
    if (p.queue_capacity == 0 || p.queue_capacity > pool_queue_capacity_max)
      return "pool '" + p.name + "': queue_capacity must be in 1.." +
             std::to_string(pool_queue_capacity_max);
  }
  return std::nullopt;
}

}  // namespace canopy
