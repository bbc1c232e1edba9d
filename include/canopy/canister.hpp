// canopy/canister.hpp — how a canister is written: a class with a value-type state and a
// static table of methods.
//
//   struct Counter : canopy::Canister<uint64_t> {
//     static void methods(canopy::Methods<Counter>& m) {
//       m.update("inc", &Counter::inc);
//       m.query("get", &Counter::get);
//     }
//     uint64_t inc(canopy::Ctx&) { return ++state(); }
//     uint64_t get(canopy::Ctx&) { return state(); }
//   };
//
// A method takes `Ctx&` then its arguments, and returns a value, void, NoReply, or a Task of
// those (a coroutine that may co_await calls). The state is a copyable, cereal-serializable value:
// the runtime copies it before every message to roll back traps (R7) and serializes it across
// upgrades (R9) — keep it cheap to copy (canopy::PMap/PVector for large data). An instance is
// only ever run by one thread at a time.
#pragma once

#include <cereal/archives/binary.hpp>
#include <coroutine>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "canopy/codec.hpp"
#include "canopy/ctx.hpp"
#include "canopy/detail/payload.hpp"
#include "canopy/task.hpp"

namespace canopy {

// The empty state.
struct Unit {
  template <class Archive>
  void serialize(Archive&) {}
  bool operator==(const Unit&) const = default;
};

namespace detail {

// How a finished method wants to be answered.
enum class Finish : uint8_t {
  void_return,  // reply with no payload unless the method already replied
  value,        // reply with the returned value (a second reply traps, R6)
  no_reply,     // NoReply: the method replies (or not) itself
};

// A method's root coroutine, type-erased for the runtime.
struct RootTask {
  std::coroutine_handle<> handle{};
  // When done: stores the reply into `out` and says how to answer, or rethrows the exception
  // that escaped the coroutine.
  Finish (*finish)(std::coroutine_handle<> h, Payload& out) = nullptr;
};

struct Invocation {
  enum class Kind { reply, no_reply, task } kind = Kind::reply;
  Finish finish = Finish::void_return;  // for Kind::reply
  Payload reply;
  RootTask task;
};

template <class T>
Finish finish_root(std::coroutine_handle<> h, Payload& out) {
  auto typed = std::coroutine_handle<TaskPromise<T>>::from_address(h.address());
  if constexpr (std::is_void_v<T>) {
    typed.promise().take();
    return Finish::void_return;
  } else if constexpr (std::is_same_v<T, NoReply>) {
    typed.promise().take();
    return Finish::no_reply;
  } else {
    out = encode_payload(typed.promise().take());
    return Finish::value;
  }
}

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {
  using inner = T;
};

template <class R>
Invocation wrap_result(R&& r) {
  using D = std::decay_t<R>;
  Invocation inv;
  if constexpr (is_task<D>::value) {
    inv.kind = Invocation::Kind::task;
    inv.task.handle = r.release();
    inv.task.finish = &finish_root<typename is_task<D>::inner>;
  } else if constexpr (std::is_same_v<D, NoReply>) {
    inv.kind = Invocation::Kind::no_reply;
  } else {
    inv.finish = Finish::value;
    inv.reply = encode_payload(r);
  }
  return inv;
}

}  // namespace detail

class CanisterBase;

// The method name under which Methods::heartbeat registers (R19).
inline constexpr std::string_view heartbeat_method = "canister_heartbeat";

struct MethodEntry {
  std::string_view name;  // the table's own copy of the name (set by MethodTable::add)
  MethodKind kind = MethodKind::update;
  // Decodes the arguments, calls the method, wraps its result. A plain function pointer with
  // the member function it calls stored beside it (no std::function on the hot path).
  using Invoker = detail::Invocation (*)(const MethodEntry&, CanisterBase&, Ctx&,
                                         const detail::Payload&);
  Invoker invoker = nullptr;
  alignas(std::max_align_t) unsigned char target[2 * sizeof(void*)] = {};
  detail::Invocation invoke(CanisterBase& base, Ctx& ctx, const detail::Payload& payload) const {
    return invoker(*this, base, ctx, payload);
  }
};

class MethodTable {
 public:
  void add(std::string name, MethodEntry entry);
  const MethodEntry* find(std::string_view name) const;
  size_t size() const { return methods_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, MethodEntry, Hash, std::equal_to<>> methods_;
};

// Registration helper handed to `static void C::methods(Methods<C>&)`.
template <class C>
class Methods {
 public:
  explicit Methods(MethodTable& table) : table_(table) {}

