// canopy/task.hpp — Task<T>: the coroutine type of canister methods and helpers.
//
// A Task is lazy (it starts when awaited, or when the runtime starts it as a method body),
// move-only, [[nodiscard]], and resumes its awaiter by symmetric transfer. An exception that
// escapes a task is stored and rethrown to the awaiter; one that escapes a method's root task is
// a trap (R7). A Task runs on the thread that executes its canister; it is not thread-safe and
// must not be shared between canisters. Destroying a Task that has not finished destroys its
// frame (and, through its locals, abandons its pending calls: their responses are discarded).
//
// Frame accounting: every Task frame is counted when allocated and when freed
// (task_frame_counters(); relaxed atomics, since frames may be created and destroyed on
// different executor threads from one round to the next). Leak tests check that live() returns
// to its starting value.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <utility>

#include "canopy/assert.hpp"

namespace canopy {

template <class T = void>
class Task;

// Return type marker: a method returning NoReply (or Task<NoReply>) replies explicitly with
// ctx.reply()/ctx.reject(); if it ends without doing so, the caller is rejected with
// CANISTER_ERROR "did not reply" once no callbacks are outstanding (R6).
struct NoReply {};

// Task frames allocated and freed so far in this process; live() = created - destroyed.
struct TaskFrameCounters {
  uint64_t created = 0;
  uint64_t destroyed = 0;
  int64_t live() const { return static_cast<int64_t>(created) - static_cast<int64_t>(destroyed); }
};

namespace detail {

inline std::atomic<uint64_t> task_frames_created{0};
inline std::atomic<uint64_t> task_frames_destroyed{0};

// > 0 while a suspended coroutine frame is being destroyed on this thread (a loser cancelled, a
// trapped method's frames dropped): destructors of its locals run without their owner running.
// canopy::Scope uses it to tell "the owner went on without join()" from "the owner is going away".
inline thread_local uint32_t frame_teardown_depth = 0;

// Destroys a coroutine frame, marking the teardown for the destructors that run meanwhile.
inline void destroy_frame(std::coroutine_handle<> h) noexcept {
  ++frame_teardown_depth;
  h.destroy();
  --frame_teardown_depth;
}

struct TaskPromiseBase {
  std::coroutine_handle<> continuation_{};
  std::exception_ptr exception_{};

  // Counts frames (the promise's allocation function allocates the whole coroutine frame).
  // noinline: once inlined, g++ 12 pairs the frame's ::operator new with this class's operator
  // delete and reports a false -Wmismatched-new-delete.
  [[gnu::noinline]] static void* operator new(std::size_t n) {
    void* p = ::operator new(n);
    task_frames_created.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  [[gnu::noinline]] static void operator delete(void* p, std::size_t n) noexcept {
    task_frames_destroyed.fetch_add(1, std::memory_order_relaxed);
    ::operator delete(p, n);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
      auto next = h.promise().continuation_;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }
};

template <class T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value_;
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    value_.emplace(std::forward<U>(v));
  }
  T take() {
    if (exception_) std::rethrow_exception(exception_);
    CANOPY_ASSERT(value_.has_value(), "task finished without a value");
    return std::move(*value_);
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;
  using handle_type = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(handle_type h) noexcept : handle_(h) {}
  Task(Task&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      handle_ = std::exchange(o.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  bool done() const noexcept { return handle_ && handle_.done(); }

  // Awaiting a task starts it and resumes the awaiter when it finishes.
  auto operator co_await() && noexcept { return Awaiter{handle_}; }
  auto operator co_await() & noexcept { return Awaiter{handle_}; }

  // For the runtime: take ownership of the frame.
  handle_type release() noexcept { return std::exchange(handle_, {}); }
  handle_type handle() const noexcept { return handle_; }

 private:
  struct Awaiter {
    handle_type h;
    bool await_ready() const noexcept { return !h || h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
      h.promise().continuation_ = awaiting;
      return h;
    }
    T await_resume() {
      CANOPY_ASSERT(h, "awaiting an empty task");
      return h.promise().take();
    }
  };

  void reset() noexcept {
    if (handle_) detail::destroy_frame(handle_);
    handle_ = {};
  }

  handle_type handle_{};
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

inline TaskFrameCounters task_frame_counters() noexcept {
  return TaskFrameCounters{detail::task_frames_created.load(std::memory_order_relaxed),
                           detail::task_frames_destroyed.load(std::memory_order_relaxed)};
}

}  // namespace canopy
