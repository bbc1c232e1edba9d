// canopy/pool.hpp — worker pools (R22): expensive or blocking work never runs inside a round.
//
// A canister pushes work to a named pool and keeps serving other messages while it runs:
//
//   canopy::Task<std::string> cred_def(canopy::Ctx& ctx, uint64_t seed) {
//     auto key = co_await canopy::offload_with(ctx, "expensive", 1, &keygen, seed);
//     if (!key) co_return "failed: " + key.error().message;   // the job threw, or was refused
//     state().keys.push_back(*key);                            // back on the canister's thread
//     co_return *key;
//   }
//
// `offload` is a suspended call, like an inter-canister call: the method's execution ends at the
// co_await (other messages of the canister execute meanwhile), and the job's outcome comes back
// as a message that resumes the coroutine in a later execution (R22). The job is handed to the
// pool only when the execution that asked for it commits; if it traps, the job never runs (R7).
// A trap after the co_await rolls back that later execution only (R7), like any callback.
//
// Outcomes of `co_await offload(...)` (a Result<T>):
//   value                the job returned (the value crosses the boundary encoded, like a reply)
//   CANISTER_ERROR       the job threw; the message names the pool and the exception
//   SYS_TRANSIENT        the pool was full (threads + queue_capacity jobs in it), or shut down
//   DESTINATION_INVALID  synchronous: no pool of that name (or the runtime has no pools)
//   SYS_FATAL            synchronous: declared_cost_rounds > Config::offload_cost_rounds_max
// A query cannot offload (R16): it traps. (`offload(ctx, pool, lambda)` is the general form;
// inside a co_await with g++ 12, see offload_with below.)
//
// Delivery, one runtime, two drivers:
//   deterministic (simulation, the default)  an offload executed in round r is delivered at the
//       start of round r + declared_cost_rounds. If the job has not finished by then, the driver
//       thread waits for it there, at the round boundary — never inside a canister execution.
//       Admission to the pool and delivery go in offload-id order (ids are assigned at the round
//       boundary by (round, canister, per-canister sequence)), so results and the trace hash do
//       not depend on thread timing or on Config::threads (R20).
//   when_ready (real time, canopy/realtime.hpp)  a completion is delivered at the first round
//       boundary after the job finished, in offload-id order among those ready.
// A job occupies its pool from admission until its completion is delivered; that is the count
// bounded by threads + queue_capacity (so the inbox of undelivered completions is bounded too).
//
// The job runs on a pool thread, outside any round: it must not touch the canister's state or
// Ctx (capture copies of what it needs), and whatever it returns must be encodable with
// canopy::encode (cereal). Its result is delivered exactly once, or dropped if the canister was
// upgraded or uninstalled meanwhile (R21: the pending callback was rejected, "callback lost").
//
// Why oneTBB arenas (and not Boost.Asio): oneTBB is already canopy's threading dependency (the
// executor), and one `task_arena(threads, reserved_for_masters = 0)` per pool gives exactly
// `threads` concurrent jobs, none on the driver thread and none in the canister-execution arena
// (tasks never migrate between arenas). Boost.Asio would add a dependency for a thread pool that
// still has no bounded queue (libboost-dev is not a canopy dependency). Priorities: each pool
// may run its jobs at a lower priority (PoolConfig::nice). What oneTBB needs, and canopy does:
//   - workers: the process has at most max_allowed_parallelism - 1 of them (1 on a 2-core
//     machine, by default), shared by every arena. canopy keeps one process-wide
//     tbb::global_control at 1 + the sum of all live leases (src/core/tbb_threads.hpp: every
//     pool's threads, and the round executor's Config::threads - 1), so a pool of 2
//     really runs 2 jobs at once, also with 3 pools on 2 cores (oversubscription is the point
//     for blocking work). Several global_control objects combine by *minimum*: a smaller one
//     elsewhere in the process clamps the pools (oneTBB then warns that workers are limited).
//   - bounded queues: arena.enqueue is unbounded, so admission is counted here.
//   - ThreadSanitizer: libtbb is not instrumented; jobs cross to the worker through a mutex and
//     an atomic hand-off that TSan sees. TBB's recycling of its own task objects still needs
//     the suppressions in tests/tsan.supp (TBB frames only).
//
// Thread-safety: `offload` only from canister code (the canister's thread). `attach_pools`,
// `Pools::set_delivery`, `Pools::admit`, `Pools::idle` from the thread driving the runtime,
// between rounds. `Pools::stats`, `Pools::has_ready`, `Pools::set_notify` from any thread.
// Ownership: the Runtime creates its Pools in its constructor when Config::pools is not empty,
// and owns them: they live as long as the runtime (destroying the runtime cancels queued jobs
// and waits up to Config::pool_shutdown_wait_ms_max for running ones). Runtime::idle() (and so
// run_until_idle) is false while an offload is staged or undelivered.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "canopy/call.hpp"
#include "canopy/codec.hpp"
#include "canopy/config.hpp"
#include "canopy/ctx.hpp"
#include "canopy/reject.hpp"

