// canopy/pmap.hpp — PMap<K, V, Compare>: a persistent (structurally shared) ordered map.
//
// What it is. An ordered associative container with value semantics whose copies are O(1):
// a copy shares every node with the original, and an update copies only the O(log n) nodes on
// the path from the root to the changed entry (path copying). Canister state snapshots — trap
// rollback (R7), committed state for queries (R16), per-edge copies for composite queries (R17),
// checkpoints (R21) — are plain copies of values built from PMap and PVector.
//
// Structure. A persistent AVL tree (height <= 1.44 log2(n + 2)) of immutable-once-shared nodes
// with intrusive atomic reference counts. Ordered by Compare (a strict weak order).
//
// Complexity.
//   copy, move, size, empty, swap ............................ O(1), no allocation
//   find, contains, at, lower_bound .......................... O(log n)
//   set / insert_or_assign / insert / update / erase ........... O(log n): at most ~1.44 log2 n
//       node copies when the path is shared with another copy, none when this handle owns it
//   with / without ........................................... O(log n), return a new map
//   iteration ................................................ O(1) amortised per step, in order
//   operator== ............................................... O(1) when both share a root,
//                                                               else O(n)
//   cereal save/load ......................................... O(n) (load of sorted data)
//
// Thread-safety. Distinct PMap objects may be used concurrently from different threads even
// when they share nodes (reference counts are atomic; shared nodes are never written). One
// PMap object is not synchronised: concurrent const access is safe, but any mutation of it
// needs exclusive access, like a std::map.
//
// Ownership. A node is written in place only when the handle being mutated is its sole owner
// (reference count 1 on every node of the path, observed with acquire ordering); otherwise it is
// copied first. Pointers returned by find() and iterators stay valid until the handle they came
// from is mutated, assigned to, moved from or destroyed; copies taken earlier are unaffected, so
// to iterate while mutating, iterate a copy.
//
// Exception safety. set / insert_or_assign / insert / erase / with / without give the strong
// guarantee: if allocation, Compare, or a copy of K or V throws, the map is unchanged. update()
// gives the basic guarantee (the callback may have partly modified the value). K and V must be
// copy constructible (nodes are copied when shared); load() also needs them default
// constructible.
//
// Preconditions. None beyond Compare being a strict weak order that does not change while
// entries are stored. Internal invariant violations abort (CANOPY_ASSERT, never compiled out).
//
// Serialisation (cereal). Saved as a size tag followed by the entries in order as map items —
// the same layout cereal uses for std::map, so either can load what the other saved. load()
// rebuilds a perfectly balanced tree in O(n) when the keys arrive sorted (always the case for
// data saved from a PMap with the same Compare) and falls back to inserting one by one
// otherwise (a duplicate key keeps the last value).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <cereal/cereal.hpp>

#include "canopy/assert.hpp"

namespace canopy {

namespace detail::pmap_impl {

// An AVL tree of height h holds at least Fib(h + 2) - 1 nodes: height 64 would need more than
// 10^13 nodes, far beyond any memory. Every tree walk is bounded by this constant.
inline constexpr int kMaxHeight = 64;

// load() reserves at most this many entries up front; a larger size tag from an archive grows
// the buffer as entries actually arrive.
inline constexpr std::size_t kLoadReserveMax = std::size_t{1} << 16;

template <class K, class V>
struct Node;

// Owning intrusive pointer to a Node. Copy = atomic increment; release = atomic decrement,
// deleting the node (and, through its members, releasing its children) on the last reference.
template <class K, class V>
class NodeRef {
 public:
  using NodeT = Node<K, V>;

  NodeRef() noexcept = default;
  explicit NodeRef(NodeT* adopt) noexcept : ptr_(adopt) {}
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
      NodeT* old = ptr_;
      ptr_ = std::exchange(other.ptr_, nullptr);
      release(old);
    }
    return *this;
  }
  ~NodeRef() { release(ptr_); }

  explicit operator bool() const noexcept { return ptr_ != nullptr; }
  const NodeT* get() const noexcept { return ptr_; }
  const NodeT* operator->() const noexcept { return ptr_; }

