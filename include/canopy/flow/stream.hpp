// canopy/flow/stream.hpp — Stream<T>: Aqua's stream (`results: *string`), R18.
//
// An append-only sequence that parallel arms write and a join reads:
//
//   Stream<std::string> acks(peers.size());        // bounded: at most that many elements
//   ... arms:   co_await acks.push(ack);          // Aqua: acks <<- ack
//   ... join:   auto first = co_await acks.at(0); // Aqua: acks!0 — waits for the fastest
//               co_await acks.size_at_least(10);  // Aqua: join acks!10 (here: ten elements)
//
// `at(n)` (0-based) and `size_at_least(k)` suspend until the stream holds enough elements: a
// missing value suspends the branch rather than failing it (as in AquaVM). They fail — instead of
// hanging — once the stream is closed without enough elements (CANISTER_ERROR "stream closed");
// asking for more than the bound can ever hold is a Trap at once. Waiters are woken in the order
// of the element count they wait for, then in the order they started waiting (deterministic,
// R20). Elements are never removed; references returned by operator[] stay valid (deque).
//
// Waking: a push (or close) that satisfies waiters posts them to the canister's ready queue: they
// run after the code that pushed has returned to the runtime (it finished, or suspended), from a
// clean stack, in FIFO order — never on the pusher's stack. So any pusher may be cancelled by
// what it woke (e.g. the join of traverse_peers cancelling the remaining arms): plain
// `s.push(x);` is safe anywhere — a method body, a timer, an arm of a race. `co_await s.push(x)`
// also suspends the pusher until the coroutines it woke have run (it resumes after them), which
// keeps "the readers see x before the writer goes on" explicit. push beyond the bound, or after
// close(), is a Trap.
//
// Ownership and threads: a Stream lives in a coroutine frame (usually the method's root task)
// and is shared by reference; it is not canister state (not copyable, not serializable). Its
// waiters may belong to other call contexts of the same canister (e.g. a method awaits a Stream
// that a later method pushes to): the runtime checks the root of every context a wake-up ran in,
// so a method whose root finishes that way replies to its caller in that same execution. If the
// execution that woke it traps, the woken context traps too (R7). A woken wait's outcome (the
// element, the size, or the "closed" failure) is fixed when it is woken, so the woken coroutine
// may run after the Stream is gone. A Stream must outlive its suspended waiters, or they are
// detached and never woken. Used on its canister's thread only.
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "canopy/flow/arms.hpp"

namespace canopy {

// The default bound of a Stream, in elements (DESIGN §4: every queue is bounded).
inline constexpr size_t stream_elements_max_default = 1'000'000;

template <class T>
class Stream {
  struct WaitBase;

 public:
  using value_type = T;

