// canopy/detail/hooks.hpp — the narrow, non-template boundary between the public templates
// (Ctx, Call<R>) and the execution layer in src/exec. Not for users.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "canopy/codec.hpp"
#include "canopy/detail/payload.hpp"
#include "canopy/ids.hpp"
#include "canopy/reject.hpp"

namespace canopy {

// Options of one call (R8 cycles, R10 bounded wait).
struct CallOptions {
  uint64_t cycles = 0;      // attached; deducted now, the unaccepted rest is refunded (R8)
  uint64_t timeout_ms = 0;  // 0: wait for the response however long it takes; else R10
};

namespace detail {

class CanisterRt;
struct CallContext;

// A pending-call slot: index into the canister's slot array plus its generation (DESIGN §2).
struct SlotRef {
  uint32_t index = 0;
  uint32_t generation = 0;
};

// What to do when a slot's response is ready. Runs on the canister's thread, inside a message
// execution; must not throw.
struct Waiter {
  void (*fn)(void* obj, uint64_t tag) noexcept = nullptr;
  void* obj = nullptr;
  uint64_t tag = 0;
};

struct IssueResult {
  SlotRef ref;
  // Set: synchronous failure, no callback will ever run (R1). A pointer, so that an issued call
  // (the common case) moves as three words.
  std::unique_ptr<Reject> error;
  static IssueResult failed(Reject reject) {
    return IssueResult{SlotRef{}, std::make_unique<Reject>(std::move(reject))};
  }
};

IssueResult issue_call(CallContext& cc, CanisterId to, std::string_view method, Payload&& payload,
                       const CallOptions& options);
bool slot_ready(CanisterRt* rt, SlotRef ref) noexcept;
void slot_wait(CanisterRt* rt, SlotRef ref, Waiter waiter) noexcept;
// slot_wait if the slot is still pending; returns false (and registers nothing) if it is ready.
bool slot_wait_if_pending(CanisterRt* rt, SlotRef ref, Waiter waiter) noexcept;
// Takes the response out of a ready slot and frees the slot.
Result<Payload> slot_take(CanisterRt* rt, SlotRef ref, uint64_t* refund);
// The awaiter lost interest: the response will be discarded without running user code. A timer
// slot (ctx.sleep) is released at once: nothing can arrive for it on the wire (R1 does not apply).
void slot_abandon(CanisterRt* rt, SlotRef ref) noexcept;

// ---- the ready queue: wake-ups run from a clean stack (R18) ----
//
// Each canister has a FIFO of posted wake-ups. The runtime runs them after the user code of the
// current message execution has returned to it (after the method body / the resumed callback),
// in the order posted, until none is left — so a woken coroutine never runs on the stack of the
// code that woke it, and may destroy that code's frame (cancel it) safely. Then the runtime
// checks the root of every call context that was woken (not only the executing one): a root
// that finished replies to its caller in this execution (R6). Deterministic order (R20).
// If the execution traps, posted wake-ups are discarded and every other call context woken in
// it traps too (its coroutines ran, or were due to run, on state the trap rolls back, R7).

// At most Config::wake_ups_max_per_message wake-ups are posted in one message execution; one
// more traps the execution (R7: a runaway ping-pong between coroutines ends, and is rolled back).

// Identifies a posted wake-up, to withdraw it.
struct ReadyTicket {
  CanisterRt* rt = nullptr;
  uint64_t seq = 0;
};
// Runs `w` later in the current message execution, from a clean stack. `cc` is the call context
// whose coroutine `w` resumes (it may differ from the executing one). Requires a message
// execution in progress on this thread.
ReadyTicket post_ready(CallContext& cc, Waiter w) noexcept;
// Withdraws a wake-up that has not run yet (its coroutine frame is going away). No-op if it ran,
// was withdrawn or was discarded already.
void cancel_ready(ReadyTicket t) noexcept;
// The call context whose code runs on this thread: the execution's, or the one a posted wake-up
// belongs to while it runs. nullptr outside message executions.
CallContext* current_context() noexcept;
// Makes the message execution running on this thread trap (R7) with `message` once control is
// back in the runtime, unless it traps already. For code that cannot throw (destructors). No-op
// outside a message execution.
void trap_later(std::string_view message) noexcept;

}  // namespace detail
}  // namespace canopy
