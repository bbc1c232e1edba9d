// canopy/call.hpp — Call<R>: one inter-canister call, awaitable for its Result<R>.
//
// Created by ctx.call<R>(...). The request is issued at once: either it fails synchronously
// (then awaiting yields the reject immediately and no callback ever runs, R1) or it is accepted
// and exactly one response will come (R1). `co_await call` yields Result<R>; a malformed reply
// throws MalformedPayload (a trap unless caught). A Call dropped before its response arrived
// abandons it: the response is still delivered to the canister (R1) but discarded without running
// user code (R18). Move-only; used only on its canister's thread.
#pragma once

#include <coroutine>
#include <memory>
#include <utility>
#include <vector>

#include "canopy/assert.hpp"
#include "canopy/detail/hooks.hpp"

namespace canopy {

template <class R = void>
class [[nodiscard]] Call {
 public:
  // The hot members are always inlined into the awaiting coroutine (measured 2026-12-06: left
  // to GCC's heuristics, take/~Call/the constructor stayed out-of-line calls, ~75 instructions
  // per round trip of `canopy bench calls`).
  [[gnu::always_inline]] Call(detail::CanisterRt* rt, detail::IssueResult issued)
      : rt_(rt), ref_(issued.ref), error_(std::move(issued.error)) {}
  Call(Call&& o) noexcept
      : rt_(std::exchange(o.rt_, nullptr)),
        ref_(o.ref_),
        refund_(o.refund_),
        error_(std::move(o.error_)) {}
  Call& operator=(Call&& o) noexcept {
    if (this != &o) {
      drop();
      rt_ = std::exchange(o.rt_, nullptr);
      ref_ = o.ref_;
      error_ = std::move(o.error_);
      refund_ = o.refund_;
    }
    return *this;
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  [[gnu::always_inline]] ~Call() { drop(); }

  // True when the call failed synchronously (R1): no response will come.
  bool failed_synchronously() const { return error_ != nullptr; }
  // True when awaiting would not suspend.
  bool ready() const { return error_ || (rt_ && detail::slot_ready(rt_, ref_)); }
  // Cycles refunded with the response (R8); valid after the result was taken.
  uint64_t refunded_cycles() const { return refund_; }

  // A failed call never suspends; otherwise one visit to the slot registers the coroutine, or
  // resumes it at once if the response is already there.
  bool await_ready() const noexcept { return error_ != nullptr || rt_ == nullptr; }
  [[gnu::always_inline]] bool await_suspend(std::coroutine_handle<> h) noexcept {
    return detail::slot_wait_if_pending(rt_, ref_, detail::Waiter{&resume_handle, h.address(), 0});
  }
  [[gnu::always_inline]] Result<R> await_resume() { return take(); }

  // For combinators: register a waiter instead of a coroutine.
  void on_ready(detail::Waiter w) noexcept { detail::slot_wait(rt_, ref_, w); }
  // For combinators: registers `w` and returns true if the call is still pending; returns false
  // (nothing registered) if it is ready, i.e. failed synchronously or answered.
  bool wait_if_pending(detail::Waiter w) noexcept {
    return !error_ && rt_ != nullptr && detail::slot_wait_if_pending(rt_, ref_, w);
  }
  // Takes the result; the call must be ready. Consumes the call.
  [[gnu::always_inline]] Result<R> take() {
    if (error_) return tl::unexpected<Reject>(*error_);
    CANOPY_ASSERT(rt_ != nullptr, "Call already consumed");
    Result<detail::Payload> raw = detail::slot_take(std::exchange(rt_, nullptr), ref_, &refund_);
    if (!raw) return tl::unexpected<Reject>(std::move(raw.error()));
    if constexpr (std::is_void_v<R>) {
      detail::decode_payload<void>(*raw);
      raw->recycle();
      return {};
    } else {
      Result<R> value = detail::decode_payload<R>(*raw);
      raw->recycle();
      return value;
    }
  }

 private:
  static void resume_handle(void* addr, uint64_t) noexcept {
    std::coroutine_handle<>::from_address(addr).resume();
  }
  [[gnu::always_inline]] void drop() noexcept {
    if (rt_ != nullptr && !error_) detail::slot_abandon(rt_, ref_);
    rt_ = nullptr;
  }

  detail::CanisterRt* rt_ = nullptr;
  detail::SlotRef ref_{};
  uint64_t refund_ = 0;
  std::unique_ptr<Reject> error_;
};

// Awaits every call; yields each outcome in order. Never fails itself. O(1) per response: one
// counter, no coroutine per arm. (More combinators: canopy/flow.hpp.)
template <class R>
class WhenAllSettledCalls {
 public:
  explicit WhenAllSettledCalls(std::vector<Call<R>> calls) : calls_(std::move(calls)) {}
  bool await_ready() noexcept { return calls_.empty(); }
  // One pass: registers a waiter on each pending call; resumes at once if none is pending.
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    parent_ = h;
    for (auto& c : calls_)
      if (c.wait_if_pending(detail::Waiter{&arm_done, this, 0})) ++pending_;
    return pending_ > 0;
  }
  std::vector<Result<R>> await_resume() {
    std::vector<Result<R>> out;
    out.reserve(calls_.size());
    for (auto& c : calls_)
      out.push_back(c.take());
    return out;
  }

 private:
  static void arm_done(void* self, uint64_t) noexcept {
    auto* me = static_cast<WhenAllSettledCalls*>(self);
    if (--me->pending_ == 0) me->parent_.resume();
  }
  std::vector<Call<R>> calls_;
  size_t pending_ = 0;
  std::coroutine_handle<> parent_{};
};

template <class R>
WhenAllSettledCalls<R> when_all_settled(std::vector<Call<R>> calls) {
  return WhenAllSettledCalls<R>(std::move(calls));
}

}  // namespace canopy
