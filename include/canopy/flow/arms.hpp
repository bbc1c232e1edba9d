// canopy/flow/arms.hpp — what the flow combinators are made of: arms, their outcomes, the
// driver coroutine that runs a Task arm, and the wake-up queue. Users need only the first part
// (ArmError, Won, the Arm concept, flow_frame_counters); the rest is `detail`.
//
// An *arm* is anything a combinator can await: a `Call<R>` (R18: registered with a callback on
// its slot, no coroutine frame), a `Task<T>`, or any other awaitable (a Stream wait, another
// combinator, ctx.sleep_ms(...)); the last two run inside one small "driver" coroutine frame per
// arm. An arm's *outcome* is normalised: an arm whose await result is `Result<V>` succeeds with V
// or fails with its Reject; any other arm (await result U) succeeds with U and can only fail by
// throwing. An exception escaping an arm is not an outcome: it is a trap in the making (R7), so
// every combinator settles at once and rethrows it to its awaiter.
//
// Thread-safety: none needed. Everything here runs on the thread that executes the canister,
// inside one message execution at a time. Wake-ups go through the canister's ready queue
// (canopy/detail/hooks.hpp: post_ready), which the runtime drains before the execution ends.
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "canopy/assert.hpp"
#include "canopy/call.hpp"
#include "canopy/canister.hpp"
#include "canopy/reject.hpp"
#include "canopy/task.hpp"

namespace canopy {

// One failed arm: its position among the combinator's arms and its reject (R4).
struct ArmError {
  size_t index = 0;
  Reject reject;
  bool operator==(const ArmError&) const = default;
  std::string to_string() const {
    return "arm " + std::to_string(index) + ": " + reject.to_string();
  }
};

// A successful arm: its position and its value (Unit for void arms).
template <class V>
struct Won {
  size_t index = 0;
  V value{};
};

// Counters of the coroutine frames the flow layer allocates itself (one "driver" per Task arm,
// per awaitable arm and per spawned task). created - destroyed is the number alive; leak tests
// check that it returns to its starting value. Relaxed atomics: canisters may run on different
// threads from one round to the next.
struct FlowFrameCounters {
  uint64_t created = 0;
  uint64_t destroyed = 0;
  int64_t live() const { return static_cast<int64_t>(created) - static_cast<int64_t>(destroyed); }
};

namespace detail::flow {

inline std::atomic<uint64_t> driver_frames_created{0};
inline std::atomic<uint64_t> driver_frames_destroyed{0};

// ------------------------------------------------------------------ type plumbing

template <class A>
concept has_member_co_await = requires(A&& a) {
  static_cast<A&&>(a).operator co_await();
};

template <class A>
struct awaiter_of {
  using type = A;
};
template <has_member_co_await A>
struct awaiter_of<A> {
  using type = decltype(std::declval<A&&>().operator co_await());
};

template <class A>
using await_result_t = decltype(std::declval<typename awaiter_of<A>::type&>().await_resume());

template <class U>
struct result_traits {
  using value = U;
  static constexpr bool is_result = false;
};
template <class V>
struct result_traits<tl::expected<V, Reject>> {
  using value = V;
  static constexpr bool is_result = true;
};

template <class T>
struct is_call : std::false_type {};
template <class R>
struct is_call<Call<R>> : std::true_type {};

// void -> Unit, for containers of values.
template <class V>
using lifted_t = std::conditional_t<std::is_void_v<V>, Unit, V>;

template <class V>
lifted_t<V> lift(Result<V>& r) {
  if constexpr (std::is_void_v<V>) {
    return Unit{};
  } else {
    return std::move(*r);
  }
}

}  // namespace detail::flow

// Anything a combinator accepts as an arm: a Call<R>, a Task<T>, or any awaitable whose awaiter
// is an object with await_ready/await_suspend/await_resume (taken by value: arms are consumed).
template <class A>
concept Arm = std::move_constructible<std::remove_cvref_t<A>> &&
    requires(typename detail::flow::awaiter_of<std::remove_cvref_t<A>>::type& w,
             std::coroutine_handle<> h) {
  { w.await_ready() } -> std::convertible_to<bool>;
  w.await_suspend(h);
  w.await_resume();
};

// The success type of an arm: V for an arm yielding Result<V>, else what it yields.
template <Arm A>
using arm_value_t = typename detail::flow::result_traits<
    std::remove_cvref_t<detail::flow::await_result_t<std::remove_cvref_t<A>>>>::value;

inline FlowFrameCounters flow_frame_counters() noexcept {
  return FlowFrameCounters{detail::flow::driver_frames_created.load(std::memory_order_relaxed),
                           detail::flow::driver_frames_destroyed.load(std::memory_order_relaxed)};
}

namespace detail::flow {

// ------------------------------------------------------------------ wake-ups

// A suspended coroutine waiting to be woken (by a Stream push/close, or Scope::cancel for its
// joiner). Lives inside an awaiter, so inside the waiting coroutine's frame. Waking posts it to
// the canister's ready queue (detail::post_ready): it is resumed after the code that woke it has
// returned to the runtime, from a clean stack, in FIFO order (R20). Its owner withdraws it on
// destruction, which is what makes it safe to destroy a frame that was woken but not yet resumed.
struct ReadyNode {
  std::coroutine_handle<> handle{};
  CallContext* cc = nullptr;  // the call context whose coroutine `handle` is
  ReadyTicket ticket{};
  bool queued = false;

