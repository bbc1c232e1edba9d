// canopy/flow.hpp — structured concurrency for canister code (R18) and coroutine-side timers
// and retries (R19): the semantics of Aqua's par / co / join / streams / race / timeout (seed 001)
// as typed C++20 combinators over canopy's Task<T> and Call<R>.
//
//   when_all, when_all_settled, when_any, when_n, race, with_timeout   canopy/flow/combinators.hpp
//   Stream<T> (at, size_at_least, push, close)                         canopy/flow/stream.hpp
//   Scope (spawn, join, cancel), for_each_par                          canopy/flow/scope.hpp
//   RetryPolicy, retry (sleep: ctx.sleep(d), canopy/ctx.hpp)           canopy/flow/retry.hpp
//   Arm, ArmError, Won, flow_frame_counters                            canopy/flow/arms.hpp
//
// Common contract (details in each header and in docs/combinators.md):
// - Everything runs on the canister's thread, inside message executions; no locks, no atomics
//   (except the frame counters), no detached work: nothing outlives the co_await, Scope or
//   for_each_par that started it.
// - Losing arms are never cancelled on the wire (R1): a dropped Call's response still arrives and
//   is discarded without running user code; the call context stays open until it has arrived.
//   A losing Task arm is destroyed at its suspension point. A losing timer (ctx.sleep) is
//   released at once: it keeps nothing open.
// - Wake-ups (a Stream push/close, Scope::cancel) never run the woken coroutine on the waker's
//   stack: they go through the canister's ready queue and run once the waker's code has returned
//   to the runtime, in FIFO order — so a woken coroutine may cancel whatever woke it, and a
//   coroutine of another call context of the same canister may be woken (its root is checked).
// - A Scope must be joined: dropped with arms still running while its owner goes on, it traps.
// - Arms that fail report a Reject (ArmError{index, reject}); exceptions propagate (a trap, R7).
// - Bad input is a canopy::Trap with a message naming the rule, never a hang.
// - All waiting is on virtual time (R15); results are deterministic (R20).
#pragma once

#include "canopy/flow/arms.hpp"
#include "canopy/flow/combinators.hpp"
#include "canopy/flow/retry.hpp"
#include "canopy/flow/scope.hpp"
#include "canopy/flow/stream.hpp"
