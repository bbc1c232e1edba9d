// canopy/ctx.hpp — Ctx: what a method sees of the system while it runs.
//
// One Ctx per call context (R6); it stays valid for the whole life of the method's coroutine,
// across awaits. Use it only from that canister's code (it is not thread-safe). Calls made with
// it belong to the current message execution: if that execution traps they are rolled back with
// the state (R7). Reply/reject at most once (R6: a second reply traps).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "canopy/call.hpp"
#include "canopy/codec.hpp"
#include "canopy/ids.hpp"

namespace canopy {

enum class MethodKind : uint8_t { update, query, composite_query };

class Ctx {
 public:
  explicit Ctx(detail::CallContext* cc) : cc_(cc) {}
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;

  CanisterId self() const;
  // The calling canister; invalid (value 0) for ingress.
  CanisterId caller() const;
  bool from_ingress() const;
  SubnetId subnet() const;
  MethodKind kind() const;
  std::string_view method() const;

  // R15: the virtual time of the current round.
  uint64_t time_ms() const;
  uint64_t round() const;

  // R8 cycles.
  uint64_t balance() const;
  uint64_t cycles_available() const;  // attached to this call and not yet accepted
  uint64_t accept_cycles(uint64_t max_amount);

  // R14: charge deterministic cost units to the current execution; beyond
  // Config::message_cost_max the execution traps.
  void charge(uint64_t cost);

  // Issue a call (R1-R5, R8, R10). Args are encoded with canopy::encode.
  template <class R = void, class... Args>
  [[gnu::always_inline]] Call<R> call(CanisterId to, std::string_view method, const Args&... args) {
    return call_with<R>(CallOptions{}, to, method, args...);
  }
  template <class R = void, class... Args>
  [[gnu::always_inline]] Call<R> call_with(const CallOptions& options, CanisterId to,
                                           std::string_view method, const Args&... args) {
    // Scalars travel inline in the request (detail/payload.hpp): no buffer.
    auto issued = detail::issue_call(*cc_, to, method, detail::encode_payload(args...), options);
    return Call<R>(rt(), std::move(issued));
  }
  template <class R = void>
  Call<R> call_raw(const CallOptions& options, CanisterId to, std::string_view method,
                   Bytes payload) {
    auto issued =
        detail::issue_call(*cc_, to, method, detail::Payload(std::move(payload)), options);
    return Call<R>(rt(), std::move(issued));
  }

  // Explicit reply (R6). Methods that return a value reply automatically when they finish.
  template <class T>
  void reply(const T& value) {
    reply_raw(encode(value));
  }
  void reply() { reply_raw(Bytes{}); }
  void reply_raw(Bytes payload);
  // CANISTER_REJECT with a message (R4).
  void reject(std::string message);
  bool replied() const;

  // R19: resolves at the first round whose virtual time is at least now + ms (ms = 0: the next
  // round). Like a call, it is rolled back if the execution traps. A sleep dropped before it
  // resolved (e.g. the losing timer of with_timeout) is released at once: it keeps no call
  // context open.
  Call<void> sleep_ms(uint64_t ms);
  // R19: `co_await ctx.sleep(250ms)` — sleep_ms with a std::chrono duration. A negative duration
  // traps (canopy::Trap, "R19: sleep needs a duration >= 0").
  Call<void> sleep(std::chrono::milliseconds d);

  // R19 timers: call `method` of this canister (with no caller; its reply is discarded) once
  // after `delay_ms`, or every `period_ms`. Returns the timer id. Set/cancel take effect when
  // the current execution commits (a trap undoes them). Timers are cleared on upgrade and
  // uninstall and do not fire while the canister is stopped.
  uint64_t set_timer(uint64_t delay_ms, std::string method, Bytes args = {});
  uint64_t set_timer_interval(uint64_t period_ms, std::string method, Bytes args = {});
  void cancel_timer(uint64_t timer_id);

  // Deterministic per-canister randomness (R20).
  uint64_t random();

  detail::CallContext& context() const { return *cc_; }

 private:
  detail::CanisterRt* rt() const;
  detail::CallContext* cc_;
};

}  // namespace canopy
