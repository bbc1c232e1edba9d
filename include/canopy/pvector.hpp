// canopy/pvector.hpp — PVector<T>: a persistent (structurally shared) vector.
//
// What it is. A sequence with value semantics whose copies are O(1): a copy shares every node
// with the original, and an update copies only the O(log32 n) nodes on the path to the changed
// element. Large canister state lives in PVector and PMap so that snapshots (trap rollback R7,
// committed state for queries R16, per-edge copies for composite queries R17, checkpoints R21)
// are plain, cheap copies.
//
// Structure. A 32-way radix trie of fixed-size leaves plus a "tail" leaf holding the last
// 1..32 elements (Clojure's PersistentVector / immer's flex-less vector): every leaf inside the
// trie is full; push_back and pop_back touch the trie only once every 32 operations.
//
// Complexity (n = size()).
//   copy, move, size, empty, swap ....................... O(1), no allocation
//   operator[], at, front, back ......................... O(log32 n) (at most 13 levels)
//   set(i, v) ........................................... O(log32 n): copies <= 1 leaf + the
//                                                         inner nodes of the path when shared
//   push_back, pop_back ................................. amortised O(1) (O(log32 n) every 32nd)
//   iteration ........................................... O(1) amortised per step
//   operator== .......................................... O(n / 32) for leaves shared by both
//   with / with_push_back / without_back ................ like the update, returning a new vector
//   cereal save/load .................................... O(n)
//
// Thread-safety. Distinct PVector objects may be used concurrently from different threads even
// when they share nodes (reference counts are atomic; shared nodes are never written). One
// PVector object is not synchronised: concurrent const access is safe, mutation needs exclusive
// access, like a std::vector.
//
// Ownership. A node is written in place only when the handle being mutated is its sole owner
// (reference count 1 on every node of the path, observed with acquire ordering); otherwise it is
// copied first. References returned by operator[] and iterators stay valid until the handle they
// came from is mutated, assigned to, moved from or destroyed; earlier copies are unaffected.
//
// Exception safety. push_back / pop_back / with_push_back / without_back give the strong
// guarantee (allocation or a copy of T throwing leaves the vector unchanged); set / with give it
// too when T's move assignment does not throw (otherwise basic). T must be copy constructible;
// load() also needs it default constructible.
//
// Preconditions. operator[], front, back: index in range / non-empty (checked: aborts).
// at(), set() and pop_back() throw std::out_of_range instead, so a user-code mistake is a trap
// (R7) rather than a crash of the runtime.
//
// Serialisation (cereal). A size tag followed by the elements (arithmetic elements as binary
// blocks of one leaf each in binary archives).
#pragma once

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <cereal/cereal.hpp>

#include "canopy/assert.hpp"

namespace canopy {

namespace detail::pvector_impl {

inline constexpr unsigned kBits = 5;
inline constexpr std::size_t kBranch = std::size_t{1} << kBits;  // 32
inline constexpr std::size_t kMask = kBranch - 1;
// A trie whose root sits at shift s holds 2^(s + 5) elements; shift 55 already holds 2^60.
inline constexpr unsigned kMaxShift = 55;

template <class T>
struct NodeBase {
  explicit NodeBase(bool leaf) noexcept : leaf_(leaf) {}
  std::atomic<std::uint32_t> refs_{1};
  const bool leaf_;
};

template <class T>
struct Leaf;
template <class T>
struct Inner;

// Owning intrusive pointer to a Leaf or an Inner node.
template <class T>
class NodeRef {
 public:
  using Base = NodeBase<T>;

