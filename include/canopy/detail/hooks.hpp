// canopy/detail/hooks.hpp — the narrow, non-template boundary between the public templates
// (Ctx, Call<R>) and the execution layer in src/exec. Not for users.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "canopy/codec.hpp"
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
  std::optional<Reject> error;  // set: synchronous failure, no callback will ever run (R1)
};

IssueResult issue_call(CallContext& cc, CanisterId to, std::string_view method, Bytes&& payload,
                       const CallOptions& options);
bool slot_ready(CanisterRt* rt, SlotRef ref) noexcept;
void slot_wait(CanisterRt* rt, SlotRef ref, Waiter waiter) noexcept;
// Takes the response out of a ready slot and frees the slot.
Result<Bytes> slot_take(CanisterRt* rt, SlotRef ref, uint64_t* refund);
// The awaiter lost interest: the response will be discarded without running user code.
void slot_abandon(CanisterRt* rt, SlotRef ref) noexcept;

}  // namespace detail
}  // namespace canopy