  // True when this reference is the only one. Acquire pairs with the release decrement of
  // any other owner that just let go, so its reads happen-before our subsequent writes.
  bool unique() const noexcept {
    return ptr_ != nullptr && ptr_->refs_.load(std::memory_order_acquire) == 1;
  }
  // Write access; only legal on a uniquely owned node.
  NodeT* mut() const noexcept {
    CANOPY_ASSERT(unique(), "PMap: writing a shared node");
    return ptr_;
  }

 private:
  static void retain(NodeT* node) noexcept {
    if (node != nullptr) {
      const auto before = node->refs_.fetch_add(1, std::memory_order_relaxed);
      CANOPY_ASSERT(before < std::numeric_limits<std::uint32_t>::max(), "PMap: refcount overflow");
    }
  }
  static void release(NodeT* node) noexcept {
    if (node != nullptr && node->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete node;
  }

  NodeT* ptr_ = nullptr;
};

template <class K, class V>
struct Node {
  template <class KK, class VV>
  Node(KK&& key, VV&& value) : entry_(std::forward<KK>(key), std::forward<VV>(value)) {}
  // Clone: same entry, same children (now shared), fresh reference count.
  Node(const Node& other)
      : height_(other.height_), left_(other.left_), right_(other.right_), entry_(other.entry_) {}
  Node& operator=(const Node&) = delete;

  std::atomic<std::uint32_t> refs_{1};
  std::int32_t height_ = 1;
  NodeRef<K, V> left_;
  NodeRef<K, V> right_;
  std::pair<const K, V> entry_;
};

template <class K, class V>
inline int height_of(const NodeRef<K, V>& ref) noexcept {
  return ref ? ref->height_ : 0;
}

}  // namespace detail::pmap_impl

template <class K, class V, class Compare = std::less<K>>
class PMap {
  using Node = detail::pmap_impl::Node<K, V>;
  using Ref = detail::pmap_impl::NodeRef<K, V>;
  static constexpr int kMaxHeight = detail::pmap_impl::kMaxHeight;

  static_assert(std::is_copy_constructible_v<K> && std::is_copy_constructible_v<V>,
                "PMap copies nodes on write: K and V must be copy constructible");

 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = std::pair<const K, V>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using key_compare = Compare;
  using reference = const value_type&;
  using const_reference = const value_type&;

  // Forward iterator over entries in key order. Holds the path to the current node (at most
  // kMaxHeight pointers), so it never needs parent pointers (which persistence forbids).
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using iterator_concept = std::forward_iterator_tag;
    using value_type = PMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() noexcept = default;

    reference operator*() const noexcept { return top()->entry_; }
    pointer operator->() const noexcept { return &top()->entry_; }
    const_iterator& operator++() noexcept {
      const Node* done = top();
      --depth_;
      push_left_spine(done->right_.get());
      return *this;
    }
    const_iterator operator++(int) noexcept {
      const_iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
      return a.depth_ == b.depth_ &&
             (a.depth_ == 0 || a.stack_[a.depth_ - 1] == b.stack_[b.depth_ - 1]);
    }

   private:
    friend class PMap;

    const Node* top() const noexcept {
      CANOPY_ASSERT(depth_ > 0, "PMap: dereferencing or advancing end()");
      return stack_[depth_ - 1];
    }
    void push(const Node* node) noexcept {
      CANOPY_ASSERT(depth_ < kMaxHeight, "PMap: iterator path deeper than kMaxHeight");
      stack_[depth_++] = node;
    }
    void push_left_spine(const Node* node) noexcept {
      for (int steps = 0; node != nullptr; ++steps, node = node->left_.get()) {
        CANOPY_ASSERT(steps < kMaxHeight, "PMap: left spine deeper than kMaxHeight");
        push(node);
      }
    }