  NodeRef() noexcept = default;
  explicit NodeRef(Base* adopt) noexcept : ptr_(adopt) {}
  NodeRef(const NodeRef& other) noexcept : ptr_(other.ptr_) { retain(ptr_); }
  NodeRef(NodeRef&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  NodeRef& operator=(const NodeRef& other) noexcept {
    NodeRef copy(other);
    std::swap(ptr_, copy.ptr_);
    return *this;
  }
  // `other` may be a member of the node this currently owns: detach it before releasing.
  NodeRef& operator=(NodeRef&& other) noexcept {
    if (this != &other) {
      Base* old = ptr_;
      ptr_ = std::exchange(other.ptr_, nullptr);
      release(old);
    }
    return *this;
  }
  ~NodeRef() { release(ptr_); }

  explicit operator bool() const noexcept { return ptr_ != nullptr; }
  const Base* get() const noexcept { return ptr_; }

  // Acquire pairs with the release decrement of any other owner that just let go.
  bool unique() const noexcept {
    return ptr_ != nullptr && ptr_->refs_.load(std::memory_order_acquire) == 1;
  }

  const Leaf<T>& leaf() const noexcept {
    CANOPY_ASSERT(ptr_ != nullptr && ptr_->leaf_, "PVector: expected a leaf");
    return *static_cast<const Leaf<T>*>(ptr_);
  }
  const Inner<T>& inner() const noexcept {
    CANOPY_ASSERT(ptr_ != nullptr && !ptr_->leaf_, "PVector: expected an inner node");
    return *static_cast<const Inner<T>*>(ptr_);
  }
  // Write access; only legal on a uniquely owned node.
  Leaf<T>& mut_leaf() const noexcept {
    CANOPY_ASSERT(unique(), "PVector: writing a shared node");
    return const_cast<Leaf<T>&>(leaf());
  }
  Inner<T>& mut_inner() const noexcept {
    CANOPY_ASSERT(unique(), "PVector: writing a shared node");
    return const_cast<Inner<T>&>(inner());
  }

 private:
  static void retain(Base* node) noexcept {
    if (node != nullptr) {
      const auto before = node->refs_.fetch_add(1, std::memory_order_relaxed);
      CANOPY_ASSERT(before < std::numeric_limits<std::uint32_t>::max(),
                    "PVector: refcount overflow");
    }
  }
  static void release(Base* node) noexcept;

  Base* ptr_ = nullptr;
};

// Up to 32 elements, constructed in order; count_ of them are alive.
template <class T>
struct Leaf : NodeBase<T> {
  Leaf() noexcept : NodeBase<T>(true) {}
  Leaf(const Leaf&) = delete;
  Leaf& operator=(const Leaf&) = delete;
  ~Leaf() { std::destroy_n(&items_.values[0], count_); }

  T& at(std::size_t i) noexcept { return items_.values[i]; }
  const T& at(std::size_t i) const noexcept { return items_.values[i]; }
  const T* data() const noexcept { return &items_.values[0]; }
  template <class... Args>
  void emplace_back(Args&&... args) {
    CANOPY_ASSERT(count_ < kBranch, "PVector: leaf overflow");
    std::construct_at(&items_.values[count_], std::forward<Args>(args)...);
    ++count_;
  }
  void pop_back() noexcept {
    CANOPY_ASSERT(count_ > 0, "PVector: leaf underflow");
    --count_;
    std::destroy_at(&items_.values[count_]);
  }

  // Uninitialised storage for 32 T (a union member is not constructed by default).
  union Items {
    Items() noexcept {}
    ~Items() {}
    T values[kBranch];
  };
  std::uint32_t count_ = 0;
  Items items_;
};

template <class T>
struct Inner : NodeBase<T> {
  Inner() noexcept : NodeBase<T>(false) {}
  NodeRef<T> children_[kBranch];
};

template <class T>
void NodeRef<T>::release(Base* node) noexcept {
  if (node == nullptr || node->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (node->leaf_) {
    delete static_cast<Leaf<T>*>(node);
  } else {
    delete static_cast<Inner<T>*>(node);  // releases children: recursion depth <= 13 levels
  }
}

}  // namespace detail::pvector_impl

template <class T>
class PVector {
  using Ref = detail::pvector_impl::NodeRef<T>;
  using Leaf = detail::pvector_impl::Leaf<T>;
  using Inner = detail::pvector_impl::Inner<T>;
  static constexpr unsigned kBits = detail::pvector_impl::kBits;
  static constexpr std::size_t kBranch = detail::pvector_impl::kBranch;
  static constexpr std::size_t kMask = detail::pvector_impl::kMask;

