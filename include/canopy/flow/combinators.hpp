// canopy/flow/combinators.hpp — R18: structured parallel composition, Aqua's `par` and friends.
//
//   co_await when_all(a, b, ...)          all arms succeed          first error wins
//   co_await when_all_settled(a, b, ...)  every outcome             never fails
//   co_await when_any(a, b, ...)          first success             fails only if every arm failed
//   co_await when_n(k, a, b, ...)         first k successes         fails once k is out of reach
//   co_await race(a, b, ...)              first settled arm         its success or its failure
//   co_await with_timeout(ctx, d, a)      a, or a timer after d     timeout = SYS_UNKNOWN
//
// Every combinator also takes a std::vector of arms of one type. Arms are Call<R>, Task<T> or any
// awaitable (canopy/flow/arms.hpp); they are consumed (moved in).
//
// Start: arms are started in index order when the combinator is awaited (Calls were already
// issued when they were created; a Task arm runs until its first suspension). If the combinator
// settles while arms are still being started (an arm that fails synchronously, R1), the
// remaining Task arms are never started and the remaining Calls are dropped.
//
// Losing arms — arms still running when the combinator settles — are cancelled before the
// awaiter resumes: a Call arm is dropped (abandoned): it cannot be cancelled on the wire (R1), so
// its response still arrives and is discarded without running user code, and the call context
// stays open until it has arrived (R6). A Task arm is destroyed where it is suspended: its
// destructors run, none of its statements does, and the calls it awaits are dropped likewise.
// Nothing outlives the co_await: no detached work.
//
// Errors: an arm fails with its Reject (an arm yielding Result<V>); an exception escaping an arm
// is not an outcome but a trap in the making (R7): the combinator settles at once, cancels the
// other arms and rethrows it from co_await. Bad input (when_n with k = 0 or k > n, race or
// when_any of no arms, a timeout that is not positive) throws canopy::Trap: a trap with a clear
// message, never a hang.
//
// Contract (seed 001): parallel arms share no data; results are available after the co_await.
// When arms do talk (one pushes to a Stream another awaits), the woken arm runs from the
// canister's ready queue, after the pusher has suspended or finished — never on its stack — so
// it may settle the combinator and cancel the pusher safely, whether the pusher wrote
// `stream.push(x);` or `co_await stream.push(x);`.
//
// Thread-safety: a combinator is used by one coroutine, on its canister's thread.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "canopy/ctx.hpp"
#include "canopy/flow/arms.hpp"

namespace canopy {

namespace detail::flow {

// ------------------------------------------------------------------ arm stores

template <class H>
class VecStore {
 public:
  using holder = H;
  static constexpr bool is_vector = true;
  VecStore() = default;
  template <class A>
  explicit VecStore(std::vector<A>&& arms) {
    arms_.reserve(arms.size());
    for (auto& a : arms)
      arms_.emplace_back(std::move(a));
  }
  size_t size() const noexcept { return arms_.size(); }
  void start(size_t i, CoreBase* core) { arms_[i].start(core, i); }
  void cancel_pending() noexcept {
    for (auto& a : arms_)
      a.cancel();
  }
  std::exception_ptr exception(size_t i) const noexcept { return arms_[i].exception(); }
  H& at(size_t i) noexcept { return arms_[i]; }

 private:
  std::vector<H> arms_;
};

template <class... H>
class TupStore {
 public:
  static constexpr bool is_vector = false;
  // clang-format off
  template <class... A>
    requires(sizeof...(A) == sizeof...(H))
  explicit TupStore(std::in_place_t, A&&... arms)
      : arms_(H(std::forward<A>(arms))...) {}
  // clang-format on
  static constexpr size_t size() noexcept { return sizeof...(H); }
  void start(size_t i, CoreBase* core) {
    visit(i, [&](auto& h, size_t idx) { h.start(core, idx); });
  }
  void cancel_pending() noexcept {
    std::apply([](auto&... h) { (h.cancel(), ...); }, arms_);
  }
  std::exception_ptr exception(size_t i) noexcept {
    std::exception_ptr e;
    visit(i, [&](auto& h, size_t) { e = h.exception(); });
    return e;
  }
  template <size_t I>
  auto& get() noexcept {
    return std::get<I>(arms_);
  }
  template <class F>
  void visit(size_t i, F&& f) {
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((I == i ? (f(std::get<I>(arms_), I), void()) : void()), ...);
    }
    (std::index_sequence_for<H...>{});
  }
  // Same value type V in every arm: the result of arm i.
  template <class V>
  Result<V>& result(size_t i) noexcept {
    Result<V>* out = nullptr;
    visit(i, [&](auto& h, size_t) { out = &h.result(); });
    return *out;
  }

