// canopy/flow/scope.hpp — Scope (Aqua's `co`) and for_each_par (Aqua's `for x <- xs par`), R18.
//
// Scope: background work with an owner. `scope.spawn(arm)` starts the arm at once (a Task runs
// until its first suspension; a Call is already issued) and returns; the owner continues (Aqua:
// `co foo()`). `co_await scope.join()` resumes when every spawned arm has finished. Results of
// spawned arms are discarded — data flows through explicit variables or a Stream, as in Aqua.
//
//   Scope scope;
//   for (auto peer : peers) scope.spawn(ask(ctx, peer, acks));  // ask() pushes into acks
//   co_await with_timeout(ctx, 1000ms, acks.size_at_least(10));
//   scope.cancel();          // the rest lose: their responses are discarded (R1, R18)
//   co_await scope.join();   // a Scope must be joined (or cancelled) before its owner goes on
//
// No detached work: nothing spawned outlives its Scope. `cancel()` destroys every unfinished arm
// where it is suspended (Task: destructors run, no statement does; Call: dropped, its response
// arrives later and is discarded without running user code; the call context stays open until it
// has arrived). An exception escaping a spawned arm cancels the other arms and is rethrown by
// join() (a trap, R7, unless caught). `cancel()` and `join()` belong to the owner, not to the
// spawned arms.
//
// A Scope must be joined. C++ cannot await in a destructor (no implicit join as in Trio or
// Kotlin), so what a Scope does when it is destroyed depends on why:
// - Its owner is going away — its frame is destroyed while suspended (the method trapped, lost a
//   race, was cancelled; the canister was upgraded or uninstalled), or an exception is unwinding
//   it: the unfinished arms are cancelled, silently. Structured concurrency: the children go
//   with their parent, and there is nobody left to join them.
// - Its owner went on without join() — the Scope goes out of scope normally (the code returned,
//   the block ended) while arms still run, or with an arm's exception that join() never
//   rethrew: that is a bug that would silently lose work (Aqua's `co` has no detached work, and
//   canopy has none either), so the arms are cancelled AND the message execution traps (R7: its
//   state changes and calls are rolled back; the caller gets CANISTER_ERROR "R18: a Scope was
//   destroyed without join() ..."). A Scope whose arms all finished (or were cancelled) with no
//   exception pending may be dropped without join(): nothing is lost.
//
// for_each_par(items, fn, max_in_flight): fan-out with a concurrency cap. fn(item) returns an
// arm (a Call<R>, a Task<T>, ...); at most max_in_flight arms run at once, the next starts when
// one settles. Yields every outcome in item order (std::vector<Result<V>>), like
// when_all_settled; an exception (from fn or an arm) cancels the arms in flight, starts no more
// and is rethrown. Issuing calls from a settled arm's callback keeps a per-pair queue (R2) below
// its capacity: for_each_par(2000 pings, 500) gets 2000 successes where 2000 at once get 500.
//
// Thread-safety: owned by one coroutine; used on its canister's thread.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "canopy/flow/arms.hpp"

