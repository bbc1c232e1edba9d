#include "canopy/trace.hpp"

#include "core/trace_hash.hpp"

namespace canopy {

const char* to_string(TraceKind kind) {
  switch (kind) {
    case TraceKind::ingress_submitted: return "ingress_submitted";
    case TraceKind::request_sent: return "request_sent";
    case TraceKind::request_inducted: return "request_inducted";
    case TraceKind::request_rejected: return "request_rejected";
    case TraceKind::execute_request: return "execute_request";
    case TraceKind::execute_response: return "execute_response";
    case TraceKind::response_sent: return "response_sent";
    case TraceKind::response_dropped: return "response_dropped";
    case TraceKind::call_timed_out: return "call_timed_out";
    case TraceKind::trap: return "trap";
    case TraceKind::ingress_completed: return "ingress_completed";
    case TraceKind::offload_started: return "offload_started";
    case TraceKind::offload_completed: return "offload_completed";
  }
  return "?";
}

uint64_t trace_fold_bytes(uint64_t hash, const void* data, size_t n) {
  return detail::fold_bytes(hash, data, n);
}

uint64_t trace_fold(uint64_t hash, const TraceEvent& e) {
  const bool label = detail::label_is_hashed(e.kind);
  return detail::fold_event_label(hash, static_cast<uint8_t>(e.kind), e.reject_code, e.subnet,
                                  e.iteration, e.round, e.from.value, e.to.value, e.call_seq,
                                  e.label.data(), label ? e.label.size() : 0);
}

}  // namespace canopy
