// canopy/trace.hpp — what happened, as data: trace events, the trace hash, and exports.
//
// Every call, induction, execution, response and trap is a TraceEvent. Events are produced in a
// deterministic order whatever the number of threads (per canister during parallel execution,
// merged by canister id), so the trace hash is a fingerprint of a run (R20). Recording the
// events themselves is optional (Config::record_trace); the hash is always computed.
// Exports: Chrome trace-event JSON (opens in Perfetto / chrome://tracing) and an SVG timeline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/ids.hpp"

namespace canopy {

enum class TraceKind : uint8_t {
  ingress_submitted,
  request_sent,        // committed into the caller's output queue
  request_inducted,    // entered the callee's input queue
  request_rejected,    // refused at induction; a reject response goes back
  execute_request,     // a method starts executing
  execute_response,    // a response (callback) executes at the caller
  response_sent,       // a reply/reject committed at the callee
  response_dropped,    // late response of a timed-out call (R10)
  call_timed_out,      // SYS_UNKNOWN produced for a bounded-wait call (R10)
  trap,                // an execution trapped and was rolled back (R7)
  ingress_completed,
  offload_started,     // work handed to a worker pool (R22)
  offload_completed,
};

const char* to_string(TraceKind kind);

struct TraceEvent {
  TraceKind kind = TraceKind::request_sent;
  uint32_t subnet = 0;
  uint32_t iteration = 0;  // inner iteration within the round
  uint64_t round = 0;
  uint64_t time_ms = 0;
  CanisterId from;  // sender of the message (0 = ingress)
  CanisterId to;
  uint64_t call_seq = 0;     // per-caller sequence number of the call
  uint8_t reject_code = 0;   // 0 = success
  std::string label;         // method name or trap message (recorded traces only)
};

// FNV-1a fold of an event's fields (without the label; the method name is folded separately).
uint64_t trace_fold(uint64_t hash, const TraceEvent& e);
uint64_t trace_fold_bytes(uint64_t hash, const void* data, size_t n);
constexpr uint64_t trace_hash_seed = 0xcbf29ce484222325ULL;

struct TraceCanister {
  CanisterId id;
  uint32_t subnet = 0;
  std::string name;
};

struct TraceExportOptions {
  std::string title = "canopy trace";
  uint64_t round_duration_ms = 100;
  uint32_t round_iterations_max = 200;
};

// Chrome trace-event JSON: one process per subnet, one thread per canister, flow arrows for
// calls and responses. Virtual time: 1 round = round_duration_ms, iterations subdivide it.
std::string to_chrome_trace_json(const std::vector<TraceEvent>& events,
                                 const std::vector<TraceCanister>& canisters,
                                 const TraceExportOptions& options);

// SVG timeline: a lane per canister grouped by subnet, arrows for requests and responses.
std::string to_svg_timeline(const std::vector<TraceEvent>& events,
                            const std::vector<TraceCanister>& canisters,
                            const TraceExportOptions& options);

}  // namespace canopy