 private:
  std::tuple<H...> arms_;
};

// ------------------------------------------------------------------ the protocol

// Starts the arms, counts outcomes, settles once Derived::on_settled says so, cancels the rest,
// resumes the awaiter. Derived provides `bool on_settled(size_t i, Settle how)` and
// `await_resume()`.
template <class Derived, class Store>
class Combinator : public CoreBase {
 public:
  explicit Combinator(Store store) : store_(std::move(store)) {}
  Combinator(Combinator&& o) noexcept : store_(std::move(o.store_)) {
    CANOPY_ASSERT(!o.started_, "flow: moving a combinator that is being awaited");
  }
  Combinator& operator=(Combinator&&) = delete;
  ~Combinator() override = default;  // holders cancel what still runs

  bool await_ready() noexcept { return store_.size() == 0; }
  bool await_suspend(std::coroutine_handle<> parent) noexcept {
    parent_ = parent;
    started_ = true;
    starting_ = true;
    for (size_t i = 0; i < store_.size() && !settled_; ++i)
      store_.start(i, this);
    starting_ = false;
    if (settled_) return false;  // settled while starting: continue at once
    suspended_ = true;
    return true;
  }

  std::coroutine_handle<> arm_settled(size_t index, Settle how) noexcept override {
    CANOPY_ASSERT(!settled_, "flow: an arm settled after its combinator");
    ++finished_;
    bool settle = false;
    if (how == Settle::threw) {
      exception_ = store_.exception(index);
      settle = true;
    } else {
      if (how == Settle::ok) {
        ++ok_;
      } else {
        ++failed_;
      }
      settle = static_cast<Derived*>(this)->on_settled(index, how);
    }
    if (!settle) return std::noop_coroutine();
    settled_ = true;
    store_.cancel_pending();
    if (starting_ || !suspended_) return std::noop_coroutine();
    return parent_;
  }

 protected:
  void rethrow_if_exception() {
    if (exception_) std::rethrow_exception(exception_);
  }
  size_t size() const noexcept { return store_.size(); }

  Store store_;
  size_t finished_ = 0;
  size_t ok_ = 0;
  size_t failed_ = 0;
  std::exception_ptr exception_;

 private:
  std::coroutine_handle<> parent_{};
  bool started_ = false;
  bool starting_ = false;
  bool suspended_ = false;
  bool settled_ = false;
};

template <class... A>
using tup_store_t = TupStore<holder_t<A>...>;

template <class... A>
inline constexpr bool same_values_v =
    sizeof...(A) == 0 ||
    (std::is_same_v<arm_value_t<std::tuple_element_t<0, std::tuple<A...>>>, arm_value_t<A>> && ...);

template <class... A>
using common_value_t = arm_value_t<std::tuple_element_t<0, std::tuple<A...>>>;

[[noreturn]] inline void bad_input(const std::string& what) {
  throw Trap("R18: " + what);
}

// ------------------------------------------------------------------ when_all

template <class Store, class Out>
class WhenAll : public Combinator<WhenAll<Store, Out>, Store> {
  using Base = Combinator<WhenAll<Store, Out>, Store>;

 public:
  using Base::Base;
  bool on_settled(size_t index, Settle how) noexcept {
    if (how == Settle::failed) {
      first_failure_ = index;
      return true;
    }
    return this->finished_ == this->size();
  }
  tl::expected<Out, ArmError> await_resume() {
    this->rethrow_if_exception();
    if (first_failure_) {
      size_t i = *first_failure_;
      Reject r;
      if constexpr (Store::is_vector) {
        r = this->store_.at(i).result().error();
      } else {
        this->store_.visit(i, [&](auto& h, size_t) { r = h.result().error(); });
      }
      return tl::unexpected<ArmError>(ArmError{i, std::move(r)});
    }
    return collect();
  }