    // stack_[0..depth_) are the nodes still to visit on the current path; the top is current.
    std::array<const Node*, kMaxHeight> stack_{};
    int depth_ = 0;
  };
  using iterator = const_iterator;

  // ---- construction -------------------------------------------------------------------------

  PMap() = default;
  explicit PMap(const Compare& comp) : comp_(comp) {}
  PMap(std::initializer_list<value_type> init, const Compare& comp = Compare())
      : PMap(init.begin(), init.end(), comp) {}
  // Later duplicates overwrite earlier ones.
  template <std::input_iterator It, std::sentinel_for<It> End>
  PMap(It first, End last, const Compare& comp = Compare()) : comp_(comp) {
    for (; first != last; ++first)
      set(first->first, first->second);
  }

  PMap(const PMap&) = default;  // O(1): shares the root
  PMap(PMap&& other) noexcept(std::is_nothrow_move_constructible_v<Compare>)
      : root_(std::move(other.root_)),
        size_(std::exchange(other.size_, 0)),
        comp_(std::move(other.comp_)) {}
  PMap& operator=(const PMap&) = default;
  PMap& operator=(PMap&& other) noexcept(std::is_nothrow_move_assignable_v<Compare>) {
    if (this != &other) {
      root_ = std::move(other.root_);
      size_ = std::exchange(other.size_, 0);
      comp_ = std::move(other.comp_);
    }
    return *this;
  }
  ~PMap() = default;

  // ---- queries --------------------------------------------------------------------------------

  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const Compare& key_comp() const noexcept { return comp_; }

  // Pointer to the value stored under `key`, nullptr when absent.
  const V* find(const K& key) const {
    const Node* node = find_node(key);
    return node != nullptr ? &node->entry_.second : nullptr;
  }
  bool contains(const K& key) const { return find_node(key) != nullptr; }
  // Throws std::out_of_range when absent.
  const V& at(const K& key) const {
    const Node* node = find_node(key);
    if (node == nullptr) throw std::out_of_range("canopy::PMap::at: key not found");
    return node->entry_.second;
  }

  const_iterator begin() const noexcept {
    const_iterator it;
    it.push_left_spine(root_.get());
    return it;
  }
  const_iterator end() const noexcept { return const_iterator(); }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }

  // First entry whose key is not less than `key`.
  const_iterator lower_bound(const K& key) const {
    const_iterator it;
    const Node* node = root_.get();
    for (int depth = 0; node != nullptr; ++depth) {
      CANOPY_ASSERT(depth < kMaxHeight, "PMap: tree deeper than kMaxHeight");
      if (comp_(node->entry_.first, key)) {
        node = node->right_.get();
      } else {
        it.push(node);
        node = node->left_.get();
      }
    }
    return it;
  }

  // ---- updates of this handle (path copying; other copies never change) ------------------------

  // Inserts or overwrites. Returns true when the key was new.
  bool insert_or_assign(K key, V value) { return assign_impl(std::move(key), std::move(value)); }
  bool set(K key, V value) { return assign_impl(std::move(key), std::move(value)); }

  // Inserts only when absent (like std::map::insert). Returns true when inserted.
  bool insert(K key, V value) {
    if (contains(key)) return false;
    return assign_impl(std::move(key), std::move(value));
  }

  // Calls fn(V&) on the value under `key`, copying the path first if it is shared. Returns
  // false (and does not call fn) when absent. Basic exception guarantee when fn throws.
  template <class Fn>
  bool update(const K& key, Fn&& fn) {
    if (!contains(key)) return false;
    Ref* slot = &root_;
    for (int depth = 0; depth <= kMaxHeight; ++depth) {
      CANOPY_ASSERT(*slot, "PMap::update: key vanished");
      make_mutable(*slot);
      Node* node = slot->mut();
      if (comp_(key, node->entry_.first)) {
        slot = &node->left_;
      } else if (comp_(node->entry_.first, key)) {
        slot = &node->right_;
      } else {
        std::forward<Fn>(fn)(node->entry_.second);
        return true;
      }
    }
    CANOPY_ASSERT(false, "PMap::update: tree deeper than kMaxHeight");
    return false;
  }

  // Removes `key`. Returns true when it was present.
  bool erase(const K& key);

  void clear() noexcept {
    root_ = Ref();
    size_ = 0;
  }
  void swap(PMap& other) noexcept {
    using std::swap;
    swap(root_, other.root_);
    swap(size_, other.size_);
    swap(comp_, other.comp_);
  }
  friend void swap(PMap& a, PMap& b) noexcept { a.swap(b); }

  // ---- functional updates: new maps, this one unchanged -----------------------------------------

  [[nodiscard]] PMap with(K key, V value) const& {
    PMap copy(*this);
    copy.assign_impl(std::move(key), std::move(value));
    return copy;
  }
  [[nodiscard]] PMap with(K key, V value) && {
    assign_impl(std::move(key), std::move(value));
    return std::move(*this);
  }
  [[nodiscard]] PMap without(const K& key) const& {
    PMap copy(*this);
    copy.erase(key);
    return copy;
  }
  [[nodiscard]] PMap without(const K& key) && {
    erase(key);
    return std::move(*this);
  }

  // Equal when both hold the same entries in the same order (requires K and V ==).
  friend bool operator==(const PMap& a, const PMap& b) {
    if (a.size_ != b.size_) return false;
    if (a.root_.get() == b.root_.get()) return true;
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

  // ---- cereal ---------------------------------------------------------------------------------

  template <class Archive>
  void save(Archive& ar) const {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(size_)));
    for (const value_type& entry : *this)
      ar(cereal::make_map_item(entry.first, entry.second));
  }

  template <class Archive>
  void load(Archive& ar) {
    cereal::size_type count = 0;
    ar(cereal::make_size_tag(count));
    std::vector<std::pair<K, V>> items;
    items.reserve(static_cast<std::size_t>(
        std::min<cereal::size_type>(count, detail::pmap_impl::kLoadReserveMax)));
    for (cereal::size_type i = 0; i < count; ++i) {
      K key{};
      V value{};
      ar(cereal::make_map_item(key, value));
      items.emplace_back(std::move(key), std::move(value));
    }
    PMap loaded(comp_);
    const bool sorted = std::adjacent_find(items.begin(), items.end(), [&](auto& a, auto& b) {
                          return !comp_(a.first, b.first);
                        }) == items.end();
    if (sorted) {
      loaded.root_ = build_balanced(items, 0, items.size());
      loaded.size_ = items.size();
    } else {
      for (auto& item : items)
        loaded.set(std::move(item.first), std::move(item.second));
    }
    *this = std::move(loaded);
  }

  // ---- introspection for tests and benchmarks (not part of the stable API) ----------------------

  // Identity of the root node; equal for two maps that share their whole tree.
  const void* detail_root_id() const noexcept { return root_.get(); }
  int detail_height() const noexcept { return detail::pmap_impl::height_of(root_); }
  // Calls fn(const void* node_id) for every node (pre-order).
  template <class Fn>
  void detail_visit_nodes(Fn&& fn) const {
    visit_nodes(root_.get(), fn, 0);
  }
  // Aborts unless the tree is a valid AVL search tree holding size() entries.
  void detail_check_invariants() const {
    const Node* low = nullptr;
    const Node* high = nullptr;
    const size_type counted = check_subtree(root_.get(), low, high, 0);
    CANOPY_ASSERT(counted == size_, "PMap: size_ disagrees with the tree");
  }

 private:
  using SlotPath = std::array<Ref*, kMaxHeight + 2>;

  const Node* find_node(const K& key) const {
    const Node* node = root_.get();
    for (int depth = 0; node != nullptr; ++depth) {
      CANOPY_ASSERT(depth < kMaxHeight, "PMap: tree deeper than kMaxHeight");
      if (comp_(key, node->entry_.first)) {
        node = node->left_.get();
      } else if (comp_(node->entry_.first, key)) {
        node = node->right_.get();
      } else {
        return node;
      }
    }
    return nullptr;
  }

  // Replaces a shared node in `slot` by a private clone. The map's contents are unchanged, so
  // a throw here (allocation, K or V copy) leaves the map valid and equal to what it was.
  static void make_mutable(Ref& slot) {
    if (!slot.unique()) slot = Ref(new Node(*slot.get()));
  }

  static void update_height(Node* node) noexcept {
    node->height_ = 1 + std::max(detail::pmap_impl::height_of(node->left_),
                                 detail::pmap_impl::height_of(node->right_));
    CANOPY_ASSERT(node->height_ <= kMaxHeight, "PMap: tree deeper than kMaxHeight");
  }

  // Rotations touch only uniquely owned nodes (Ref::mut asserts it).
  static void rotate_right(Ref& slot) noexcept {
    Node* top = slot.mut();
    Ref left = std::move(top->left_);
    Node* pivot = left.mut();
    top->left_ = std::move(pivot->right_);
    update_height(top);
    pivot->right_ = std::move(slot);
    update_height(pivot);
    slot = std::move(left);
  }
  static void rotate_left(Ref& slot) noexcept {
    Node* top = slot.mut();
    Ref right = std::move(top->right_);
    Node* pivot = right.mut();
    top->right_ = std::move(pivot->left_);
    update_height(top);
    pivot->left_ = std::move(slot);
    update_height(pivot);
    slot = std::move(right);
  }

  // Restores the AVL balance of the (mutable) subtree in `slot` after one child's height
  // changed by one. Any child or grandchild that a rotation moves must be mutable too.
  static void fix(Ref& slot) noexcept {
    using detail::pmap_impl::height_of;
    Node* node = slot.mut();
    const int left_height = height_of(node->left_);
    const int right_height = height_of(node->right_);
    CANOPY_ASSERT(left_height <= right_height + 2 && right_height <= left_height + 2,
                  "PMap: imbalance beyond 2");
    if (left_height > right_height + 1) {
      const Node* left = node->left_.get();
      if (height_of(left->left_) < height_of(left->right_)) rotate_left(node->left_);
      rotate_right(slot);
    } else if (right_height > left_height + 1) {
      const Node* right = node->right_.get();
      if (height_of(right->right_) < height_of(right->left_)) rotate_right(node->right_);
      rotate_left(slot);
    } else {
      update_height(node);
    }
  }

  // Re-balances slots[depth - 1 .. 0] bottom-up, stopping once a subtree's height is unchanged
  // (then nothing above it can change).
  static void rebalance_path(const SlotPath& slots, int depth) noexcept {
    for (int i = depth - 1; i >= 0; --i) {
      Ref& slot = *slots[static_cast<std::size_t>(i)];
      const int old_height = slot->height_;
      fix(slot);
      if (slot->height_ == old_height) break;
    }
  }

  // Insert or overwrite. Strong guarantee: everything that can throw (Compare, clones, the new
  // node) happens before the first change that is not content-preserving.
  bool assign_impl(K&& key, V&& value) {
    SlotPath slots{};
    slots[0] = &root_;
    int depth = 0;
    for (; depth <= kMaxHeight && *slots[static_cast<std::size_t>(depth)]; ++depth) {
      Ref& slot = *slots[static_cast<std::size_t>(depth)];
      make_mutable(slot);
      Node* node = slot.mut();
      if (comp_(key, node->entry_.first)) {
        slots[static_cast<std::size_t>(depth) + 1] = &node->left_;
      } else if (comp_(node->entry_.first, key)) {
        slots[static_cast<std::size_t>(depth) + 1] = &node->right_;
      } else {
        node->entry_.second = std::move(value);
        return false;
      }
    }
    CANOPY_ASSERT(depth <= kMaxHeight, "PMap: tree deeper than kMaxHeight");
    Ref leaf(new Node(std::move(key), std::move(value)));
    *slots[static_cast<std::size_t>(depth)] = std::move(leaf);
    ++size_;
    rebalance_path(slots, depth);
    return true;
  }

  static std::pair<int, int> erase_rotation_plan(const Node* parent, int path_dir, int new_height);

  static Ref build_balanced(std::vector<std::pair<K, V>>& items, std::size_t first,
                            std::size_t last) {
    if (first == last) return Ref();
    const std::size_t mid = first + (last - first) / 2;
    Ref left = build_balanced(items, first, mid);
    Ref right = build_balanced(items, mid + 1, last);
    Ref node(new Node(std::move(items[mid].first), std::move(items[mid].second)));
    Node* raw = node.mut();
    raw->left_ = std::move(left);
    raw->right_ = std::move(right);
    update_height(raw);
    return node;
  }

  template <class Fn>
  static void visit_nodes(const Node* node, Fn& fn, int depth) {
    if (node == nullptr) return;
    CANOPY_ASSERT(depth < kMaxHeight, "PMap: tree deeper than kMaxHeight");
    fn(static_cast<const void*>(node));
    visit_nodes(node->left_.get(), fn, depth + 1);
    visit_nodes(node->right_.get(), fn, depth + 1);
  }

  // Returns the number of entries; checks order against the bounds, heights and balance.
  size_type check_subtree(const Node* node, const Node* low, const Node* high, int depth) const {
    if (node == nullptr) return 0;
    CANOPY_ASSERT(depth < kMaxHeight, "PMap: tree deeper than kMaxHeight");
    CANOPY_ASSERT(node->refs_.load(std::memory_order_relaxed) >= 1, "PMap: dead node in tree");
    const K& key = node->entry_.first;
    CANOPY_ASSERT(low == nullptr || comp_(low->entry_.first, key), "PMap: order violated");
    CANOPY_ASSERT(high == nullptr || comp_(key, high->entry_.first), "PMap: order violated");
    const int left_height = detail::pmap_impl::height_of(node->left_);
    const int right_height = detail::pmap_impl::height_of(node->right_);
    CANOPY_ASSERT(node->height_ == 1 + std::max(left_height, right_height), "PMap: stale height");
    CANOPY_ASSERT(left_height <= right_height + 1 && right_height <= left_height + 1,
                  "PMap: AVL balance violated");
    return 1 + check_subtree(node->left_.get(), low, node, depth + 1) +
           check_subtree(node->right_.get(), node, high, depth + 1);
  }

  Ref root_;
  size_type size_ = 0;
  [[no_unique_address]] Compare comp_{};
};

