// canopy/config.hpp — every limit and knob of the runtime, in one struct (DESIGN §4).
//
// Names carry their unit last (`round_duration_ms`). Defaults are the Internet Computer's where
// it has one. `validate()` returns an error message for an inconsistent configuration (used by
// the Runtime constructor, which throws std::invalid_argument, and by the CLI, which exits 2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace canopy {

// R22: one named worker pool (canopy/pool.hpp). Its threads are separate from the canister-
// execution threads (`Config::threads`).
struct PoolConfig {
  std::string name;               // [A-Za-z0-9_.-], 1..pool_name_length_max characters
  uint32_t threads = 1;           // jobs running at once
  uint32_t queue_capacity = 256;  // jobs waiting for a thread; beyond threads + this, refused
  // Scheduling priority of the pool's jobs, as a Linux nice value 0..19 (0: unchanged). A
  // positive value lets latency-sensitive threads (the round driver, clients) preempt the pool.
  int32_t nice = 0;
};

struct Config {
  // Topology.
  uint32_t subnets = 1;
  // Worker threads executing canisters in parallel within a round (R12, R20). 1 = sequential.
  uint32_t threads = 1;
  // Routing between iterations is split by destination canister over `threads` when at least
  // this many canisters executed (below it, one thread routes: cheaper than a fork/join). The
  // outcome is identical either way (R20); this only tunes speed.
  uint32_t parallel_routing_min_canisters = 64;
  uint64_t seed = 0;

  // R2 queues: capacity of each per-pair input and output queue, in messages.
  uint32_t queue_capacity = 500;
  // R11: ingress messages waiting for one canister.
  uint32_t ingress_queue_capacity = 10'000;

  // R5 limits.
  uint64_t payload_max_bytes_xnet = 2 * 1024 * 1024;    // across subnets
  uint64_t payload_max_bytes_local = 10 * 1024 * 1024;  // within one subnet
  uint64_t callbacks_max_per_canister = 1'000'000;      // outstanding calls of one canister
  uint64_t call_contexts_max_per_canister = 1'000'000;  // open call contexts of one canister
  // R18: wake-ups one message execution may post to its canister's ready queue (coroutines
  // waking each other through Streams and combinators). Beyond it the execution traps: a
  // runaway ping-pong between coroutines ends as a CANISTER_ERROR, not a hang.
  uint64_t wake_ups_max_per_message = 10'000'000;

  // R12-R14 rounds and budgets (deterministic cost units).
  uint64_t message_base_cost = 1'000;                // charged for every message execution
  uint64_t message_cost_max = 5'000'000'000;         // one execution beyond this traps
  uint64_t canister_round_cost_max = 2'000'000'000;  // one canister's share of a round
  uint64_t round_cost_max = 4'000'000'000;           // a subnet's round ends beyond this
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

  // R22 worker pools (canopy/pool.hpp): named pools for offloaded work. Empty: no pools.
  std::vector<PoolConfig> pools;
  // The largest `declared_cost_rounds` one offload may declare (simulation delivers the
  // completion that many rounds after the offload).
  uint64_t offload_cost_rounds_max = 100'000;
  // Validation bounds of `pools`.
  uint32_t pool_threads_max = 256;               // per pool
  uint32_t pool_queue_capacity_max = 1'000'000;  // per pool
  uint32_t pool_name_length_max = 64;
  uint32_t pools_max = 64;
  // When a runtime is destroyed (or Pools::shutdown is called without a limit), how long to wait
  // for jobs still running before abandoning them (their results are dropped, never delivered).
  uint64_t pool_shutdown_wait_ms_max = 60'000;

  // R16/R17 queries (src/query, canopy/query.hpp). A composite query's call graph is evaluated
  // on per-edge copies of the callees' committed state; each limit violation aborts the whole
  // query with its own CANISTER_ERROR reject.
  // Nested call edges below the root composite query (the IC allows 6).
  uint32_t composite_query_depth_max = 6;
  // Total cost of every execution in one composite query's call graph (message_base_cost per
  // execution plus ctx.charge()), in cost units (the IC's composite-query instruction limit).
  uint64_t composite_query_cost_max = 5'000'000'000;
  // Wall-clock time one composite query may take, read through Env::wall_ns() (never the
  // clock directly) and checked at every call edge.
  uint64_t composite_query_time_max_ms = 10'000;
  // Evaluate the calls of a composite query in parallel (each on its own copy) instead of one
  // by one; the results are identical to depth-first evaluation (docs/composite-queries.md).
  bool composite_query_parallel = true;
  // QueryService: worker threads serving queries against committed snapshots, and the number
  // of submitted queries that may wait for a worker.
  uint32_t query_threads = 2;
  uint32_t query_queue_capacity = 10'000;

  // Ingress driving: Runtime::update gives up after this many rounds without an answer.
  uint64_t ingress_rounds_max = 1'000'000;

  // Trace: keep every event in memory (for --trace/--svg); the trace hash is always computed.
  bool record_trace = false;
  uint64_t trace_events_max = 5'000'000;

  // Returns an error message if the configuration is invalid.
  std::optional<std::string> validate() const;
  // The R22 part of validate(): pools and offload limits.
  std::optional<std::string> validate_pools() const;
};

}  // namespace canopy