  // Call at suspension: remembers the coroutine and the call context it runs in.
  void arm(std::coroutine_handle<> h) noexcept {
    handle = h;
    cc = current_context();
    CANOPY_ASSERT(cc != nullptr, "flow: a coroutine suspended outside a message execution");
  }
  // Wakes the coroutine: it will be resumed from the ready queue. Outside a message execution
  // (a frame torn down by an upgrade) there is nothing to run it: the wake-up is dropped.
  void post() noexcept {
    CANOPY_ASSERT(!queued, "flow: a coroutine woken twice");
    CANOPY_ASSERT(handle && cc != nullptr, "flow: waking a coroutine that is not suspended");
    if (current_context() == nullptr) return;
    queued = true;
    ticket = post_ready(*cc, Waiter{&ReadyNode::fire, this, 0});
  }
  // Withdraws a pending wake-up (the frame holding this node is going away).
  void withdraw() noexcept {
    if (!queued) return;
    queued = false;
    cancel_ready(ticket);
  }

 private:
  static void fire(void* self, uint64_t) noexcept {
    auto* n = static_cast<ReadyNode*>(self);
    n->queued = false;
    n->handle.resume();  // may destroy the node's frame: nothing touches `n` afterwards
  }
};

// ------------------------------------------------------------------ driver coroutine

// The frame that runs one Task/awaitable arm (or one spawned task). When the arm finishes, the
// driver suspends at its final point and asks its owner what to resume next (symmetric
// transfer); its owner destroys it. It never runs user code of its own.
struct DriverPromise {
  using DoneFn = std::coroutine_handle<> (*)(void* owner, size_t index) noexcept;
  DoneFn done = nullptr;
  void* owner = nullptr;
  size_t index = 0;

  // The promise lives exactly as long as its frame: counting it counts frames.
  DriverPromise() noexcept { driver_frames_created.fetch_add(1, std::memory_order_relaxed); }
  ~DriverPromise() { driver_frames_destroyed.fetch_add(1, std::memory_order_relaxed); }
  DriverPromise(const DriverPromise&) = delete;
  DriverPromise& operator=(const DriverPromise&) = delete;

  struct Driver get_return_object() noexcept;
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct Final {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<DriverPromise> h) noexcept {
      DriverPromise& p = h.promise();
      return p.done != nullptr ? p.done(p.owner, p.index) : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  Final final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept {
    CANOPY_ASSERT(false, "flow: an exception escaped a driver (drivers catch everything)");
  }
};

using DriverHandle = std::coroutine_handle<DriverPromise>;

struct Driver {
  using promise_type = DriverPromise;
  DriverHandle handle;
};
inline Driver DriverPromise::get_return_object() noexcept {
  return Driver{DriverHandle::from_promise(*this)};
}

// Awaits `arm` and hands its result (or exception) to `sink`.
template <class A, class Sink>
Driver drive(A arm, Sink* sink) {
  using U = await_result_t<A>;
  try {
    if constexpr (std::is_void_v<U>) {
      co_await std::move(arm);
      sink->set_value();
    } else {
      sink->set_value(co_await std::move(arm));
    }
  } catch (...) {
    sink->set_exception(std::current_exception());
  }
}

// ------------------------------------------------------------------ arm holders

enum class Settle : uint8_t { ok, failed, threw };
enum class ArmState : uint8_t { idle, running, done, cancelled };

// What an arm reports to when it settles.
class CoreBase {
 public:
  virtual ~CoreBase() = default;
  // The arm `index` settled (its outcome is stored in its holder). Returns the coroutine to
  // resume next: the combinator's awaiter if this settled the combinator, else noop.
  virtual std::coroutine_handle<> arm_settled(size_t index, Settle how) noexcept = 0;
};

// A Call<R> arm: a callback on the call's slot, no coroutine frame (R18).
template <class R>
class CallArm {
 public:
  using value_type = R;
  explicit CallArm(Call<R>&& c) : call_(std::move(c)) {}
  CallArm(CallArm&& o) noexcept : call_(std::move(o.call_)) {
    CANOPY_ASSERT(o.state_ == ArmState::idle, "flow: moving a started arm");
  }
  CallArm& operator=(CallArm&&) = delete;