namespace canopy {

// The default limit of a Scope, in arms running at once (DESIGN §4: everything is bounded).
inline constexpr size_t scope_tasks_max_default = 1'000'000;

class Scope {
 public:
  explicit Scope(size_t tasks_max = scope_tasks_max_default) : max_(tasks_max) {}
  // See "A Scope must be joined" above.
  ~Scope() {
    const bool owner_went_on =
        detail::frame_teardown_depth == 0 && std::uncaught_exceptions() <= uncaught_at_start_;
    const size_t unfinished = active_.size();
    std::exception_ptr lost = std::exchange(sink_.exception, {});
    cancel_all();
    reap();
    if (owner_went_on && (unfinished != 0 || lost)) {
      std::string why = unfinished != 0
                            ? std::to_string(unfinished) + " spawned arm(s) still running"
                            : "a spawned arm threw: " + what(lost);
      detail::trap_later("R18: a Scope was destroyed without join() (" + why +
                         "); co_await scope.join() (after scope.cancel() to stop the arms) "
                         "before its owner goes on");
    }
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  // Starts `arm` now. Traps if the scope already runs tasks_max arms.
  template <Arm A>
  void spawn(A arm) {
    if (active_.size() >= max_) {
      throw Trap("R18: Scope limit of " + std::to_string(max_) + " running arms reached");
    }
    reap();
    detail::flow::DriverHandle h = detail::flow::drive(std::move(arm), &sink_).handle;
    detail::flow::DriverPromise& p = h.promise();
    p.done = &Scope::task_done;
    p.owner = this;
    p.index = active_.size();
    active_.push_back(h);
    ++spawned_;
    h.resume();
  }

  class JoinAwaiter {
   public:
    explicit JoinAwaiter(Scope* s) noexcept : scope_(s) {}
    JoinAwaiter(const JoinAwaiter&) = delete;
    JoinAwaiter& operator=(const JoinAwaiter&) = delete;
    ~JoinAwaiter() {
      if (scope_->joiner_ == this) scope_->joiner_ = nullptr;
      node_.withdraw();
    }
    bool await_ready() const noexcept { return scope_->active_.empty(); }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      CANOPY_ASSERT(scope_->joiner_ == nullptr, "R18: a Scope joined twice at once");
      node_.arm(h);
      scope_->joiner_ = this;
    }
    void await_resume() {
      scope_->reap();
      if (scope_->sink_.exception)
        std::rethrow_exception(std::exchange(scope_->sink_.exception, {}));
    }

   private:
    friend class Scope;
    Scope* scope_;
    detail::flow::ReadyNode node_;
  };

  // Resumes when no spawned arm is running; rethrows the first exception of a spawned arm.
  JoinAwaiter join() noexcept { return JoinAwaiter(this); }

  // Cancels every unfinished arm (see above); a pending join() then completes (its coroutine
  // is resumed from the ready queue, after the code calling cancel() returned to the runtime).
  void cancel() noexcept {
    cancel_all();
    if (joiner_ != nullptr) std::exchange(joiner_, nullptr)->node_.post();
  }

  size_t active() const noexcept { return active_.size(); }
  uint64_t spawned() const noexcept { return spawned_; }
  uint64_t cancelled() const noexcept { return cancelled_; }

 private:
  struct Sink {
    std::exception_ptr exception;
    bool failed = false;
    void set_value() noexcept {}
    template <class X>
    void set_value(X&&) noexcept {}
    void set_exception(std::exception_ptr e) noexcept {
      failed = true;
      if (!exception) exception = std::move(e);
    }
  };

  void cancel_all() noexcept {
    // Destroying an arm never resumes anything, so active_ cannot change under us.
    for (detail::flow::DriverHandle h : active_)
      detail::destroy_frame(h);
    cancelled_ += active_.size();
    active_.clear();
  }
  void reap() noexcept {
    if (zombie_) detail::destroy_frame(std::exchange(zombie_, {}));
  }
  static std::string what(const std::exception_ptr& e) noexcept {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      return x.what();
    } catch (...) {
      return "unknown exception";
    }
  }
  // A spawned arm finished: its driver is suspended at its final point.
  static std::coroutine_handle<> task_done(void* owner, size_t index) noexcept {
    auto* self = static_cast<Scope*>(owner);
    detail::flow::DriverHandle h = self->active_[index];
    if (index + 1 != self->active_.size()) {
      self->active_[index] = self->active_.back();
      self->active_[index].promise().index = index;
    }
    self->active_.pop_back();
    self->reap();
    self->zombie_ = h;  // destroyed later: it is executing its final suspension right now
    if (self->sink_.failed) {
      self->sink_.failed = false;
      self->cancel_all();  // fail fast: the exception will trap the owner at join()
    }
    if (self->active_.empty() && self->joiner_ != nullptr) {
      return std::exchange(self->joiner_, nullptr)->node_.handle;
    }
    return std::noop_coroutine();
  }