  static_assert(std::is_copy_constructible_v<T>,
                "PVector copies nodes on write: T must be copy constructible");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = const T&;
  using const_reference = const T&;

  // Random-access iterator caching the 32-element chunk it is in; moving within a chunk is a
  // pointer step, crossing into the next chunk is one O(log32 n) lookup.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using iterator_concept = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;

    const_iterator() noexcept = default;

    reference operator*() const noexcept {
      CANOPY_ASSERT(vec_ != nullptr && index_ < vec_->size_, "PVector: dereferencing end()");
      return chunk_[index_ - chunk_begin_];
    }
    pointer operator->() const noexcept { return &**this; }
    reference operator[](difference_type n) const noexcept { return *(*this + n); }

    const_iterator& operator++() noexcept { return move_to(index_ + 1); }
    const_iterator operator++(int) noexcept {
      const_iterator before = *this;
      ++*this;
      return before;
    }
    const_iterator& operator--() noexcept { return move_to(index_ - 1); }
    const_iterator operator--(int) noexcept {
      const_iterator before = *this;
      --*this;
      return before;
    }
    const_iterator& operator+=(difference_type n) noexcept {
      return move_to(static_cast<size_type>(static_cast<difference_type>(index_) + n));
    }
    const_iterator& operator-=(difference_type n) noexcept { return *this += -n; }
    friend const_iterator operator+(const_iterator it, difference_type n) noexcept {
      return it += n;
    }
    friend const_iterator operator+(difference_type n, const_iterator it) noexcept {
      return it += n;
    }
    friend const_iterator operator-(const_iterator it, difference_type n) noexcept {
      return it -= n;
    }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) noexcept {
      return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
      return a.index_ == b.index_;
    }
    friend std::strong_ordering operator<=>(const const_iterator& a,
                                            const const_iterator& b) noexcept {
      return a.index_ <=> b.index_;
    }

   private:
    friend class PVector;
    const_iterator(const PVector* vec, size_type index) noexcept : vec_(vec) { move_to(index); }

    const_iterator& move_to(size_type index) noexcept {
      CANOPY_ASSERT(vec_ != nullptr && index <= vec_->size_, "PVector: iterator out of range");
      index_ = index;
      if (index_ < vec_->size_ && (index_ < chunk_begin_ || index_ >= chunk_end_)) {
        chunk_begin_ = index_ & ~kMask;
        chunk_end_ = std::min(chunk_begin_ + kBranch, vec_->size_);
        chunk_ = vec_->chunk_for(index_).data();
      }
      return *this;
    }

    const PVector* vec_ = nullptr;
    size_type index_ = 0;
    const T* chunk_ = nullptr;  // element chunk_begin_
    size_type chunk_begin_ = 0;
    size_type chunk_end_ = 0;
  };
  using iterator = const_iterator;

  // ---- construction -------------------------------------------------------------------------

  PVector() = default;
  PVector(std::initializer_list<T> init) : PVector(init.begin(), init.end()) {}
  PVector(size_type count, const T& value) {
    for (size_type i = 0; i < count; ++i)
      push_back(value);
  }
  template <std::input_iterator It, std::sentinel_for<It> End>
  PVector(It first, End last) {
    for (; first != last; ++first)
      push_back(*first);
  }

  PVector(const PVector&) = default;  // O(1): shares root and tail
  PVector(PVector&& other) noexcept
      : root_(std::move(other.root_)),
        tail_(std::move(other.tail_)),
        size_(std::exchange(other.size_, 0)),
        shift_(std::exchange(other.shift_, kBits)) {}
  PVector& operator=(const PVector&) = default;
  PVector& operator=(PVector&& other) noexcept {
    if (this != &other) {
      root_ = std::move(other.root_);
      tail_ = std::move(other.tail_);
      size_ = std::exchange(other.size_, 0);
      shift_ = std::exchange(other.shift_, kBits);
    }
    return *this;
  }
  ~PVector() = default;

  // ---- queries --------------------------------------------------------------------------------

  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  static constexpr size_type max_size() noexcept {
    return size_type{1} << (detail::pvector_impl::kMaxShift + kBits);
  }

