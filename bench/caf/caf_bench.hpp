// caf_bench: the CAF (C++ Actor Framework 0.17) peer for canopy's throughput
// benchmarks. Each subcommand prints exactly one JSON object line on stdout;
// progress goes to stderr.
//
//   caf_bench calls  [--pairs P] [--seconds S | --round-trips N] [--threads T]
//                    [--in-flight K]
//   caf_bench fanout [--calls C] [--canisters M] [--timeout-seconds S]
//                    [--threads T]
//
// Thread-safety: the options structs are plain values; each run_* function
// owns its own caf::actor_system and returns only after it has shut down.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>

namespace caf_bench {

// Atoms shared by both workloads (CAF 0.17 spelling: atom_constant).
using go_atom = caf::atom_constant<caf::atom("go")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Runs longer than this get progress lines on stderr.
inline constexpr double progress_after_s = 2.0;
// Interval between progress lines.
inline constexpr auto progress_interval = std::chrono::seconds(1);
// How long the main thread blocks in receive() before it re-checks clocks.
inline constexpr auto poll_interval = std::chrono::milliseconds(100);

// A server answers ping(x) with x: the cheapest possible request handler.
inline caf::behavior server_impl() {
  return {[](ping_atom, std::uint64_t x) { return x; }};
}

// Builds the actor system config shared by both workloads.
inline void configure(caf::actor_system_config& cfg, std::uint32_t threads) {
  cfg.set("scheduler.max-threads", static_cast<std::int64_t>(threads));
}

struct calls_options {
  std::uint32_t pairs = 1000;
  std::uint64_t round_trips = 5'000'000;  // used when seconds == 0
  double seconds = 0.0;                   // > 0: stop by time instead
  std::uint32_t threads = 2;
  std::uint32_t in_flight = 1;
};

struct fanout_options {
  std::uint64_t calls = 1'000'000;
  std::uint32_t canisters = 1000;
  double timeout_seconds = 120.0;
  std::uint32_t threads = 2;
};

// Each returns the process exit code (0 on success, also for a fan-out that
// timed out: "completed":false is a measurement, not an error).
int run_calls(const calls_options& opts);
int run_fanout(const fanout_options& opts);

}  // namespace caf_bench