  explicit Stream(size_t elements_max = stream_elements_max_default) : max_(elements_max) {
    if (elements_max == 0) throw Trap("R18: a Stream needs a bound of at least one element");
  }
  ~Stream() {
    for (auto& [need, w] : waiters_) {
      w->stream = nullptr;  // detached: never woken
      w->registered = false;
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool closed() const noexcept { return closed_; }
  size_t elements_max() const noexcept { return max_; }
  size_t waiters() const noexcept { return waiters_.size(); }
  const T& operator[](size_t i) const {
    CANOPY_ASSERT(i < items_.size(), "Stream index out of range");
    return items_[i];
  }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }
  std::vector<T> snapshot() const { return std::vector<T>(items_.begin(), items_.end()); }

  // Returned by push(): `co_await` it (the pusher resumes after the coroutines it woke have
  // run) or discard it (they run once the pusher's code has returned to the runtime).
  class PushAwaiter {
   public:
    explicit PushAwaiter(bool woke) noexcept : woke_(woke) {}
    PushAwaiter(const PushAwaiter&) = delete;
    PushAwaiter& operator=(const PushAwaiter&) = delete;
    ~PushAwaiter() { node_.withdraw(); }
    bool await_ready() const noexcept { return !woke_; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node_.arm(h);
      node_.post();  // after the woken: resumed once they have run
    }
    void await_resume() noexcept {}

   private:
    bool woke_;
    detail::flow::ReadyNode node_;
  };

  PushAwaiter push(T value) {
    if (closed_) throw Trap("R18: push on a closed Stream");
    if (items_.size() >= max_) {
      throw Trap("R18: Stream bound of " + std::to_string(max_) + " elements exceeded");
    }
    items_.push_back(std::move(value));
    return PushAwaiter(wake());
  }

  // No more elements: waiters that can no longer be satisfied fail. Idempotent.
  void close() {
    if (closed_) return;
    closed_ = true;
    wake();
  }

  // Awaitable: Result<T> — a copy of element n (0-based) once it exists.
  class AtAwaiter;
  AtAwaiter at(size_t n) {
    if (n >= max_) {
      throw Trap("R18: Stream::at(" + std::to_string(n) +
                 ") can never be satisfied: the stream "
                 "holds at most " +
                 std::to_string(max_) + " elements");
    }
    return AtAwaiter(this, n);
  }
  // Awaitable: Result<size_t> — the size, once it is at least k.
  class SizeAwaiter;
  SizeAwaiter size_at_least(size_t k) {
    if (k > max_) {
      throw Trap("R18: Stream::size_at_least(" + std::to_string(k) +
                 ") can never be satisfied: "
                 "the stream holds at most " +
                 std::to_string(max_) + " elements");
    }
    return SizeAwaiter(this, k);
  }

 private:
  // A wait's outcome is fixed when it is woken (settle), while the Stream is surely alive: the
  // woken coroutine runs later, from the ready queue, and the Stream may be gone by then (e.g.
  // another woken coroutine owned it and finished first).
  struct WaitBase {
    WaitBase(Stream* s, size_t n, bool wants_item) noexcept
        : stream(s), need(n), want_item(wants_item) {}
    WaitBase(WaitBase&& o) noexcept : stream(o.stream), need(o.need), want_item(o.want_item) {
      CANOPY_ASSERT(!o.registered && !o.node.queued, "moving a Stream wait that is suspended");
    }
    WaitBase& operator=(WaitBase&&) = delete;
    ~WaitBase() {
      if (registered && stream != nullptr) stream->waiters_.erase(it);
      node.withdraw();
    }
    bool await_ready() const noexcept {
      return stream == nullptr || stream->items_.size() >= need || stream->closed_;
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node.arm(h);
      it = stream->waiters_.emplace(need, this);
      registered = true;
    }
    Result<void> check() const {
      if (stream == nullptr) return make_reject(RejectCode::canister_error, "Stream destroyed");
      if (stream->items_.size() >= need) return {};
      return make_reject(RejectCode::canister_error,
                         "stream closed with " + std::to_string(stream->items_.size()) +
                             " elements; waited for " + std::to_string(need) + " (R18)");
    }
    // Fixes the outcome: the status, the size and (for at()) a copy of the element.
    void settle() {
      status = check();
      if (status) {
        size_seen = stream->items_.size();
        if (want_item) item.emplace(stream->items_[need - 1]);
      }
      settled = true;
    }
    Result<void> outcome() {
      if (!settled) settle();  // not suspended: the Stream is alive
      return status;
    }

    Stream* stream;
    size_t need;
    bool want_item;
    detail::flow::ReadyNode node;
    typename std::multimap<size_t, WaitBase*>::iterator it{};
    bool registered = false;
    bool settled = false;
    Result<void> status;
    size_t size_seen = 0;
    std::optional<T> item;
  };

 public:
  class AtAwaiter : private WaitBase {
   public:
    AtAwaiter(Stream* s, size_t n) noexcept : WaitBase(s, n + 1, true) {}
    using WaitBase::await_ready;
    using WaitBase::await_suspend;
    Result<T> await_resume() {
      Result<void> ok = this->outcome();
      if (!ok) return tl::unexpected<Reject>(ok.error());
      return std::move(*this->item);
    }
  };
  class SizeAwaiter : private WaitBase {
   public:
    SizeAwaiter(Stream* s, size_t k) noexcept : WaitBase(s, k, false) {}
    using WaitBase::await_ready;
    using WaitBase::await_suspend;
    // The size when the wait was satisfied (at least k).
    Result<size_t> await_resume() {
      Result<void> ok = this->outcome();
      if (!ok) return tl::unexpected<Reject>(ok.error());
      return this->size_seen;
    }
  };

 private:
  // Settles the satisfied waiters (all of them once closed) and posts them to the ready queue.
  // Bounded by the number of waiters.
  bool wake() {
    bool woke = false;
    while (!waiters_.empty() && (closed_ || waiters_.begin()->first <= items_.size())) {
      WaitBase* w = waiters_.begin()->second;
      w->settle();  // may copy an element (and throw: a trap); then nothing else changed
      waiters_.erase(waiters_.begin());
      w->registered = false;
      w->node.post();
      woke = true;
    }
    return woke;
  }

  std::deque<T> items_;
  std::multimap<size_t, WaitBase*> waiters_;
  size_t max_;
  bool closed_ = false;
};

}  // namespace canopy