// Rotation that fix() will perform at `parent` once the child on side `path_dir` (0 = left,
// 1 = right) has height `new_height`, computed from the unchanged heights around it.
// Returns {kind, resulting subtree height}: kind 0 = none, 1 = single, 2 = double rotation.
template <class K, class V, class Compare>
std::pair<int, int> PMap<K, V, Compare>::erase_rotation_plan(const Node* parent, int path_dir,
                                                             int new_height) {
  using detail::pmap_impl::height_of;
  const Ref& sibling_ref = path_dir == 0 ? parent->right_ : parent->left_;
  const int sibling_height = height_of(sibling_ref);
  CANOPY_ASSERT(new_height <= sibling_height + 1, "PMap: erase grew a subtree");
  if (sibling_height <= new_height + 1) return {0, 1 + std::max(new_height, sibling_height)};
  const Node* sibling = sibling_ref.get();
  const Ref& outer = path_dir == 0 ? sibling->right_ : sibling->left_;
  const Ref& inner = path_dir == 0 ? sibling->left_ : sibling->right_;
  const int outer_height = height_of(outer);
  const int inner_height = height_of(inner);
  if (outer_height >= inner_height) {
    const int parent_height = 1 + std::max(new_height, inner_height);
    return {1, 1 + std::max(outer_height, parent_height)};
  }
  const Node* grand = inner.get();
  const Ref& grand_near = path_dir == 0 ? grand->left_ : grand->right_;  // moves under parent
  const Ref& grand_far = path_dir == 0 ? grand->right_ : grand->left_;   // moves under sibling
  const int parent_height = 1 + std::max(new_height, height_of(grand_near));
  const int sibling_new_height = 1 + std::max(height_of(grand_far), outer_height);
  return {2, 1 + std::max(parent_height, sibling_new_height)};
}