  const T& operator[](size_type i) const noexcept {
    CANOPY_ASSERT(i < size_, "PVector: index out of range");
    return chunk_for(i).at(i & kMask);
  }
  const T& at(size_type i) const {
    if (i >= size_) throw std::out_of_range("canopy::PVector::at: index out of range");
    return chunk_for(i).at(i & kMask);
  }
  const T& front() const noexcept { return (*this)[0]; }
  const T& back() const noexcept {
    CANOPY_ASSERT(size_ > 0, "PVector: back() of an empty vector");
    return (*this)[size_ - 1];
  }

  const_iterator begin() const noexcept { return const_iterator(this, 0); }
  const_iterator end() const noexcept { return const_iterator(this, size_); }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }

  // ---- updates of this handle (path copying; other copies never change) ------------------------

  void push_back(T value) {
    CANOPY_ASSERT(size_ < max_size(), "PVector: max_size exceeded");
    if (size_ == 0) {
      Ref leaf = make_leaf();
      leaf.mut_leaf().emplace_back(std::move(value));
      tail_ = std::move(leaf);
      size_ = 1;
      return;
    }
    const size_type tail_count = size_ - tail_offset();
    if (tail_count < kBranch) {
      make_mutable(tail_);
      tail_.mut_leaf().emplace_back(std::move(value));  // a throw leaves count_ unchanged
      ++size_;
      return;
    }
    Ref new_tail = make_leaf();
    new_tail.mut_leaf().emplace_back(std::move(value));
    push_tail_into_trie();  // moves tail_ into the trie as its last step
    tail_ = std::move(new_tail);
    ++size_;
  }

  // Throws std::out_of_range on an empty vector.
  void pop_back() {
    if (size_ == 0) throw std::out_of_range("canopy::PVector::pop_back: empty vector");
    if (size_ == 1) {
      clear();
      return;
    }
    const size_type tail_off = tail_offset();
    const size_type tail_count = size_ - tail_off;
    if (tail_count > 1) {
      if (tail_.unique()) {
        tail_.mut_leaf().pop_back();
      } else {
        tail_ = clone_leaf(tail_.leaf(), tail_count - 1);
      }
      --size_;
      return;
    }
    // The tail empties: the trie's last leaf becomes the tail.
    const size_type leaf_first = tail_off - kBranch;
    Ref new_tail = leaf_ref_at(leaf_first);
    if (leaf_first == 0) {
      root_ = Ref();
      shift_ = kBits;
    } else {
      pop_last_leaf(leaf_first);
    }
    tail_ = std::move(new_tail);
    --size_;
  }

  // Replaces element i. Throws std::out_of_range when i >= size().
  void set(size_type i, T value) {
    if (i >= size_) throw std::out_of_range("canopy::PVector::set: index out of range");
    const size_type tail_off = tail_offset();
    if (i >= tail_off) {
      make_mutable(tail_);
      tail_.mut_leaf().at(i - tail_off) = std::move(value);
      return;
    }
    Ref* slot = &root_;
    make_mutable(*slot);
    for (unsigned level = shift_; level > 0; level -= kBits) {
      slot = &slot->mut_inner().children_[(i >> level) & kMask];
      make_mutable(*slot);
    }
    slot->mut_leaf().at(i & kMask) = std::move(value);
  }

  void clear() noexcept {
    root_ = Ref();
    tail_ = Ref();
    size_ = 0;
    shift_ = kBits;
  }
  void swap(PVector& other) noexcept {
    using std::swap;
    swap(root_, other.root_);
    swap(tail_, other.tail_);
    swap(size_, other.size_);
    swap(shift_, other.shift_);
  }
  friend void swap(PVector& a, PVector& b) noexcept { a.swap(b); }

  // ---- functional updates: new vectors, this one unchanged --------------------------------------

