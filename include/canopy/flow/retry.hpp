// canopy/flow/retry.hpp — R19 on the coroutine side: retries of transient failures from a timer
// with backoff. (Sleeping on virtual time is on Ctx: `co_await ctx.sleep(250ms)`, canopy/ctx.hpp.)
//
//   auto r = co_await retry(ctx, RetryPolicy{}, [&] { return ctx.call<void>(callee, "ping"); });
//
// Why a timer: a SYS_TRANSIENT failure (R2: the per-pair queue is full) does not go away within
// the same message execution — the queue drains only when responses come back, in later
// executions (seed 000: immediate retries fail). retry() therefore waits on a virtual-time timer
// (ctx.sleep_ms: the recommended place for retries, R19) before each new attempt: the first wait
// is backoff_initial_ms, then it grows by backoff_multiplier up to backoff_max_ms, plus an
// optional deterministic jitter drawn from ctx.random() (R20). At most attempts_max attempts.
//
// make() is called once per attempt and must return an arm yielding Result<V> (a Call<R>, a
// Task<Result<V>>). retry() yields the first success, the first failure that policy.retryable
// does not accept, or the last failure after attempts_max attempts (its message then says so).
// A policy that makes no sense (0 attempts, a zero backoff, max < initial) is a Trap when the
// retry starts. Like every sleep, the waits are rolled back if the execution traps (R7).
//
// Timers that call a method (one-shot, periodic) and the heartbeat are on Ctx/Methods:
// ctx.set_timer, ctx.set_timer_interval, ctx.cancel_timer, Methods::heartbeat (canopy/ctx.hpp).
//
// Thread-safety: like Ctx, used only by the canister's own code, on its thread. The retry task
// owns a copy of `make`; references it captures must outlive the awaited retry.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>

#include "canopy/ctx.hpp"
#include "canopy/flow/arms.hpp"

namespace canopy {

inline bool is_transient(const Reject& r) noexcept {
  return r.code == RejectCode::sys_transient;
}

struct RetryPolicy {
  uint32_t attempts_max = 10;         // attempts in all, the first included; >= 1
  uint64_t backoff_initial_ms = 100;  // wait before the second attempt; >= 1
  uint64_t backoff_max_ms = 10'000;   // cap of the wait; >= backoff_initial_ms
  uint32_t backoff_multiplier = 2;    // growth of the wait per attempt; >= 1
  uint64_t jitter_ms = 0;             // + ctx.random() % (jitter_ms + 1) per wait
  bool (*retryable)(const Reject&) noexcept = &is_transient;
};

// What a retry did (optional out-parameter; must outlive the retry).
struct RetryStats {
  uint64_t attempts = 0;
  uint64_t retries = 0;    // attempts after the first
  uint64_t waited_ms = 0;  // total of the timer waits asked for
};

namespace detail::flow {
inline void check_policy(const RetryPolicy& p) {
  auto bad = [](const std::string& what) { throw Trap("R19: bad RetryPolicy: " + what); };
  if (p.attempts_max == 0) bad("attempts_max must be >= 1");
  if (p.backoff_initial_ms == 0) bad("backoff_initial_ms must be >= 1 (retry from a timer)");
  if (p.backoff_max_ms < p.backoff_initial_ms) bad("backoff_max_ms < backoff_initial_ms");
  if (p.backoff_multiplier == 0) bad("backoff_multiplier must be >= 1");
  if (p.retryable == nullptr) bad("retryable is null");
}
}  // namespace detail::flow

// clang-format off
template <class F>
  requires std::invocable<F&> && Arm<std::invoke_result_t<F&>> &&
           detail::flow::result_traits<std::remove_cvref_t<
               detail::flow::await_result_t<std::invoke_result_t<F&>>>>::is_result
Task<Result<arm_value_t<std::invoke_result_t<F&>>>> retry(Ctx& ctx, RetryPolicy policy, F make,
                                                        RetryStats* stats = nullptr) {
  // clang-format on
  detail::flow::check_policy(policy);
  uint64_t backoff = policy.backoff_initial_ms;
  for (uint32_t attempt = 1;; ++attempt) {
    auto r = co_await make();
    if (stats != nullptr) ++stats->attempts;
    if (r || !policy.retryable(r.error())) co_return r;
    if (attempt >= policy.attempts_max) {
      if (attempt > 1) {
        r.error().message += " (gave up after " + std::to_string(attempt) + " attempts, R19)";
      }
      co_return r;
    }
    uint64_t wait = backoff;
    if (policy.jitter_ms != 0) wait += ctx.random() % (policy.jitter_ms + 1);
    if (stats != nullptr) {
      ++stats->retries;
      stats->waited_ms += wait;
    }
    auto slept = co_await ctx.sleep_ms(wait);
    if (!slept) co_return r;  // no timer could be set: give up with the call's own failure
    backoff = backoff > policy.backoff_max_ms / policy.backoff_multiplier
                  ? policy.backoff_max_ms
                  : std::min(policy.backoff_max_ms, backoff * policy.backoff_multiplier);
  }
}

}  // namespace canopy
