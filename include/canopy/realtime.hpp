// canopy/realtime.hpp — the real-time driver: one Runtime, driven on its own thread by the wall
// clock, fed from any thread. The basis for running canopy as a server.
//
//   auto rt = std::make_unique<canopy::Runtime>(cfg);          // cfg.pools: {"expensive", 2}
//   auto agency = rt->install<Agency>(rt->subnet(0));
//   canopy::RealtimeDriver driver(std::move(rt));
//   std::future<canopy::Result<std::string>> f = driver.update<std::string>(agency, "create_did",
//   seed);
//   ... f.get() ...
//   driver.shutdown();                                          // or let the destructor do it
//
// Rounds (R12) run as soon as there is work: an ingress message arrived, a pool job finished
// (R22), or a canister still has input. When the only pending things are time-driven (timers,
// heartbeats, bounded-wait deadlines, cross-subnet messages in streams), rounds run every
// `idle_round_interval_ms` of wall time; when nothing is pending at all the driver sleeps until
// woken. Each round's virtual time is the wall clock measured from the runtime's time when the
// driver started (R15: never going back, at least 1 ms per round). Worker pools deliver
// completions as soon as the job finished, at the next round boundary (Delivery::when_ready);
// the runtime's pools are attached at construction. Every answer is taken out of the runtime
// when it is handed out (Runtime::take_ingress_result), so a long-running driver holds only the
// ingress still pending (bounded by pending_ingress_max).
//
// Shutdown loses nothing and never hangs: shutdown() first refuses new ingress (SYS_TRANSIENT)
// and keeps driving until every accepted ingress is answered, for at most shutdown_drain_ms_max;
// then it cancels queued pool jobs (their offloads complete with SYS_TRANSIENT, so canister code
// can still answer) and keeps driving for at most shutdown_cancel_ms_max; whatever is still
// unanswered then is answered SYS_UNKNOWN ("outcome unknown", as for R10). Jobs still running
// are left to finish; destroying the driver (and with it the runtime) waits for them up to
// Config::pool_shutdown_wait_ms_max.
//
// Thread-safety: submit, update, run, shutdown, stats, stopping and stopped may be called from any
// thread (shutdown not from the driver thread, i.e. not from a `done` callback or a run()
// function). Completion callbacks and run() functions execute on the driver thread, between rounds:
// keep them short, and do not call shutdown from them. Ownership: the driver owns the Runtime;
// after shutdown() it can be inspected through runtime().
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "canopy/codec.hpp"
#include "canopy/ids.hpp"
#include "canopy/reject.hpp"
#include "canopy/runtime.hpp"

namespace canopy {

struct RealtimeOptions {
  // Wall-clock pause between rounds when only time-driven work is pending. 0: the runtime's
  // Config::round_duration_ms.
  uint64_t idle_round_interval_ms = 0;
  // When nothing at all is pending, the driver sleeps until woken, re-checking at least this
  // often.
  uint64_t idle_wait_ms_max = 1'000;
  // Ingress accepted and not yet answered; beyond this, submit answers SYS_TRANSIENT at once.
  uint64_t pending_ingress_max = 100'000;
  // run() functions waiting for the driver thread; beyond this, run() throws std::length_error.
  uint64_t pending_commands_max = 10'000;
  // shutdown(): how long accepted ingress may take to be answered normally.
  uint64_t shutdown_drain_ms_max = 10'000;
  // shutdown(), after the drain: how long cancelled offloads may take to be answered.
  uint64_t shutdown_cancel_ms_max = 1'000;
};

struct RealtimeStats {
  uint64_t rounds = 0;             // rounds run by this driver
  uint64_t ingress_submitted = 0;  // accepted by submit
  uint64_t ingress_answered = 0;   // answered by the runtime
  uint64_t ingress_refused = 0;    // refused by submit: SYS_TRANSIENT (full, or shutting down)
  uint64_t ingress_abandoned = 0;  // answered SYS_UNKNOWN by shutdown
  uint64_t pending = 0;            // accepted, not yet answered
};

class RealtimeDriver {
 public:
  // Starts the driver thread. Throws std::invalid_argument if `rt` is null.
  explicit RealtimeDriver(std::unique_ptr<Runtime> rt, RealtimeOptions options = {});
  ~RealtimeDriver();  // shutdown()
  RealtimeDriver(const RealtimeDriver&) = delete;
  RealtimeDriver& operator=(const RealtimeDriver&) = delete;

  // Submits an update call (R11); the future is set when the runtime answers it.
  std::future<Result<Bytes>> submit(CanisterId id, std::string method, Bytes payload);
  // The same with a callback: `done` runs once, on the driver thread — or at once on the calling
  // thread if the message is refused (SYS_TRANSIENT).
  void submit(CanisterId id, std::string method, Bytes payload,
              std::function<void(Result<Bytes>)> done);

  template <class R = void, class... Args>
  std::future<Result<R>> update(CanisterId id, std::string method, const Args&... args) {
    auto promise = std::make_shared<std::promise<Result<R>>>();
    auto future = promise->get_future();
    submit(id, std::move(method), encode(args...),
           [promise](Result<Bytes> raw) { promise->set_value(decode_result<R>(raw)); });
    return future;
  }

  // Runs fn(runtime) on the driver thread between rounds (installs, queries, inspection); the
  // future holds its result or exception (std::future_error broken_promise if the driver stopped
  // before running it).
  template <class F>
  auto run(F fn) -> std::future<std::invoke_result_t<F&, Runtime&>> {
    using R = std::invoke_result_t<F&, Runtime&>;
    auto task = std::make_shared<std::packaged_task<R(Runtime&)>>(std::move(fn));
    auto future = task->get_future();
    enqueue_command([task](Runtime& rt) { (*task)(rt); });
    return future;
  }

  // Stops as described above and joins the driver thread. Idempotent.
  void shutdown();
  // True once shutdown() was called (new ingress is refused from then on).
  bool stopping() const;
  // True once the driver thread has finished.
  bool stopped() const;
  RealtimeStats stats() const;
  // REQUIRES: stopped().
  Runtime& runtime();

 private:
  void enqueue_command(std::function<void(Runtime&)> fn);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canopy
