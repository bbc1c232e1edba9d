#include "canopy/trace.hpp"

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
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

namespace {
uint64_t fold_u64(uint64_t hash, uint64_t v) {
  // Word-at-a-time FNV variant: fast and order-sensitive.
  hash ^= v;
  hash *= 0x100000001b3ULL;
  hash ^= hash >> 29;
  return hash;
}
}  // namespace

uint64_t trace_fold(uint64_t hash, const TraceEvent& e) {
  hash = fold_u64(hash, static_cast<uint64_t>(e.kind) | (uint64_t{e.reject_code} << 8) |
                            (uint64_t{e.subnet} << 16) | (uint64_t{e.iteration} << 40));
  hash = fold_u64(hash, e.round);
  hash = fold_u64(hash, e.from.value);
  hash = fold_u64(hash, e.to.value);
  hash = fold_u64(hash, e.call_seq);
  return hash;
}

}  // namespace canopy