namespace canopy {

class Runtime;

namespace detail {

// A job, type-erased: runs on a pool thread; returns the encoded value or, if the job threw, a
// CANISTER_ERROR reject carrying the exception's message.
class OffloadFn {
 public:
  virtual ~OffloadFn() = default;
  virtual Result<Bytes> run() noexcept = 0;
};

template <class F>
class OffloadFnImpl final : public OffloadFn {
 public:
  explicit OffloadFnImpl(F fn) : fn_(std::move(fn)) {}
  Result<Bytes> run() noexcept override {
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        fn_();
        return Bytes{};
      } else {
        return encode(fn_());
      }
    } catch (const std::exception& e) {
      return make_reject(RejectCode::canister_error, e.what());
    } catch (...) {
      return make_reject(RejectCode::canister_error, "unknown exception");
    }
  }

 private:
  F fn_;
};

struct OffloadIssue {
  CanisterRt* rt = nullptr;
  IssueResult issued;
};

// Creates the pending slot and arranges for the job to be staged when the execution commits.
OffloadIssue offload_issue(CallContext& cc, std::string_view pool, std::unique_ptr<OffloadFn> fn,
                           uint64_t declared_cost_rounds);

}  // namespace detail

// The value type an offloaded `F` produces.
template <class F>
using offload_result_t = std::decay_t<std::invoke_result_t<std::decay_t<F>&>>;

// Runs `fn()` on pool `pool`, outside the round; the awaitable Call yields Result<T> where T is
// fn's return type (R22). `declared_cost_rounds` (0 counts as 1) is the simulation's delivery
// delay in rounds; real time ignores it.
template <class F>
Call<offload_result_t<F>> offload(Ctx& ctx, std::string_view pool, F fn,
                                  uint64_t declared_cost_rounds = 1) {
  using Fn = std::decay_t<F>;
  auto issue = detail::offload_issue(ctx.context(), pool,
                                     std::make_unique<detail::OffloadFnImpl<Fn>>(std::move(fn)),
                                     declared_cost_rounds);
  return Call<offload_result_t<F>>(issue.rt, std::move(issue.issued));
}

// Runs `fn(args...)` on pool `pool`; the arguments are copied into the job. The same as
// offload(ctx, pool, [=] { return fn(args...); }, declared_cost_rounds), except that the closure
// is built here, outside the calling coroutine. Prefer this form when the job needs values that
// are not trivially copyable (strings, vectors, shared_ptr) and the call sits inside a co_await:
// g++ 12 copies a lambda temporary that appears in a co_await expression bitwise into the
// coroutine frame, so such captures end in a double or bad free (a compiler bug; naming the
// lambda first, `auto job = [s] {...}; co_await offload(ctx, "p", std::move(job));`, also works).
template <class F, class... Args>
auto offload_with(Ctx& ctx, std::string_view pool, uint64_t declared_cost_rounds, F fn,
                  Args... args) {
  auto job = [fn = std::move(fn), tup = std::make_tuple(std::move(args)...)]() mutable {
    return std::apply(fn, tup);
  };
  return offload(ctx, pool, std::move(job), declared_cost_rounds);
}

enum class Delivery : uint8_t {
  deterministic,  // simulation: round r + declared_cost_rounds, waiting for the job if needed
  when_ready,     // real time: the first round boundary after the job finished
};

enum class PoolShutdown : uint8_t {
  drain,   // queued jobs still run
  cancel,  // queued jobs do not run: their offloads complete with SYS_TRANSIENT
};

