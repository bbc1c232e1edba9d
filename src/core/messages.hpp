// Messages that travel between canisters: requests and responses (R1-R3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "canopy/codec.hpp"
#include "canopy/detail/hooks.hpp"
#include "canopy/detail/payload.hpp"
#include "canopy/ids.hpp"
#include "canopy/reject.hpp"

namespace canopy::detail {

// The method name's copy, with std::string's construction inlined (flatten): otherwise GCC
// calls it out of line for every request (measured 2026-12-06: -13 instructions per call).
[[gnu::flatten]] inline std::string copy_method_name(std::string_view name) {
  return std::string(name);
}

struct Request {
  Request() = default;
  // A call between canisters, built in place in its output queue.
  Request(CanisterId from_, CanisterId to_, std::string_view method_, Payload&& payload_,
          uint64_t cycles_, SlotRef callback_, uint64_t call_seq_, uint64_t deadline_ms_)
      : from(from_),
        to(to_),
        method(copy_method_name(method_)),
        cycles(cycles_),
        callback(callback_),
        call_seq(call_seq_),
        deadline_ms(deadline_ms_),
        payload(std::move(payload_)) {}

  CanisterId from;  // invalid (0) for ingress
  CanisterId to;
  std::string method;
  uint64_t cycles = 0;  // R8 attached
  SlotRef callback;     // the caller's pending-call slot
  uint64_t call_seq = 0;
  uint64_t deadline_ms = 0;  // R10; 0 = unbounded wait
  IngressId ingress;         // set for ingress requests
  // Last, so that `system` takes the payload's tail padding (no_unique_address): a message
  // stays 128 bytes.
  [[no_unique_address]] Payload payload;
  bool system = false;  // a timer or heartbeat: no caller, the reply is discarded (R19)
};

struct Response {
  Response() = default;
  Response(CanisterId from_, CanisterId to_, SlotRef callback_, uint64_t call_seq_,
           Result<Payload>&& result_, uint64_t refund_)
      : from(from_),
        to(to_),
        callback(callback_),
        call_seq(call_seq_),
        result(std::move(result_)),
        refund(refund_) {}

  CanisterId from;  // the responder (callee)
  CanisterId to;    // the original caller
  SlotRef callback;
  uint64_t call_seq = 0;
  Result<Payload> result;
  uint64_t refund = 0;  // R8 cycles returned to the caller
};

using Message = std::variant<Request, Response>;
// Two cache lines per queued message (measured: each 64 bytes more cost 2-5 % of throughput).
static_assert(sizeof(Message) <= 128, "a message outgrew two cache lines");

inline CanisterId destination(const Message& m) {
  return std::visit([](const auto& x) { return x.to; }, m);
}
inline CanisterId source(const Message& m) {
  return std::visit([](const auto& x) { return x.from; }, m);
}

}  // namespace canopy::detail
