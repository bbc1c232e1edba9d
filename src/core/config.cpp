#include "canopy/config.hpp"

namespace canopy {

std::optional<std::string> Config::validate() const {
  if (subnets == 0 || subnets > 1024) return "subnets must be in 1..1024";
  if (threads == 0 || threads > 256) return "threads must be in 1..256";
  if (queue_capacity == 0 || queue_capacity > 100'000'000) return "queue_capacity must be in 1..1e8";
  if (ingress_queue_capacity == 0) return "ingress_queue_capacity must be positive";
  if (payload_max_bytes_xnet > payload_max_bytes_local)
    return "payload_max_bytes_xnet must not exceed payload_max_bytes_local";
  if (callbacks_max_per_canister == 0) return "callbacks_max_per_canister must be positive";
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
  return std::nullopt;
}

}  // namespace canopy