  [[nodiscard]] PVector with(size_type i, T value) const& {
    PVector copy(*this);
    copy.set(i, std::move(value));
    return copy;
  }
  [[nodiscard]] PVector with(size_type i, T value) && {
    set(i, std::move(value));
    return std::move(*this);
  }
  [[nodiscard]] PVector with_push_back(T value) const& {
    PVector copy(*this);
    copy.push_back(std::move(value));
    return copy;
  }
  [[nodiscard]] PVector with_push_back(T value) && {
    push_back(std::move(value));
    return std::move(*this);
  }
  [[nodiscard]] PVector without_back() const& {
    PVector copy(*this);
    copy.pop_back();
    return copy;
  }
  [[nodiscard]] PVector without_back() && {
    pop_back();
    return std::move(*this);
  }

  // Element-wise equality (requires T ==); leaves shared by both are skipped.
  friend bool operator==(const PVector& a, const PVector& b) {
    if (a.size_ != b.size_) return false;
    if (a.root_.get() == b.root_.get() && a.tail_.get() == b.tail_.get()) return true;
    for (size_type first = 0; first < a.size_; first += kBranch) {
      const Leaf& left = a.chunk_for(first);
      const Leaf& right = b.chunk_for(first);
      if (&left == &right) continue;
      const size_type count = std::min(kBranch, a.size_ - first);
      if (!std::equal(left.data(), left.data() + count, right.data())) return false;
    }
    return true;
  }

  // ---- cereal ---------------------------------------------------------------------------------