 private:
  Out collect() {
    if constexpr (Store::is_vector) {
      Out out;
      out.reserve(this->size());
      for (size_t i = 0; i < this->size(); ++i)
        out.push_back(lift(this->store_.at(i).result()));
      return out;
    } else {
      return [&]<size_t... I>(std::index_sequence<I...>) {
        return Out{lift(this->store_.template get<I>().result())...};
      }
      (std::make_index_sequence<std::tuple_size_v<Out>>{});
    }
  }
  std::optional<size_t> first_failure_;
};

// ------------------------------------------------------------------ when_all_settled

template <class Store, class Out>
class WhenAllSettled : public Combinator<WhenAllSettled<Store, Out>, Store> {
  using Base = Combinator<WhenAllSettled<Store, Out>, Store>;

 public:
  using Base::Base;
  bool on_settled(size_t, Settle) noexcept { return this->finished_ == this->size(); }
  Out await_resume() {
    this->rethrow_if_exception();
    if constexpr (Store::is_vector) {
      Out out;
      out.reserve(this->size());
      for (size_t i = 0; i < this->size(); ++i)
        out.push_back(std::move(this->store_.at(i).result()));
      return out;
    } else {
      return [&]<size_t... I>(std::index_sequence<I...>) {
        return Out{std::move(this->store_.template get<I>().result())...};
      }
      (std::make_index_sequence<std::tuple_size_v<Out>>{});
    }
  }
};

// ------------------------------------------------------------------ when_any / when_n / race

// Value access by dynamic index for stores whose arms share one value type.
template <class V, class Store>
Result<V>& result_at(Store& store, size_t i) {
  if constexpr (Store::is_vector) {
    return store.at(i).result();
  } else {
    return store.template result<V>(i);
  }
}
template <class V, class Store>
std::vector<ArmError> failures(Store& store, size_t n) {
  std::vector<ArmError> out;
  for (size_t i = 0; i < n; ++i) {
    bool failed = false;
    Reject r;
    auto check = [&](auto& h) {
      if (h.state() == ArmState::done && h.has_result() && !h.result().has_value()) {
        failed = true;
        r = h.result().error();
      }
    };
    if constexpr (Store::is_vector) {
      check(store.at(i));
    } else {
      store.visit(i, [&](auto& h, size_t) { check(h); });
    }
    if (failed) out.push_back(ArmError{i, std::move(r)});
  }
  return out;
}

template <class Store, class V>
class WhenN : public Combinator<WhenN<Store, V>, Store> {
  using Base = Combinator<WhenN<Store, V>, Store>;

 public:
  WhenN(Store store, size_t k) : Base(std::move(store)), k_(k) { winners_.reserve(k); }
  bool on_settled(size_t index, Settle how) noexcept {
    if (how == Settle::ok) {
      winners_.push_back(index);
      return winners_.size() == k_;
    }
    return this->failed_ > this->size() - k_;  // k successes are out of reach
  }
  tl::expected<std::vector<Won<lifted_t<V>>>, std::vector<ArmError>> await_resume() {
    this->rethrow_if_exception();
    if (winners_.size() < k_) {
      return tl::unexpected<std::vector<ArmError>>(failures<V>(this->store_, this->size()));
    }
    std::vector<Won<lifted_t<V>>> out;
    out.reserve(k_);
    for (size_t i : winners_)
      out.push_back(Won<lifted_t<V>>{i, lift(result_at<V>(this->store_, i))});
    return out;
  }

 private:
  size_t k_;
  std::vector<size_t> winners_;
};

template <class Store, class V>
class WhenAny : public Combinator<WhenAny<Store, V>, Store> {
  using Base = Combinator<WhenAny<Store, V>, Store>;

 public:
  using Base::Base;
  bool on_settled(size_t index, Settle how) noexcept {
    if (how == Settle::ok) {
      winner_ = index;
      return true;
    }
    return this->failed_ == this->size();
  }
  tl::expected<Won<lifted_t<V>>, std::vector<ArmError>> await_resume() {
    this->rethrow_if_exception();
    if (!winner_) {
      return tl::unexpected<std::vector<ArmError>>(failures<V>(this->store_, this->size()));
    }
    return Won<lifted_t<V>>{*winner_, lift(result_at<V>(this->store_, *winner_))};
  }

