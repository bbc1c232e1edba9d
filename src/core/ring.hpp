// A FIFO ring buffer for the runtime's hot queues (input/output queues, ready lists).
//
// Why not std::deque: libstdc++'s deque allocates a 512-byte block plus a block map as soon as
// it is constructed, and holds only 3 messages per block. A canister has several queues per
// peer, so with thousands of canisters the queues alone overflow the caches (measured: the
// `bench calls` round trip got ~2x slower going from 10 to 1000 canister pairs). Ring starts
// with no allocation, grows by doubling (power-of-two capacity, index masking), never shrinks
// below what it held, and keeps elements contiguous modulo wrap-around.
//
// Contract: single-threaded (its owner's thread); push_back/pop_front/pop_back amortised O(1);
// front(), back(), pop_front() and pop_back() require !empty() (asserted); growth beyond
// `max_capacity` (2^31 elements) is an assertion failure — callers bound their queues far below it
// (Config::queue_capacity etc.). Elements must be nothrow-move-constructible (a move during growth
// cannot fail half-way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "canopy/assert.hpp"

namespace canopy::detail {

template <class T>
class Ring {
  static_assert(std::is_nothrow_move_constructible_v<T>, "Ring moves elements when it grows");

 public:
  static constexpr size_t max_capacity = size_t{1} << 31;

  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        cap_(std::exchange(o.cap_, 0)),
        head_(std::exchange(o.head_, 0)),
        size_(std::exchange(o.size_, 0)) {}
  Ring& operator=(Ring&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      cap_ = std::exchange(o.cap_, 0);
      head_ = std::exchange(o.head_, 0);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~Ring() { release(); }
  // Exchanges the contents of two rings (four words; no element moves).
  void swap(Ring& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(cap_, o.cap_);
    std::swap(head_, o.head_);
    std::swap(size_, o.size_);
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }

  T& front() {
    CANOPY_ASSERT(size_ > 0, "Ring::front on an empty ring");
    return data_[head_];
  }
  const T& front() const {
    CANOPY_ASSERT(size_ > 0, "Ring::front on an empty ring");
    return data_[head_];
  }
  T& back() {
    CANOPY_ASSERT(size_ > 0, "Ring::back on an empty ring");
    return data_[(head_ + size_ - 1) & (cap_ - 1)];
  }
  // i-th element from the front (0 = front).
  T& operator[](size_t i) {
    CANOPY_ASSERT(i < size_, "Ring index out of range");
    return data_[(head_ + i) & (cap_ - 1)];
  }
  const T& operator[](size_t i) const {
    CANOPY_ASSERT(i < size_, "Ring index out of range");
    return data_[(head_ + i) & (cap_ - 1)];
  }

  template <class... Args>
  [[gnu::always_inline]] T& emplace_back(Args&&... args) {
    if (size_ == cap_) [[unlikely]]
      grow();
    T* p = data_ + ((head_ + size_) & (cap_ - 1));
    std::construct_at(p, std::forward<Args>(args)...);
    ++size_;
    return *p;
  }
  [[gnu::always_inline]] void push_back(T&& v) { emplace_back(std::move(v)); }
  [[gnu::always_inline]] void push_back(const T& v) { emplace_back(v); }

  void pop_front() {
    CANOPY_ASSERT(size_ > 0, "Ring::pop_front on an empty ring");
    std::destroy_at(data_ + head_);
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
  }

  // Removes the front element from the ring without destroying it: the caller then owns the
  // object in place and must destroy it (std::destroy_at) before the next emplace_back/push_back,
  // which may reuse its storage. Lets a consumer use the element where it lies.
  T* detach_front() {
    CANOPY_ASSERT(size_ > 0, "Ring::detach_front on an empty ring");
    T* p = data_ + head_;
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    return p;
  }

  void pop_back() {
    CANOPY_ASSERT(size_ > 0, "Ring::pop_back on an empty ring");
    std::destroy_at(data_ + ((head_ + size_ - 1) & (cap_ - 1)));
    --size_;
  }

  void clear() {
    while (size_ > 0)
      pop_front();
    head_ = 0;
  }

 private:
  [[gnu::noinline]] void grow() {
    const size_t cap = cap_ == 0 ? 2 : cap_ * 2;
    CANOPY_ASSERT(cap <= max_capacity, "Ring grew beyond max_capacity");
    T* fresh = std::allocator<T>{}.allocate(cap);
    for (size_t i = 0; i < size_; ++i) {
      T* from = data_ + ((head_ + i) & (cap_ - 1));
      std::construct_at(fresh + i, std::move(*from));
      std::destroy_at(from);
    }
    if (data_ != nullptr) std::allocator<T>{}.deallocate(data_, cap_);
    data_ = fresh;
    cap_ = cap;
    head_ = 0;
  }
  void release() {
    clear();
    if (data_ != nullptr) std::allocator<T>{}.deallocate(data_, cap_);
    data_ = nullptr;
    cap_ = 0;
  }

  T* data_ = nullptr;
  size_t cap_ = 0;  // 0 or a power of two
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace canopy::detail
