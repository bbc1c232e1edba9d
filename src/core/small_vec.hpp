// A vector of trivially copyable elements whose first N elements live inside the object.
//
// Why: a canister keeps several short lists that every message execution or routing step
// touches (the queues written by an execution, the messages it sent, the slots it created, the
// contexts it touched). Almost always they hold one or two entries. As std::vectors each is a
// separate heap block, i.e. one more cache line to fetch per canister per iteration, with
// thousands of canisters in flight. SmallVec keeps up to N elements inline (next to the other
// hot fields) and only moves to the heap beyond, doubling.
//
// Contract: single-threaded; elements must be trivially copyable (they are copied bytewise when
// the storage grows or two vectors swap); not copyable or movable (the inline storage is part of
// the object: hold it as a member). push_back amortised O(1); clear() keeps the capacity;
// indexing is asserted. Growth beyond `max_capacity` (2^31 elements) is an assertion failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>

#include "canopy/assert.hpp"

namespace canopy::detail {

template <class T, size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVec copies its elements bytewise");
  static_assert(N > 0, "SmallVec needs inline room for at least one element");

 public:
  static constexpr size_t max_capacity = size_t{1} << 31;
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<T*>;
  using const_reverse_iterator = std::reverse_iterator<const T*>;

  SmallVec() = default;
  SmallVec(const SmallVec&) = delete;
  SmallVec& operator=(const SmallVec&) = delete;
  ~SmallVec() { release(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return cap_; }
  bool is_inline() const { return data_ == inline_; }

  T* data() { return data_; }
  const T* data() const { return data_; }
  iterator begin() { return data_; }
  iterator end() { return data_ + size_; }
  const_iterator begin() const { return data_; }
  const_iterator end() const { return data_ + size_; }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }

  T& operator[](size_t i) {
    CANOPY_ASSERT(i < size_, "SmallVec index out of range");
    return data_[i];
  }
  const T& operator[](size_t i) const {
    CANOPY_ASSERT(i < size_, "SmallVec index out of range");
    return data_[i];
  }
  T& back() {
    CANOPY_ASSERT(size_ > 0, "SmallVec::back on an empty vector");
    return data_[size_ - 1];
  }

  void push_back(const T& v) {
    if (size_ == cap_) grow(cap_ * 2);
    data_[size_++] = v;
  }
  void pop_back() {
    CANOPY_ASSERT(size_ > 0, "SmallVec::pop_back on an empty vector");
    --size_;
  }
  void reserve(size_t n) {
    if (n > cap_) grow(n);
  }
  void clear() { size_ = 0; }

  // Exchanges the contents (inline elements are copied, heap blocks change hands).
  void swap(SmallVec& o) noexcept {
    if (this == &o) return;
    if (!is_inline() && !o.is_inline()) {
      std::swap(data_, o.data_);
      std::swap(size_, o.size_);
      std::swap(cap_, o.cap_);
      return;
    }
    SmallVec tmp;
    tmp.take(*this);
    take(o);
    o.take(tmp);
  }

 private:
  void grow(size_t n) {
    CANOPY_ASSERT(n <= max_capacity, "SmallVec grew beyond max_capacity");
    T* fresh = static_cast<T*>(::operator new(n * sizeof(T)));
    if (size_ > 0) std::memcpy(static_cast<void*>(fresh), data_, size_ * sizeof(T));
    release();
    data_ = fresh;
    cap_ = static_cast<uint32_t>(n);
  }
  void release() {
    if (!is_inline()) ::operator delete(data_);
    data_ = inline_;
    cap_ = N;
  }
  // Moves src's contents into *this, which must be empty and inline; src becomes empty, inline.
  void take(SmallVec& src) noexcept {
    if (src.is_inline()) {
      if (src.size_ > 0)
        std::memcpy(static_cast<void*>(inline_), src.inline_, src.size_ * sizeof(T));
    } else {
      data_ = src.data_;
      cap_ = src.cap_;
      src.data_ = src.inline_;
      src.cap_ = N;
    }
    size_ = src.size_;
    src.size_ = 0;
  }

  T* data_ = inline_;
  uint32_t size_ = 0;
  uint32_t cap_ = N;
  T inline_[N];
};

}  // namespace canopy::detail