  std::vector<detail::flow::DriverHandle> active_;
  detail::flow::DriverHandle zombie_{};
  JoinAwaiter* joiner_ = nullptr;
  Sink sink_;
  size_t max_;
  uint64_t spawned_ = 0;
  uint64_t cancelled_ = 0;
  int uncaught_at_start_ = std::uncaught_exceptions();
};

namespace detail::flow {

template <class T, class F, class A>
class ForEachPar final : public CoreBase {
  using H = holder_t<A>;

 public:
  using V = typename H::value_type;
  ForEachPar(std::vector<T> items, F fn, size_t cap)
      : items_(std::move(items)), fn_(std::move(fn)), cap_(cap), arms_(items_.size()) {}
  ForEachPar(ForEachPar&& o) noexcept
      : items_(std::move(o.items_)),
        fn_(std::move(o.fn_)),
        cap_(o.cap_),
        arms_(std::move(o.arms_)) {
    CANOPY_ASSERT(!o.started_, "flow: moving a for_each_par that is being awaited");
  }
  ForEachPar& operator=(ForEachPar&&) = delete;
  ~ForEachPar() override = default;

  bool await_ready() noexcept { return items_.empty(); }
  bool await_suspend(std::coroutine_handle<> parent) noexcept {
    parent_ = parent;
    started_ = true;
    pump();
    if (finished()) return false;
    suspended_ = true;
    return true;
  }
  std::vector<Result<V>> await_resume() {
    if (exception_) std::rethrow_exception(exception_);
    std::vector<Result<V>> out;
    out.reserve(arms_.size());
    for (auto& a : arms_)
      out.push_back(std::move(a->result()));
    return out;
  }

  std::coroutine_handle<> arm_settled(size_t index, Settle how) noexcept override {
    --in_flight_;
    ++done_;
    if (how == Settle::threw && !exception_) {
      exception_ = arms_[index]->exception();
      stop();
    }
    if (!pumping_) pump();
    if (pumping_ || !suspended_ || !finished()) return std::noop_coroutine();
    suspended_ = false;
    return parent_;
  }

  size_t max_in_flight_seen() const noexcept { return in_flight_max_; }

 private:
  bool finished() const noexcept { return exception_ ? in_flight_ == 0 : done_ == arms_.size(); }
  void pump() noexcept {
    pumping_ = true;
    while (!exception_ && in_flight_ < cap_ && next_ < arms_.size()) {
      const size_t i = next_++;
      try {
        arms_[i].emplace(std::invoke(fn_, items_[i]));
      } catch (...) {
        exception_ = std::current_exception();
        stop();
        break;
      }
      ++in_flight_;
      if (in_flight_ > in_flight_max_) in_flight_max_ = in_flight_;
      arms_[i]->start(this, i);
    }
    pumping_ = false;
  }
  void stop() noexcept {
    for (auto& a : arms_) {
      if (a && a->state() == ArmState::running) {
        a->cancel();
        --in_flight_;
      }
    }
  }

  std::vector<T> items_;
  F fn_;
  size_t cap_;
  std::vector<std::optional<H>> arms_;
  size_t next_ = 0;
  size_t in_flight_ = 0;
  size_t in_flight_max_ = 0;
  size_t done_ = 0;
  std::exception_ptr exception_;
  std::coroutine_handle<> parent_{};
  bool started_ = false;
  bool pumping_ = false;
  bool suspended_ = false;
};

}  // namespace detail::flow

// See the header comment. max_in_flight = 0 is a Trap.
// clang-format off
template <class T, class F>
  requires std::invocable<F&, const T&> && Arm<std::invoke_result_t<F&, const T&>>
auto for_each_par(std::vector<T> items, F fn, size_t max_in_flight) {
  if (max_in_flight == 0) throw Trap("R18: for_each_par needs max_in_flight >= 1");
  using A = std::remove_cvref_t<std::invoke_result_t<F&, const T&>>;
  return detail::flow::ForEachPar<T, F, A>(std::move(items), std::move(fn), max_in_flight);
}
// clang-format on

}  // namespace canopy
