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
// Waking: `co_await s.push(x)` appends x, then suspends the pusher while the coroutines it woke
// run (FIFO), then resumes it — so a woken coroutine may cancel the pusher safely (e.g. the join
// of traverse_peers cancelling the remaining arms). Plain `s.push(x);` (from ordinary code: a
// method body, a timer) runs the woken coroutines before it returns; inside a coroutine that can
// be cancelled, prefer the co_await form. push beyond the bound, or after close(), is a Trap.
//
// Ownership and threads: a Stream lives in a coroutine frame (usually the method's root task)
// and is shared by reference with the tasks of that call context; it is not canister state (not
// copyable, not serializable). It must outlive its waiters, or they are detached and never woken.
// Waking a coroutine of another call context is not supported yet (the runtime only notices the
// completion of the executing context's root; see docs/combinators.md).
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <map>
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

  // Returned by push(): `co_await` it (suspends the pusher while the woken run) or discard it
  // (the woken run before the statement ends).
  class PushAwaiter {
   public:
    explicit PushAwaiter(bool woke) noexcept : woke_(woke) {}
    PushAwaiter(const PushAwaiter&) = delete;
    PushAwaiter& operator=(const PushAwaiter&) = delete;
    ~PushAwaiter() {
      auto& q = detail::flow::ReadyQueue::local();
      q.unlink(&node_);
      if (woke_ && !awaited_) q.drain();  // plain push
    }
    bool await_ready() noexcept {
      awaited_ = true;
      // Inside a drain the woken wait their turn: the pusher runs on until it suspends.
      return !woke_ || detail::flow::ReadyQueue::local().draining();
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node_.handle = h;
      auto& q = detail::flow::ReadyQueue::local();
      q.push(&node_);  // after the woken: resumed once they have suspended
      q.drain();       // may destroy this frame; nothing here touches `this` afterwards
    }
    void await_resume() noexcept {}

   private:
    bool woke_;
    bool awaited_ = false;
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
    if (wake()) detail::flow::ReadyQueue::local().drain();
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
  struct WaitBase {
    WaitBase(Stream* s, size_t n) noexcept : stream(s), need(n) {}
    WaitBase(WaitBase&& o) noexcept : stream(o.stream), need(o.need) {
      CANOPY_ASSERT(!o.registered && !o.node.queued, "moving a Stream wait that is suspended");
    }
    WaitBase& operator=(WaitBase&&) = delete;
    ~WaitBase() {
      if (registered && stream != nullptr) stream->waiters_.erase(it);
      detail::flow::ReadyQueue::local().unlink(&node);
    }
    bool await_ready() const noexcept {
      return stream == nullptr || stream->items_.size() >= need || stream->closed_;
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node.handle = h;
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

    Stream* stream;
    size_t need;
    detail::flow::ReadyNode node;
    typename std::multimap<size_t, WaitBase*>::iterator it{};
    bool registered = false;
  };

 public:
  class AtAwaiter : private WaitBase {
   public:
    AtAwaiter(Stream* s, size_t n) noexcept : WaitBase(s, n + 1) {}
    using WaitBase::await_ready;
    using WaitBase::await_suspend;
    Result<T> await_resume() {
      Result<void> ok = this->check();
      if (!ok) return tl::unexpected<Reject>(ok.error());
      return this->stream->items_[this->need - 1];
    }
  };
  class SizeAwaiter : private WaitBase {
   public:
    SizeAwaiter(Stream* s, size_t k) noexcept : WaitBase(s, k) {}
    using WaitBase::await_ready;
    using WaitBase::await_suspend;
    Result<size_t> await_resume() {
      Result<void> ok = this->check();
      if (!ok) return tl::unexpected<Reject>(ok.error());
      return this->stream->items_.size();
    }
  };

 private:
  // Moves the satisfied waiters (all of them once closed) to the ready queue.
  bool wake() {
    bool woke = false;
    auto& q = detail::flow::ReadyQueue::local();
    while (!waiters_.empty() && (closed_ || waiters_.begin()->first <= items_.size())) {
      WaitBase* w = waiters_.begin()->second;
      waiters_.erase(waiters_.begin());
      w->registered = false;
      q.push(&w->node);
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
