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
  request_sent,      // committed into the caller's output queue
  request_inducted,  // entered the callee's input queue
  request_rejected,  // refused at induction; a reject response goes back
  execute_request,   // a method starts executing
  execute_response,  // a response (callback) executes at the caller
  response_sent,     // a reply/reject committed at the callee
  response_dropped,  // late response of a timed-out call (R10)
  call_timed_out,    // SYS_UNKNOWN produced for a bounded-wait call (R10)
  trap,              // an execution trapped and was rolled back (R7)
  ingress_completed,
  offload_started,  // work handed to a worker pool (R22)
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
  uint64_t call_seq = 0;    // per-caller sequence number of the call
  uint8_t reject_code = 0;  // 0 = success
  std::string label;        // method name or trap message (recorded traces only)
};

// Fold of one event into a running hash: a canister's trace hash is the fold of its events in
// order, starting from trace_hash_seed (not cryptographic: it detects runs that diverge). The
// label is folded too, except for request_inducted and execute_request: their request's method
// name was already folded by its request_sent event. trace_fold_bytes folds raw bytes (the
// runtime folds per-canister hashes with it).
uint64_t trace_fold(uint64_t hash, const TraceEvent& e);
uint64_t trace_fold_bytes(uint64_t hash, const void* data, size_t n);
constexpr uint64_t trace_hash_seed = 0xcbf29ce484222325ULL;

struct TraceCanister {
  CanisterId id;
  uint32_t subnet = 0;
  std::string name;
};

// ---- exports ----
//
// Both exports place an event in virtual time (R15): round r, inner iteration i starts at
//   r * round_duration_ms + i * round_duration_ms / round_iterations_max,
// and the executions of one canister within one iteration are spread evenly over that iteration,
// in the order they ran. Events a message execution commits (request_sent, response_sent, ...)
// sit inside that execution; inductions from another subnet, ingress and timeouts at the start of
// the iteration, same-subnet inductions at its end. Each run's time starts at its first round.
// Both exports are pure functions of their input: the same trace gives the same bytes (R20).

struct TraceExportOptions {
  std::string title = "canopy trace";
  // Copy these from the Config of the run(s) being exported.
  uint64_t round_duration_ms = 100;
  uint32_t round_iterations_max = 200;

  // SVG only.
  uint32_t svg_width_px = 1200;
  // Arrows drawn per panel and direction. Arrows that land on the same pixels are drawn once
  // (thicker, with a count); beyond this many every k-th call is drawn, and the panel says so.
  uint32_t svg_arrows_max = 400;
  // true: every panel uses the same time scale, so durations can be compared across panels;
  // false: each panel fills the width.
  bool svg_shared_time_axis = true;
};

// One run (one Runtime) to export: its recorded events (Runtime::trace()) and the canisters to
// show (Runtime::trace_canisters(), possibly renamed and reordered: lanes follow this order
// within each subnet, subnets ascending).
struct TraceRun {
  std::string title;  // e.g. "2 subnets · parallel · 90 calls"
  std::vector<TraceEvent> events;
  std::vector<TraceCanister> canisters;
};

// Chrome trace-event JSON (opens in Perfetto, ui.perfetto.dev, and chrome://tracing). One process
// per (run, subnet), named "<run title> · subnet sN"; one thread per canister. Executions are
// slices (name: the method, or "callback <- cN"); everything else is an instant event; flow
// arrows join request_sent to the callee's execute_request and response_sent (or a refusal at
// induction) to the caller's execute_response; a counter track per caller shows the calls in
// flight. Timestamps are virtual microseconds; all runs start at virtual time 0, so runs of the
// same scenario line up for comparison.
std::string to_chrome_trace_json(const std::vector<TraceRun>& runs,
                                 const TraceExportOptions& options);
std::string to_chrome_trace_json(const std::vector<TraceEvent>& events,
                                 const std::vector<TraceCanister>& canisters,
                                 const TraceExportOptions& options);

// SVG timeline: one panel per run, stacked. In a panel, one lane per canister grouped by subnet;
// each call is an arrow from the caller's lane at request_sent to the callee's lane at
// execute_request (blue), its response an arrow back from response_sent (or the refusal at
// induction) to execute_response (green; red when it is a reject); synchronous failures are red
// crosses on the caller's lane with their count and code; executions are grey ticks; the ingress
// message is a triangle where it starts and a dashed line where it is answered ("answered after
// N rounds"). Arrows overlapping in time between the same lanes get one "×N" label. Under the
// lanes, step lines count the replies received and the calls failed so far: sequential calls
// climb a ramp of steps, parallel ones jump. Time runs from the start of each panel's first
// round. With svg_shared_time_axis, a panel shorter than a quarter of the axis is also drawn
// enlarged in an inset on its right. Each lane is an element
// `<g class="lane" data-canister="cN" data-subnet="S">`, each panel `<g class="panel" ...>`.
std::string to_svg_timeline(const std::vector<TraceRun>& runs, const TraceExportOptions& options);
std::string to_svg_timeline(const std::vector<TraceEvent>& events,
                            const std::vector<TraceCanister>& canisters,
                            const TraceExportOptions& options);

}  // namespace canopy
