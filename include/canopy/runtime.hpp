// canopy/runtime.hpp — the Runtime: subnets, canisters, ingress, rounds.
//
// A Runtime is a whole deterministic system in one process: `Config::subnets` subnets, each
// executing in rounds (R12) with virtual time (R15), exchanging cross-subnet messages through
// streams that take `xnet_latency_rounds` rounds (R13). Canisters of a subnet execute in parallel
// on `Config::threads` threads; results and the trace hash do not depend on that number (R20).
//
// Driving: `tick()` runs one round on every subnet; `update()` submits an ingress message and
// ticks until it is answered; `query()` runs a query at once against the committed state (R11,
// R16). Thread-safety: a Runtime is driven from one thread (the "driver"); it uses its own worker
// threads internally. Errors in user input (unknown canister, bad arguments) come back as
// Result/Reject values; misuse of the API (e.g. a subnet index out of range) throws
// std::invalid_argument.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/canister.hpp"
#include "canopy/config.hpp"
#include "canopy/env.hpp"
#include "canopy/ids.hpp"
#include "canopy/reject.hpp"
#include "canopy/trace.hpp"

namespace canopy {

enum class Status : uint8_t { running, stopping, stopped };
const char* to_string(Status s);

struct CanisterInfo {
  CanisterId id;
  SubnetId subnet;
  Status status = Status::running;
  bool has_code = false;
  uint64_t balance = 0;
  size_t open_call_contexts = 0;
  size_t outstanding_calls = 0;
  uint64_t messages_executed = 0;
  uint64_t traps = 0;
};

// Counters over the whole system.
struct RuntimeStats {
  uint64_t rounds = 0;
  uint64_t messages_executed = 0;
  uint64_t calls_accepted = 0;
  uint64_t calls_failed_sync = 0;
  uint64_t responses_delivered = 0;
  uint64_t traps = 0;
  uint64_t late_responses_dropped = 0;
  uint64_t xnet_messages = 0;
  uint64_t ingress_held = 0;  // ingress entries kept: pending, or answered and not yet taken
};

class Runtime {
 public:
  // Throws std::invalid_argument if `config.validate()` fails. Without an Env, a SimEnv seeded
  // with config.seed is used. If `config.pools` is not empty, the worker pools (canopy/pool.hpp,
  // R22) are created and attached here; destroying the runtime stops them.
  explicit Runtime(Config config, std::unique_ptr<Env> env = nullptr);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Config& config() const;
  Env& env();
  SubnetId subnet(uint32_t index) const;
  uint32_t subnet_count() const;

  // ---- topology and lifecycle (R9) ----
  template <class C>
  CanisterId install(SubnetId subnet, typename C::state_type init = {}, uint64_t cycles = 0) {
    auto code = std::make_unique<detail::Hosted<C>>();
    code->state() = std::move(init);
    return install_code(subnet, std::move(code), cycles);
  }
  // Upgrade to class C (may be the same): pre_upgrade of the old code, post_upgrade of the new.
  // Open call contexts are rejected with CANISTER_ERROR "callback lost" (R21 for volatile
  // coroutines).
  template <class C>
  Result<void> upgrade(CanisterId id) {
    return upgrade_code(id, std::make_unique<detail::Hosted<C>>());
  }
  CanisterId install_code(SubnetId subnet, std::unique_ptr<CanisterBase> code, uint64_t cycles);
  Result<void> upgrade_code(CanisterId id, std::unique_ptr<CanisterBase> code);
  Result<void> uninstall(CanisterId id);
  // Running -> Stopping; becomes Stopped at the end of a round with no open call contexts.
  Result<void> stop(CanisterId id);
  Result<void> start(CanisterId id);
  std::optional<CanisterInfo> info(CanisterId id) const;
  std::vector<CanisterId> canisters() const;
  Result<void> deposit_cycles(CanisterId id, uint64_t amount);

  // ---- ingress (R11) ----
  IngressId submit(CanisterId id, std::string method, Bytes payload);
  // nullopt while pending (or if unknown, or already taken).
  std::optional<Result<Bytes>> ingress_result(IngressId id) const;
  // The answer of an answered ingress message, which the runtime then forgets (nullopt while
  // pending, or if unknown or already taken). A long-running driver calls this so that the
  // runtime holds only the ingress still pending (RuntimeStats::ingress_held).
  std::optional<Result<Bytes>> take_ingress_result(IngressId id);
  // Submits and ticks until answered (at most Config::ingress_rounds_max rounds).
  Result<Bytes> update_raw(CanisterId id, std::string method, Bytes payload);
  Result<Bytes> query_raw(CanisterId id, std::string method, Bytes payload);

  template <class R = void, class... Args>
  Result<R> update(CanisterId id, std::string method, const Args&... args) {
    return decode_result<R>(update_raw(id, std::move(method), encode(args...)));
  }
  template <class R = void, class... Args>
  Result<R> query(CanisterId id, std::string method, const Args&... args) {
    return decode_result<R>(query_raw(id, std::move(method), encode(args...)));
  }

  // ---- rounds ----
  void tick();
  // A round at a given virtual time (used by real-time drivers: virtual time follows the wall
  // clock). Time never goes back: a value not after the last round's time is bumped by 1 ms.
  void tick_at(uint64_t now_ms);
  // Ticks until no canister has work and nothing is in flight, at most `rounds_max` rounds.
  // Returns the number of rounds run.
  uint64_t run_until_idle(uint64_t rounds_max);
  // True if nothing would happen in another round: no canister has input or waits on time, no
  // message is in a stream, and no worker-pool offload is staged or undelivered (R22).
  bool idle() const;
  uint64_t round() const;
  uint64_t time_ms() const;

  // ---- observation ----
  uint64_t trace_hash() const;
  // Recorded events (Config::record_trace), in a deterministic order.
  const std::vector<TraceEvent>& trace() const;
  std::vector<TraceCanister> trace_canisters() const;
  void clear_trace();
  RuntimeStats stats() const;
  // Checks the system invariants (R1, R2, R8): every accepted call gets exactly one response,
  // no queue exceeds its capacity, no balance underflows, ingress answered once. Returns the
  // violations (empty when all hold). Cheap enough to call after every round in tests.
  std::vector<std::string> check_invariants() const;
  // At quiescence: additionally every accepted call has been answered.
  std::vector<std::string> check_quiescent_invariants() const;

  // For the internal layers (query evaluation, pools): not part of the stable API.
  struct Impl;
  Impl& impl();

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace canopy