  template <class R, class... A>
  void update(std::string name, R (C::*fn)(Ctx&, A...)) {
    add(std::move(name), MethodKind::update, fn);
  }
  // R19: called by the system at the start of every round while the canister runs.
  template <class R>
  void heartbeat(R (C::*fn)(Ctx&)) {
    add(std::string(heartbeat_method), MethodKind::update, fn);
  }
  template <class R, class... A>
  void query(std::string name, R (C::*fn)(Ctx&, A...)) {
    add(std::move(name), MethodKind::query, fn);
  }
  template <class R, class... A>
  void composite_query(std::string name, R (C::*fn)(Ctx&, A...)) {
    add(std::move(name), MethodKind::composite_query, fn);
  }

 private:
  template <class R, class... A>
  void add(std::string name, MethodKind kind, R (C::*fn)(Ctx&, A...)) {
    using Fn = R (C::*)(Ctx&, A...);
    static_assert(sizeof(Fn) <= sizeof(MethodEntry::target), "member function pointer too big");
    MethodEntry e;
    e.kind = kind;
    std::memcpy(e.target, &fn, sizeof(Fn));
    e.invoker = [](const MethodEntry& entry, CanisterBase& base, Ctx& ctx,
                   const detail::Payload& payload) -> detail::Invocation {
      Fn f;
      std::memcpy(&f, entry.target, sizeof(Fn));
      auto& self = static_cast<C&>(base);
      auto args = detail::decode_view<std::decay_t<A>...>(payload.data(), payload.size());
      if constexpr (std::is_void_v<R>) {
        std::apply([&](auto&... a) { (self.*f)(ctx, std::move(a)...); }, args);
        return detail::Invocation{};
      } else {
        return detail::wrap_result(
            std::apply([&](auto&... a) -> R { return (self.*f)(ctx, std::move(a)...); }, args));
      }
    };
    table_.add(std::move(name), std::move(e));
  }
  MethodTable& table_;
};

// Type-erased canister, as the runtime holds it.
class CanisterBase {
 public:
  virtual ~CanisterBase() = default;
  virtual const MethodTable& method_table() const = 0;
  virtual std::string_view type_name() const = 0;

  // R7 rollback: copy the state aside before a message; restore it on a trap.
  virtual void save_state() = 0;
  virtual void restore_state() = 0;
  // True when saving and restoring the state does nothing (an empty state type such as Unit,
  // and save_state/restore_state not overridden): the runtime then skips both calls.
  bool stateless() const { return stateless_; }
  // R9 upgrade (and checkpoints): the state as bytes. Override pre_upgrade/post_upgrade to
  // migrate between state layouts.
  virtual Bytes serialize_state() const = 0;
  virtual void deserialize_state(const Bytes& bytes) = 0;
  virtual Bytes pre_upgrade() const { return serialize_state(); }
  virtual void post_upgrade(const Bytes& stable) { deserialize_state(stable); }
  // Queries run on a copy of the committed state (R16).
  virtual std::unique_ptr<CanisterBase> clone() const = 0;

 protected:
  bool stateless_ = false;
};

template <class State>
class Canister : public CanisterBase {
 public:
  using state_type = State;

  State& state() { return state_; }
  const State& state() const { return state_; }

  void save_state() override { backup_ = state_; }
  void restore_state() override { state_ = backup_; }
  Bytes serialize_state() const override { return encode(state_); }
  void deserialize_state(const Bytes& bytes) override { state_ = decode<State>(bytes); }

 private:
  State state_{};
  State backup_{};
};

namespace detail {
// The CRTP tail the runtime instantiates for a user class C.
template <class C>
class Hosted final : public C {
 public:
  Hosted() {
    // &C::save_state names Canister<S>'s own function unless C (or a base between) overrides it.
    using S = typename C::state_type;
    constexpr bool own_snapshots =
        std::is_same_v<decltype(&C::save_state), void (Canister<S>::*)()> &&
        std::is_same_v<decltype(&C::restore_state), void (Canister<S>::*)()>;
    this->stateless_ = std::is_empty_v<S> && own_snapshots;
  }
  const MethodTable& method_table() const override { return table(); }
  std::string_view type_name() const override { return typeid(C).name(); }
  std::unique_ptr<CanisterBase> clone() const override { return std::make_unique<Hosted>(*this); }
  static const MethodTable& table() {
    static const MethodTable t = [] {
      MethodTable tbl;
      Methods<C> m(tbl);
      C::methods(m);
      return tbl;
    }();
    return t;
  }
};
}  // namespace detail

}  // namespace canopy