  void start(CoreBase* core, size_t index) {
    core_ = core;
    index_ = index;
    state_ = ArmState::running;
    if (call_.ready()) {  // failed synchronously (R1) or already answered
      take();
      (void)core_->arm_settled(index_, how());
      return;
    }
    call_.on_ready(detail::Waiter{&CallArm::fire, this, 0});
  }
  // Losing or unneeded: drop the call. Its response still arrives and is discarded without
  // running user code (R1, R18); the call context stays open until it does.
  void cancel() noexcept {
    if (state_ == ArmState::idle || state_ == ArmState::running) {
      Call<R> dropped(std::move(call_));
      state_ = ArmState::cancelled;
    }
  }
  ArmState state() const noexcept { return state_; }
  Settle how() const noexcept {
    if (exception_) return Settle::threw;
    return result_->has_value() ? Settle::ok : Settle::failed;
  }
  std::exception_ptr exception() const noexcept { return exception_; }
  Result<R>& result() noexcept { return *result_; }
  bool has_result() const noexcept { return result_.has_value(); }

 private:
  static void fire(void* self, uint64_t) noexcept {
    auto* me = static_cast<CallArm*>(self);
    me->take();
    // The resumed awaiter may destroy this holder: nothing touches `me` after this line.
    me->core_->arm_settled(me->index_, me->how()).resume();
  }
  void take() noexcept {
    try {
      result_.emplace(call_.take());
    } catch (...) {  // a reply that does not decode as R (a trap when awaited directly)
      exception_ = std::current_exception();
    }
    state_ = ArmState::done;
  }

  Call<R> call_;
  std::optional<Result<R>> result_;
  std::exception_ptr exception_;
  CoreBase* core_ = nullptr;
  size_t index_ = 0;
  ArmState state_ = ArmState::idle;
};

// A Task or other awaitable arm, run by a driver frame.
template <class A>
class DriverArm {
 public:
  using U = await_result_t<A>;
  using value_type = typename result_traits<std::remove_cvref_t<U>>::value;

  explicit DriverArm(A&& a) : arm_(std::in_place, std::move(a)) {}
  DriverArm(DriverArm&& o) noexcept : arm_(std::move(o.arm_)) {
    CANOPY_ASSERT(o.state_ == ArmState::idle, "flow: moving a started arm");
  }
  DriverArm& operator=(DriverArm&&) = delete;
  ~DriverArm() {
    if (driver_) detail::destroy_frame(driver_);
  }

  void start(CoreBase* core, size_t index) {
    core_ = core;
    index_ = index;
    state_ = ArmState::running;
    driver_ = drive(std::move(*arm_), this).handle;
    arm_.reset();
    DriverPromise& p = driver_.promise();
    p.done = &DriverArm::done;
    p.owner = this;
    p.index = index;
    driver_.resume();
  }
  // Losing or unneeded: a Task arm that has not started is destroyed unstarted; a running one
  // is destroyed at the point where it is suspended (its destructors run; no further statement
  // of it runs; the calls it awaits are dropped: their responses are discarded, R18).
  void cancel() noexcept {
    if (state_ == ArmState::running) {
      detail::destroy_frame(std::exchange(driver_, {}));
      state_ = ArmState::cancelled;
    } else if (state_ == ArmState::idle) {
      arm_.reset();
      state_ = ArmState::cancelled;
    }
  }
  ArmState state() const noexcept { return state_; }
  Settle how() const noexcept {
    if (exception_) return Settle::threw;
    return result_->has_value() ? Settle::ok : Settle::failed;
  }
  std::exception_ptr exception() const noexcept { return exception_; }
  Result<value_type>& result() noexcept { return *result_; }
  bool has_result() const noexcept { return result_.has_value(); }

  // Sink interface for drive().
  void set_value() { result_.emplace(); }
  template <class X>
  void set_value(X&& x) {
    if constexpr (result_traits<std::remove_cvref_t<U>>::is_result) {
      result_.emplace(std::forward<X>(x));
    } else {
      result_.emplace(tl::in_place, std::forward<X>(x));
    }
  }
  void set_exception(std::exception_ptr e) noexcept { exception_ = std::move(e); }

 private:
  static std::coroutine_handle<> done(void* self, size_t) noexcept {
    auto* me = static_cast<DriverArm*>(self);
    me->state_ = ArmState::done;
    return me->core_->arm_settled(me->index_, me->how());
  }

  std::optional<A> arm_;
  DriverHandle driver_{};
  std::optional<Result<value_type>> result_;
  std::exception_ptr exception_;
  CoreBase* core_ = nullptr;
  size_t index_ = 0;
  ArmState state_ = ArmState::idle;
};

template <class A>
struct holder_for {
  using type = DriverArm<A>;
};
template <class R>
struct holder_for<Call<R>> {
  using type = CallArm<R>;
};
template <class A>
using holder_t = typename holder_for<std::remove_cvref_t<A>>::type;

}  // namespace detail::flow
}  // namespace canopy