// Counters of one pool. Monotone except in_flight/queued/running.
struct PoolStats {
  std::string name;
  uint32_t threads = 0;
  uint32_t queue_capacity = 0;
  uint64_t admitted = 0;     // handed to the pool
  uint64_t refused = 0;      // pool full or shut down: SYS_TRANSIENT
  uint64_t completed = 0;    // jobs that ran and returned
  uint64_t failed = 0;       // jobs that ran and threw
  uint64_t cancelled = 0;    // queued jobs dropped by shutdown(cancel)
  uint64_t delivered = 0;    // completions handed back to canisters
  uint64_t in_flight = 0;    // admitted, not yet delivered (<= threads + queue_capacity)
  uint64_t queued = 0;       // admitted, not yet started
  uint32_t running = 0;      // running now
  uint32_t running_max = 0;  // the most jobs seen running at once (<= threads)
  uint64_t busy_ns = 0;      // wall time spent running jobs, summed over threads
};

class Pools {
  struct Key {
    explicit Key() = default;
  };
  friend Pools& attach_pools(Runtime& rt);

 public:
  struct State;
  struct Threads;
  // Use attach_pools(rt).
  Pools(Key, Runtime& rt);
  ~Pools();
  Pools(const Pools&) = delete;
  Pools& operator=(const Pools&) = delete;

  Delivery delivery() const;
  // Driver thread, between rounds. Switching to when_ready delivers finished jobs at once.
  void set_delivery(Delivery d);

  std::vector<PoolStats> stats() const;
  std::optional<PoolStats> stats(std::string_view pool) const;
  std::vector<std::string> names() const;

  // True if no offload is staged or undelivered (driver thread). Runtime::idle() includes it.
  bool idle() const;
  // Admitted offloads whose job finished and which are not yet delivered (any thread).
  bool has_ready() const;
  // `fn` is called (on a pool thread) after every job that finishes; a real-time driver uses
  // it to wake up. Any thread; pass nullptr to clear.
  void set_notify(std::function<void()> fn);

  // Admits the offloads committed since the last call, in offload-id order (driver thread).
  // Done automatically at the start of every round; a real-time driver also calls it right
  // after a round so that jobs start without waiting for the next one.
  void admit();

  // Stops the pools: offloads not yet admitted, and later ones, complete with SYS_TRANSIENT;
  // queued jobs run (drain) or are cancelled. Waits up to `wait_ms_max` (wall clock) for the
  // pools to have no job queued or running; returns false if some job is still running then.
  // Completions are delivered by the following rounds, as usual. Idempotent. Driver thread.
  bool shutdown(PoolShutdown mode, uint64_t wait_ms_max);
  bool stopped() const;

  // Internal: called at the start of every round (before_round hook).
  void on_round_start(uint64_t round);
  const std::shared_ptr<State>& state() const { return s_; }

 private:
  void deliver_ready(uint64_t round);
  std::shared_ptr<State> s_;          // shared with running jobs
  std::unique_ptr<Threads> threads_;  // the arenas and the worker lease: owned by the driver side
};

// The pools of `rt`. The Runtime constructor attaches them when rt.config().pools is not empty,
// so this only returns them; for a runtime without pools it attaches an empty set (every
// offload then fails with DESTINATION_INVALID, as without). Driver thread.
Pools& attach_pools(Runtime& rt);
// The pools of `rt` if attached (always, when rt.config().pools is not empty), else nullptr.
Pools* find_pools(Runtime& rt);

// ---- sizes from code, a config file and CLI flags ----
//
// Precedence: the Config in code, then a file, then flags; a later definition of the same pool
// name replaces the earlier one; fields it omits keep the earlier value (or the default).

// "name=threads[:queue_capacity[:nice]]", e.g. "expensive=2:64" or "expensive=1:64:10".
tl::expected<PoolConfig, std::string> parse_pool_flag(std::string_view spec,
                                                      const std::vector<PoolConfig>& base = {});
// A JSON file: {"pools": {"expensive": {"threads": 2, "queue_capacity": 64, "nice": 10},
// "io": 4}} (a bare number is the thread count). Unknown keys are errors.
tl::expected<std::vector<PoolConfig>, std::string> parse_pool_json(
    std::string_view json_text, const std::vector<PoolConfig>& base = {});
tl::expected<std::vector<PoolConfig>, std::string> load_pool_file(
    const std::string& path, const std::vector<PoolConfig>& base = {});
// Adds or replaces (by name) `p` in `pools`.
void merge_pool(std::vector<PoolConfig>& pools, const PoolConfig& p);

}  // namespace canopy