 private:
  std::optional<size_t> winner_;
};

template <class Store, class V>
class Race : public Combinator<Race<Store, V>, Store> {
  using Base = Combinator<Race<Store, V>, Store>;

 public:
  using Base::Base;
  bool on_settled(size_t index, Settle) noexcept {
    first_ = index;
    return true;
  }
  tl::expected<Won<lifted_t<V>>, ArmError> await_resume() {
    this->rethrow_if_exception();
    Result<V>& r = result_at<V>(this->store_, first_);
    if (!r) return tl::unexpected<ArmError>(ArmError{first_, r.error()});
    return Won<lifted_t<V>>{first_, lift(r)};
  }

 private:
  size_t first_ = 0;
};

// ------------------------------------------------------------------ with_timeout

template <class H>
class WithTimeout : public Combinator<WithTimeout<H>, TupStore<H, CallArm<void>>> {
  using Store = TupStore<H, CallArm<void>>;
  using Base = Combinator<WithTimeout<H>, Store>;

 public:
  using V = typename H::value_type;
  WithTimeout(Store store, int64_t timeout_ms) : Base(std::move(store)), timeout_ms_(timeout_ms) {}
  bool on_settled(size_t index, Settle) noexcept {
    first_ = index;
    return true;
  }
  Result<V> await_resume() {
    this->rethrow_if_exception();
    if (first_ == 0) return std::move(this->store_.template get<0>().result());
    Result<void>& timer = this->store_.template get<1>().result();
    if (!timer) return tl::unexpected<Reject>(timer.error());  // the timer could not be set
    return make_reject(RejectCode::sys_unknown,
                       "with_timeout: no outcome within " + std::to_string(timeout_ms_) +
                           " ms of virtual time; the outcome is unknown (R18, R10)");
  }

 private:
  int64_t timeout_ms_;
  size_t first_ = 0;
};

}  // namespace detail::flow

// ====================================================================== public API
// (clang-format 14 cannot lay out requires-clauses)
// clang-format off

// when_all — Aqua: `x <- foo()  par  y <- bar()` followed by a use of both (a join).
// Yields every value (Unit for void arms) in arm order, or the first failure to happen (in time)
// as ArmError; the other arms are cancelled at that moment. An empty vector yields an empty one.
template <Arm... A>
  requires(sizeof...(A) > 0)
auto when_all(A... arms) {
  using Store = detail::flow::tup_store_t<A...>;
  using Out = std::tuple<detail::flow::lifted_t<arm_value_t<A>>...>;
  return detail::flow::WhenAll<Store, Out>(Store(std::in_place, std::move(arms)...));
}
template <Arm A>
auto when_all(std::vector<A> arms) {
  using Store = detail::flow::VecStore<detail::flow::holder_t<A>>;
  using Out = std::vector<detail::flow::lifted_t<arm_value_t<A>>>;
  return detail::flow::WhenAll<Store, Out>(Store(std::move(arms)));
}

// when_all_settled — every outcome, in arm order; never fails (exceptions still propagate).
// (For a vector of Calls, call.hpp's overload is chosen: same contract, no frame at all.)
template <Arm... A>
  requires(sizeof...(A) > 0)
auto when_all_settled(A... arms) {
  using Store = detail::flow::tup_store_t<A...>;
  using Out = std::tuple<Result<arm_value_t<A>>...>;
  return detail::flow::WhenAllSettled<Store, Out>(Store(std::in_place, std::move(arms)...));
}
template <Arm A>
  requires(!detail::flow::is_call<A>::value)
auto when_all_settled(std::vector<A> arms) {
  using Store = detail::flow::VecStore<detail::flow::holder_t<A>>;
  using Out = std::vector<Result<arm_value_t<A>>>;
  return detail::flow::WhenAllSettled<Store, Out>(Store(std::move(arms)));
}

// when_any — Aqua's `par`: continues as soon as any arm succeeds (Won{index, value}); fails only
// when every arm failed, with all their errors in arm order. Arms share one value type.
template <Arm... A>
  requires(sizeof...(A) > 0 && detail::flow::same_values_v<A...>)
