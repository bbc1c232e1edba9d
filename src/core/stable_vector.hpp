// An append-only vector whose elements never move: fixed-size blocks of 2^BlockBits elements.
//
// Why: a canister's pending-call slot table grows to a million entries in a fan-out (seed 000);
// std::vector doubling would move every slot (each holds a std::function and a result) each
// time and keep 1.5x the memory at the peak. Here growth allocates one block; references and
// pointers to elements stay valid for the container's lifetime.
//
// Contract: single-threaded (its owner's thread); neither copyable nor movable; emplace_back amortised O(1), operator[] O(1)
// with a bounds assertion; size() <= max_size (2^32 - 2) asserted; elements are destroyed with
// the container (never erased: callers recycle them through their own free lists).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "canopy/assert.hpp"

namespace canopy::detail {

template <class T, unsigned BlockBits = 10>
class StableVector {
 public:
  static constexpr size_t block_size = size_t{1} << BlockBits;
  static constexpr size_t max_size = UINT32_MAX - 1;

  StableVector() = default;
  StableVector(const StableVector&) = delete;
  StableVector& operator=(const StableVector&) = delete;
  ~StableVector() {
    for (size_t i = size_; i > 0; --i) std::destroy_at(&(*this)[i - 1]);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  T& operator[](size_t i) {
    CANOPY_ASSERT(i < size_, "StableVector index out of range");
    return *element(i);
  }
  const T& operator[](size_t i) const {
    CANOPY_ASSERT(i < size_, "StableVector index out of range");
    return *element(i);
  }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    CANOPY_ASSERT(size_ < max_size, "StableVector grew beyond max_size");
    if ((size_ >> BlockBits) == blocks_.size()) blocks_.push_back(Block(new Storage[block_size]));
    Storage& s = blocks_[size_ >> BlockBits][size_ & (block_size - 1)];
    T* p = std::construct_at(reinterpret_cast<T*>(s.bytes), std::forward<Args>(args)...);
    ++size_;
    return *p;
  }

 private:
  struct Storage {
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  using Block = std::unique_ptr<Storage[]>;
  T* element(size_t i) const {
    Storage& s = blocks_[i >> BlockBits][i & (block_size - 1)];
    return std::launder(reinterpret_cast<T*>(s.bytes));
  }

  std::vector<Block> blocks_;
  size_t size_ = 0;
};

}  // namespace canopy::detail