// Erase in four phases so that it gives the strong guarantee even though rebalancing may have
// to copy nodes off the path (siblings that a rotation moves):
//   1. locate the entry and the path to the node that is unlinked (read-only);
//   2. simulate the bottom-up height changes to learn which rotations will happen (read-only);
//   3. make the path and the siblings those rotations move privately owned (may throw, but
//      only replaces nodes by equal clones);
//   4. unlink and rebalance (noexcept, writes only private nodes).
template <class K, class V, class Compare>
bool PMap<K, V, Compare>::erase(const K& key) {
  using detail::pmap_impl::height_of;
  constexpr std::size_t kPath = kMaxHeight + 2;

  // Phase 1.
  std::array<const Node*, kPath> nodes{};
  std::array<std::uint8_t, kPath> dirs{};  // 0 = left, 1 = right
  int depth = 0;
  const Node* node = root_.get();
  for (; node != nullptr; ++depth) {
    CANOPY_ASSERT(depth < kMaxHeight, "PMap: tree deeper than kMaxHeight");
    const auto at = static_cast<std::size_t>(depth);
    nodes[at] = node;
    if (comp_(key, node->entry_.first)) {
      dirs[at] = 0;
      node = node->left_.get();
    } else if (comp_(node->entry_.first, key)) {
      dirs[at] = 1;
      node = node->right_.get();
    } else {
      break;
    }
  }
  if (node == nullptr) return false;
  const int target = depth;
  int bottom = target;  // nodes[bottom] is the node that leaves its position
  const bool two_children = node->left_ && node->right_;
  if (two_children) {  // its in-order successor (leftmost of the right subtree) replaces it
    dirs[static_cast<std::size_t>(target)] = 1;
    const Node* successor = node->right_.get();
    for (++bottom;; ++bottom) {
      CANOPY_ASSERT(bottom < kMaxHeight, "PMap: tree deeper than kMaxHeight");
      nodes[static_cast<std::size_t>(bottom)] = successor;
      if (!successor->left_) break;
      dirs[static_cast<std::size_t>(bottom)] = 0;
      successor = successor->left_.get();
    }
  }

  // Phase 2.
  std::array<std::uint8_t, kPath> rotation{};  // per level: 0 none, 1 single, 2 double
  {
    const Node* leaving = nodes[static_cast<std::size_t>(bottom)];
    int new_height = height_of(leaving->left_ ? leaving->left_ : leaving->right_);
    for (int i = bottom - 1; i >= 0; --i) {
      const auto at = static_cast<std::size_t>(i);
      const auto [kind, height] = erase_rotation_plan(nodes[at], dirs[at], new_height);
      rotation[at] = static_cast<std::uint8_t>(kind);
      if (height == nodes[at]->height_) break;  // fix() stops here too
      new_height = height;
    }
  }

  // Phase 3. The node leaving a one-child position is never written, so it is not cloned.
  SlotPath slots{};
  slots[0] = &root_;
  const int last_written = two_children ? bottom : bottom - 1;
  for (int i = 0; i <= last_written; ++i) {
    const auto at = static_cast<std::size_t>(i);
    make_mutable(*slots[at]);
    Node* parent = slots[at]->mut();
    if (i < bottom) slots[at + 1] = dirs[at] == 0 ? &parent->left_ : &parent->right_;
    if (rotation[at] != 0) {
      Ref& sibling = dirs[at] == 0 ? parent->right_ : parent->left_;
      make_mutable(sibling);
      if (rotation[at] == 2) {
        Node* sib = sibling.mut();
        make_mutable(dirs[at] == 0 ? sib->left_ : sib->right_);
      }
    }
  }
  // Every slots[0..bottom] is now set: slots[i + 1] lives in the private node at level i.

  // Phase 4 (noexcept from here on).
  const auto bottom_at = static_cast<std::size_t>(bottom);
  if (!two_children) {
    const Node* leaving = slots[bottom_at]->get();
    Ref child = leaving->left_ ? leaving->left_ : leaving->right_;  // shared copy, no write
    *slots[bottom_at] = std::move(child);
  } else {
    Ref successor = std::move(*slots[bottom_at]);
    Node* succ = successor.mut();
    *slots[bottom_at] = std::move(succ->right_);
    const auto target_at = static_cast<std::size_t>(target);
    Node* removed = slots[target_at]->mut();
    succ->left_ = std::move(removed->left_);
    succ->right_ = std::move(removed->right_);
    succ->height_ = removed->height_;
    *slots[target_at] = std::move(successor);  // releases the removed node, now childless
    slots[target_at + 1] = &succ->right_;
  }
  --size_;
  rebalance_path(slots, bottom);
  return true;
}

}  // namespace canopy

// cereal/types/map.hpp declares save/load for every class template with a mapped_type, which
// would be ambiguous with PMap's members: tell cereal to use the members.
namespace cereal {
template <class Archive, class K, class V, class Compare>
struct specialize<Archive, canopy::PMap<K, V, Compare>, specialization::member_load_save> {};
}  // namespace cereal