auto when_any(A... arms) {
  using Store = detail::flow::tup_store_t<A...>;
  return detail::flow::WhenAny<Store, detail::flow::common_value_t<A...>>(
      Store(std::in_place, std::move(arms)...));
}
template <Arm A>
auto when_any(std::vector<A> arms) {
  if (arms.empty()) detail::flow::bad_input("when_any needs at least one arm");
  using Store = detail::flow::VecStore<detail::flow::holder_t<A>>;
  return detail::flow::WhenAny<Store, arm_value_t<A>>(Store(std::move(arms)));
}

// when_n — Aqua's `join acks!k`: the first k successes, in the order they happened. Fails as
// soon as k can no longer be reached (more than n - k failures), with the failures so far in arm
// order. 1 <= k <= n, else a Trap.
template <Arm... A>
  requires(sizeof...(A) > 0 && detail::flow::same_values_v<A...>)
auto when_n(size_t k, A... arms) {
  if (k == 0 || k > sizeof...(A)) {
    detail::flow::bad_input("when_n(k = " + std::to_string(k) + ") needs 1 <= k <= " +
                            std::to_string(sizeof...(A)) + " (the number of arms)");
  }
  using Store = detail::flow::tup_store_t<A...>;
  return detail::flow::WhenN<Store, detail::flow::common_value_t<A...>>(
      Store(std::in_place, std::move(arms)...), k);
}
template <Arm A>
auto when_n(size_t k, std::vector<A> arms) {
  if (k == 0 || k > arms.size()) {
    detail::flow::bad_input("when_n(k = " + std::to_string(k) + ") needs 1 <= k <= " +
                            std::to_string(arms.size()) + " (the number of arms)");
  }
  using Store = detail::flow::VecStore<detail::flow::holder_t<A>>;
  return detail::flow::WhenN<Store, arm_value_t<A>>(Store(std::move(arms)), k);
}

// race — the first arm to settle wins, whether it succeeded (Won) or failed (ArmError).
// Aqua: `results!0` over arms that each write `results`.
template <Arm... A>
  requires(sizeof...(A) > 0 && detail::flow::same_values_v<A...>)
auto race(A... arms) {
  using Store = detail::flow::tup_store_t<A...>;
  return detail::flow::Race<Store, detail::flow::common_value_t<A...>>(
      Store(std::in_place, std::move(arms)...));
}
template <Arm A>
auto race(std::vector<A> arms) {
  if (arms.empty()) detail::flow::bad_input("race needs at least one arm");
  using Store = detail::flow::VecStore<detail::flow::holder_t<A>>;
  return detail::flow::Race<Store, arm_value_t<A>>(Store(std::move(arms)));
}

// with_timeout — Aqua's `x <- foo()  par  Peer.timeout(d)`: races `arm` against a virtual-time
// timer (ctx.sleep_ms, R15/R19). Yields the arm's Result<V>, or, if the timer fires first,
// SYS_UNKNOWN: like an expired bounded-wait call (R10), the system stopped waiting and the
// outcome is unknown. The loser is cancelled (a Call's response is discarded; a timer that lost
// is released at once, so `with_timeout(ctx, 5min, call)` that succeeds after 1 s leaves nothing
// open for the remaining 5 minutes). If the timer cannot be set (callback quota) it
// yields that SYS_TRANSIENT. The timeout must be positive: 0 or negative is a Trap.
template <Arm A>
auto with_timeout(Ctx& ctx, std::chrono::milliseconds timeout, A arm) {
  if (timeout.count() <= 0) {
    detail::flow::bad_input("with_timeout needs a positive timeout, got " +
                            std::to_string(timeout.count()) + " ms");
  }
  using H = detail::flow::holder_t<A>;
  using Store = detail::flow::TupStore<H, detail::flow::CallArm<void>>;
  return detail::flow::WithTimeout<H>(
      Store(std::in_place, std::move(arm), ctx.sleep(timeout)),
      timeout.count());
}
template <Arm A>
auto with_timeout(Ctx& ctx, int64_t timeout_ms, A arm) {
  return with_timeout(ctx, std::chrono::milliseconds(timeout_ms), std::move(arm));
}

// clang-format on
}  // namespace canopy
