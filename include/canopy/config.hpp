// canopy/config.hpp — every limit and knob of the runtime, in one struct (DESIGN §4).
//
// Names carry their unit last (`round_duration_ms`). Defaults are the Internet Computer's where
// it has one. `validate()` returns an error message for an inconsistent configuration (used by
// the Runtime constructor, which throws std::invalid_argument, and by the CLI, which exits 2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace canopy {

struct Config {
  // Topology.
  uint32_t subnets = 1;
  // Worker threads executing canisters in parallel within a round (R12, R20). 1 = sequential.
  uint32_t threads = 1;
  uint64_t seed = 0;

  // R2 queues: capacity of each per-pair input and output queue, in messages.
  uint32_t queue_capacity = 500;
  // R11: ingress messages waiting for one canister.
  uint32_t ingress_queue_capacity = 10'000;

  // R5 limits.
  uint64_t payload_max_bytes_xnet = 2 * 1024 * 1024;     // across subnets
  uint64_t payload_max_bytes_local = 10 * 1024 * 1024;   // within one subnet
  uint64_t callbacks_max_per_canister = 1'000'000;       // outstanding calls of one canister
  uint64_t call_contexts_max_per_canister = 1'000'000;   // open call contexts of one canister

  // R12-R14 rounds and budgets (deterministic cost units).
  uint64_t message_base_cost = 1'000;              // charged for every message execution
  uint64_t message_cost_max = 5'000'000'000;       // one execution beyond this traps
  uint64_t canister_round_cost_max = 2'000'000'000;  // one canister's share of a round
  uint64_t round_cost_max = 4'000'000'000;         // a subnet's round ends beyond this
  // Inner iterations (execute, then deliver same-subnet messages) per round. Bounds the work a
  // round does even when every message is cheap; it is what makes a long chain of sequential
  // same-subnet calls span several rounds, as on the IC.
  uint32_t round_iterations_max = 200;

  // R13 cross-subnet latency, in rounds, each way.
  uint32_t xnet_latency_rounds = 2;
  // R15 virtual time: one round advances the subnet clock by this.
  uint64_t round_duration_ms = 100;
  // R19: timers one canister may have set at once.
  uint64_t timers_max_per_canister = 10'000;
  // R10 bounded-wait calls: the longest timeout a call may ask for.
  uint64_t call_timeout_max_ms = 300'000;

  // Ingress driving: Runtime::update gives up after this many rounds without an answer.
  uint64_t ingress_rounds_max = 1'000'000;

  // Trace: keep every event in memory (for --trace/--svg); the trace hash is always computed.
  bool record_trace = false;
  uint64_t trace_events_max = 5'000'000;

  // Returns an error message if the configuration is invalid.
  std::optional<std::string> validate() const;
};

}  // namespace canopy