  template <class Archive>
  void save(Archive& ar) const {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(size_)));
    if constexpr (kBinaryBlocks<Archive, true>) {
      for (size_type first = 0; first < size_; first += kBranch) {
        const size_type count = std::min(kBranch, size_ - first);
        ar(cereal::binary_data(chunk_for(first).data(), count * sizeof(T)));
      }
    } else {
      for (const T& value : *this)
        ar(value);
    }
  }

  template <class Archive>
  void load(Archive& ar) {
    cereal::size_type count = 0;
    ar(cereal::make_size_tag(count));
    PVector loaded;
    if constexpr (kBinaryBlocks<Archive, false>) {
      T block[kBranch];
      for (cereal::size_type first = 0; first < count; first += kBranch) {
        const auto n = static_cast<size_type>(std::min<cereal::size_type>(kBranch, count - first));
        ar(cereal::binary_data(block, n * sizeof(T)));
        for (size_type i = 0; i < n; ++i)
          loaded.push_back(block[i]);
      }
    } else {
      for (cereal::size_type i = 0; i < count; ++i) {
        T value{};
        ar(value);
        loaded.push_back(std::move(value));
      }
    }
    *this = std::move(loaded);
  }

  // ---- introspection for tests and benchmarks (not part of the stable API) ----------------------

  const void* detail_root_id() const noexcept { return root_.get(); }
  const void* detail_tail_id() const noexcept { return tail_.get(); }
  unsigned detail_shift() const noexcept { return shift_; }
  // Calls fn(const void* node_id) for every node, trie first (pre-order), then the tail.
  template <class Fn>
  void detail_visit_nodes(Fn&& fn) const {
    if (root_) visit_nodes(root_, shift_, fn);
    if (tail_) fn(static_cast<const void*>(tail_.get()));
  }
  // Aborts unless the trie and tail are consistent with size().
  void detail_check_invariants() const {
    const size_type tail_off = tail_offset();
    CANOPY_ASSERT(
        shift_ >= kBits && shift_ <= detail::pvector_impl::kMaxShift && shift_ % kBits == 0,
        "PVector: bad shift");
    CANOPY_ASSERT(static_cast<bool>(tail_) == (size_ > 0), "PVector: tail presence");
    if (tail_) CANOPY_ASSERT(tail_.leaf().count_ == size_ - tail_off, "PVector: tail count");
    CANOPY_ASSERT(static_cast<bool>(root_) == (tail_off > 0), "PVector: root presence");
    if (!root_) {
      CANOPY_ASSERT(shift_ == kBits, "PVector: shift without a trie");
      return;
    }
    CANOPY_ASSERT(tail_off <= (size_type{1} << (shift_ + kBits)), "PVector: trie overfull");
    if (shift_ > kBits) {
      CANOPY_ASSERT(static_cast<bool>(root_.inner().children_[1]),
                    "PVector: root with one child above the lowest level");
    }
    const size_type leaves = check_subtree(root_, shift_, 0, tail_off);
    CANOPY_ASSERT(leaves * kBranch == tail_off, "PVector: leaf count");
  }

 private:
  template <class Archive, bool kSaving>
  static constexpr bool kBinaryBlocks =
      std::is_arithmetic_v<T> &&
      (kSaving
           ? cereal::traits::is_output_serializable<cereal::BinaryData<const T*>, Archive>::value
           : cereal::traits::is_input_serializable<cereal::BinaryData<T*>, Archive>::value);

  // Index of the first element held by the tail.
  size_type tail_offset() const noexcept {
    return size_ < kBranch ? 0 : ((size_ - 1) >> kBits) << kBits;
  }

  // The leaf (trie leaf or tail) holding element i < size_.
  const Leaf& chunk_for(size_type i) const noexcept {
    if (i >= tail_offset()) return tail_.leaf();
    const Ref* node = &root_;
    for (unsigned level = shift_; level > 0; level -= kBits) {
      node = &node->inner().children_[(i >> level) & kMask];
    }
    return node->leaf();
  }
  Ref leaf_ref_at(size_type i) const noexcept {
    const Ref* node = &root_;
    for (unsigned level = shift_; level > 0; level -= kBits) {
      node = &node->inner().children_[(i >> level) & kMask];
    }
    CANOPY_ASSERT(node->get() != nullptr && node->get()->leaf_, "PVector: expected a leaf");
    return *node;
  }

  static Ref make_leaf() { return Ref(new Leaf()); }
  static Ref make_inner() { return Ref(new Inner()); }
  static Ref clone_leaf(const Leaf& source, size_type count) {
    Ref copy = make_leaf();  // on a throw, releases the elements copied so far
    Leaf& target = copy.mut_leaf();
    for (size_type i = 0; i < count; ++i)
      target.emplace_back(source.at(i));
    return copy;
  }
  static Ref clone_inner(const Inner& source) {
    Ref copy = make_inner();
    Inner& target = copy.mut_inner();
    for (size_type i = 0; i < kBranch; ++i)
      target.children_[i] = source.children_[i];
    return copy;
  }
  // Replaces a shared node in `slot` by a private clone with the same contents, so a throw
  // here leaves the vector valid and equal to what it was.
  static void make_mutable(Ref& slot) {
    if (slot.unique()) return;
    CANOPY_ASSERT(static_cast<bool>(slot), "PVector: make_mutable on an empty slot");
    slot =
        slot.get()->leaf_ ? clone_leaf(slot.leaf(), slot.leaf().count_) : clone_inner(slot.inner());
  }

  // A chain of empty inner nodes for a new subtree at `level` (>= kBits), down to level kBits.
  // Returns the top and the lowest node (whose children are leaves).
  static std::pair<Ref, Inner*> build_path(unsigned level) {
    Ref top = make_inner();
    Inner* lowest = &top.mut_inner();
    for (unsigned l = level; l > kBits; l -= kBits) {
      Ref next = make_inner();
      Inner* next_raw = &next.mut_inner();
      lowest->children_[0] = std::move(next);
      lowest = next_raw;
    }
    return {std::move(top), lowest};
  }

  // Appends the full tail_ as the trie's last leaf. Everything that may throw (allocations,
  // clones of shared path nodes) happens before the tail is linked.
  void push_tail_into_trie() {
    const size_type leaf_first = size_ - kBranch;
    CANOPY_ASSERT(leaf_first == tail_offset() && tail_.leaf().count_ == kBranch,
                  "PVector: pushing a partial tail");
    if (!root_) {
      Ref root = make_inner();
      root.mut_inner().children_[0] = std::move(tail_);
      root_ = std::move(root);
      shift_ = kBits;
      return;
    }
    if ((leaf_first >> kBits) == (size_type{1} << shift_)) {  // trie full: grow a level
      CANOPY_ASSERT(shift_ + kBits <= detail::pvector_impl::kMaxShift, "PVector: too deep");
      Ref root = make_inner();
      auto [branch, lowest] = build_path(shift_);
      lowest->children_[0] = std::move(tail_);
      Inner& top = root.mut_inner();
      top.children_[0] = std::move(root_);
      top.children_[1] = std::move(branch);
      root_ = std::move(root);
      shift_ += kBits;
      return;
    }
    make_mutable(root_);
    Ref* node = &root_;
    for (unsigned level = shift_; level > kBits; level -= kBits) {
      Ref& child = node->mut_inner().children_[(leaf_first >> level) & kMask];
      if (!child) {  // a new subtree: leaf_first is its first element, every index below is 0
        auto [branch, lowest] = build_path(level - kBits);
        lowest->children_[0] = std::move(tail_);
        child = std::move(branch);
        return;
      }
      make_mutable(child);
      node = &child;
    }
    Ref& slot = node->mut_inner().children_[(leaf_first >> kBits) & kMask];
    CANOPY_ASSERT(!slot, "PVector: appending over a leaf");
    slot = std::move(tail_);
  }

  // Removes the trie's last leaf (first element `leaf_first` > 0). Inner nodes left empty go
  // with it; a root left with one child is replaced by that child.
  void pop_last_leaf(size_type leaf_first) {
    // The lowest level whose index is non-zero keeps its node; everything below empties.
    unsigned keep_level = kBits;
    for (; ((leaf_first >> keep_level) & kMask) == 0; keep_level += kBits) {
      CANOPY_ASSERT(keep_level < shift_, "PVector: popping from an empty trie");
    }
    make_mutable(root_);
    Ref* node = &root_;
    for (unsigned level = shift_; level > keep_level; level -= kBits) {
      node = &node->mut_inner().children_[(leaf_first >> level) & kMask];
      make_mutable(*node);
    }
    // noexcept from here on.
    node->mut_inner().children_[(leaf_first >> keep_level) & kMask] = Ref();
    if (shift_ > kBits && !root_.inner().children_[1]) {
      Ref only_child = root_.inner().children_[0];
      root_ = std::move(only_child);
      shift_ -= kBits;
    }
  }

  template <class Fn>
  static void visit_nodes(const Ref& node, unsigned level, Fn& fn) {
    fn(static_cast<const void*>(node.get()));
    if (level == 0) return;
    for (const Ref& child : node.inner().children_) {
      if (child) visit_nodes(child, level - kBits, fn);
    }
  }

  // Checks the subtree at `level` covering elements [first, limit); returns its leaf count.
  static size_type check_subtree(const Ref& node, unsigned level, size_type first,
                                 size_type limit) {
    CANOPY_ASSERT(node.get()->refs_.load(std::memory_order_relaxed) >= 1, "PVector: dead node");
    if (level == 0) {
      CANOPY_ASSERT(node.leaf().count_ == kBranch, "PVector: partial leaf in the trie");
      return 1;
    }
    const Inner& inner = node.inner();
    size_type leaves = 0;
    bool ended = false;
    for (size_type i = 0; i < kBranch; ++i) {
      const size_type child_first = first + (i << level);
      const bool expected = child_first < limit;
      CANOPY_ASSERT(static_cast<bool>(inner.children_[i]) == expected,
                    "PVector: children are not exactly the populated prefix");
      CANOPY_ASSERT(!(ended && expected), "PVector: hole in the trie");
      if (!expected) {
        ended = true;
        continue;
      }
      leaves += check_subtree(inner.children_[i], level - kBits, child_first, limit);
    }
    return leaves;
  }

  Ref root_;  // inner node at level shift_, or empty when tail_offset() == 0
  Ref tail_;  // leaf with the last 1..32 elements, or empty when size_ == 0
  size_type size_ = 0;
  unsigned shift_ = kBits;
};

}  // namespace canopy

// Always the member save/load, whatever generic container serialisers are in scope.
namespace cereal {
template <class Archive, class T>
struct specialize<Archive, canopy::PVector<T>, specialization::member_load_save> {};
}  // namespace cereal
