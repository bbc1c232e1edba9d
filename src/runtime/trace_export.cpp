// Trace exports (canopy/trace.hpp): Chrome trace-event JSON and an SVG timeline.
//
// Both are pure functions of the recorded events: no clock, no randomness, ordered containers
// only, so the same trace always gives the same bytes (R20). Both place events in virtual time
// the same way (see `place` below).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "canopy/assert.hpp"
#include "canopy/reject.hpp"
#include "canopy/trace.hpp"

namespace canopy {
namespace {

// ============================================================================================
// Placement in virtual time.
//
// Round r, iteration i starts at r * D + i * W (D = round duration, W = D / iterations). Within
// an iteration, the executions of one canister are spread over [0.1 W, 0.9 W) in the order they
// ran; what an execution commits (calls, replies, synchronous failures, traps) sits in the middle
// of that execution; inductions from another subnet, ingress and timeouts (which happen when the
// round starts) are spread over [0.01 W, 0.09 W), inductions from the same subnet (which happen
// after the iteration's executions) over [0.91 W, 0.99 W).

enum class Slot : uint8_t { execution, in_execution, iteration_start, iteration_end };

constexpr double exec_window_begin = 0.10;
constexpr double exec_window_size = 0.80;
constexpr double exec_fill = 0.90;  // fraction of an execution's slot its slice covers
constexpr double start_window_begin = 0.01;
constexpr double end_window_begin = 0.91;
constexpr double edge_window_size = 0.08;

bool is_execution(TraceKind k) {
  return k == TraceKind::execute_request || k == TraceKind::execute_response;
}

// A synchronous failure is recorded by the caller with call_seq 0 (no call was made); a refusal
// at induction by the callee, with the call's sequence number (which starts at 1).
bool is_sync_failure(const TraceEvent& e) {
  return e.kind == TraceKind::request_rejected && e.call_seq == 0;
}

// The canister on whose lane/thread an event is drawn: the one that recorded it.
CanisterId owner_of(const TraceEvent& e) {
  switch (e.kind) {
    case TraceKind::request_sent:
    case TraceKind::response_sent:
    case TraceKind::ingress_completed:
      return e.from;
    case TraceKind::request_rejected:
      return is_sync_failure(e) ? e.from : e.to;
    case TraceKind::offload_started:
    case TraceKind::offload_completed:
      return e.to.valid() ? e.to : e.from;
    default:
      return e.to;
  }
}

// The caller of the call an event belongs to, for matching requests with responses.
CanisterId caller_of(const TraceEvent& e) {
  switch (e.kind) {
    case TraceKind::request_sent:
    case TraceKind::request_inducted:
    case TraceKind::request_rejected:
    case TraceKind::execute_request:
      return e.from;
    default:
      return e.to;
  }
}

struct Placed {
  double t_us = 0;    // virtual microseconds since the run's origin
  double dur_us = 0;  // executions and slot-spread events: the room they occupy
  CanisterId owner;
  Slot slot = Slot::in_execution;
};

struct Placement {
  std::vector<Placed> at;  // parallel to the events
  double origin_us = 0;    // start of the run's first round, subtracted from every time
  double end_us = 0;       // end of the last iteration with an event (relative)
  uint64_t first_round = 0;
  uint64_t last_round = 0;
};

struct Timebase {
  double round_us;
  double iteration_us;
  explicit Timebase(const TraceExportOptions& o)
      : round_us(static_cast<double>(o.round_duration_ms) * 1000.0),
        iteration_us(round_us / static_cast<double>(std::max<uint32_t>(1, o.round_iterations_max))) {}
  double iteration_start(const TraceEvent& e) const {
    return static_cast<double>(e.round) * round_us + static_cast<double>(e.iteration) * iteration_us;
  }
};

Placement place(const std::vector<TraceEvent>& events, const TraceExportOptions& options) {
  const Timebase tb(options);
  Placement p;
  p.at.resize(events.size());
  if (events.empty()) return p;

  // The subnet of every canister that recorded something: tells inductions from another subnet
  // (start of the round) from same-subnet ones (end of the iteration).
  std::map<uint64_t, uint32_t> subnet_of;
  p.first_round = events.front().round;
  p.last_round = events.front().round;
  for (const auto& e : events) {
    subnet_of.emplace(owner_of(e).value, e.subnet);
    p.first_round = std::min(p.first_round, e.round);
    p.last_round = std::max(p.last_round, e.round);
  }
  p.origin_us = static_cast<double>(p.first_round) * tb.round_us;

  auto slot_of = [&](const TraceEvent& e) {
    if (is_execution(e.kind)) return Slot::execution;
    switch (e.kind) {
      case TraceKind::request_sent:
      case TraceKind::response_sent:
      case TraceKind::ingress_completed:
      case TraceKind::trap:
      case TraceKind::offload_started:
        return Slot::in_execution;
      case TraceKind::request_rejected:
        if (is_sync_failure(e)) return Slot::in_execution;
        [[fallthrough]];
      case TraceKind::request_inducted:
      case TraceKind::response_dropped: {
        auto it = subnet_of.find(e.from.value);
        const bool remote = it != subnet_of.end() && it->second != e.subnet;
        return remote ? Slot::iteration_start : Slot::iteration_end;
      }
      default:  // ingress_submitted, call_timed_out, offload_completed: at the round's start
        return Slot::iteration_start;
    }
  };

  using Key = std::tuple<uint64_t, uint64_t, uint32_t, uint8_t>;  // owner, round, iteration, slot
  std::map<Key, uint32_t> count;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    p.at[i].owner = owner_of(e);
    p.at[i].slot = slot_of(e);
    if (p.at[i].slot != Slot::in_execution)
      ++count[Key{p.at[i].owner.value, e.round, e.iteration, static_cast<uint8_t>(p.at[i].slot)}];
  }

  struct Current {
    uint64_t round = UINT64_MAX;
    uint32_t iteration = 0;
    double t_us = 0;
    double dur_us = 0;
  };
  std::map<uint64_t, Current> current;  // per owner: the execution running now
  std::map<Key, uint32_t> index;
  const double w = tb.iteration_us;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    Placed& pl = p.at[i];
    const double base = tb.iteration_start(e) - p.origin_us;
    const Key key{pl.owner.value, e.round, e.iteration, static_cast<uint8_t>(pl.slot)};
    switch (pl.slot) {
      case Slot::execution: {
        const uint32_t k = index[key]++;
        const double slot = exec_window_size * w / count[key];
        pl.t_us = base + exec_window_begin * w + k * slot;
        pl.dur_us = exec_fill * slot;
        current[pl.owner.value] = Current{e.round, e.iteration, pl.t_us, pl.dur_us};
        break;
      }
      case Slot::in_execution: {
        auto it = current.find(pl.owner.value);
        if (it != current.end() && it->second.round == e.round &&
            it->second.iteration == e.iteration) {
          pl.t_us = it->second.t_us + 0.5 * it->second.dur_us;
        } else {
          pl.t_us = base + 0.5 * w;  // outside any execution (not expected): mid-iteration
        }
        break;
      }
      case Slot::iteration_start:
      case Slot::iteration_end: {
        const uint32_t k = index[key]++;
        const double slot = edge_window_size * w / count[key];
        const double begin = pl.slot == Slot::iteration_start ? start_window_begin : end_window_begin;
        pl.t_us = base + begin * w + k * slot;
        pl.dur_us = 0.5 * slot;
        break;
      }
    }
    p.end_us = std::max(p.end_us, base + w);
  }
  return p;
}

std::string code_name(uint8_t code) {
  return std::string(to_string(static_cast<RejectCode>(code)));
}

// Rounded to nanoseconds so that the JSON numbers stay short.
double ts(double us) { return std::round(us * 1000.0) / 1000.0; }

// ============================================================================================
// Chrome trace-event JSON.

constexpr uint32_t pids_per_run = 1025;  // Config::subnets is at most 1024

std::string chrome_json(const std::vector<TraceRun>& runs, const TraceExportOptions& options) {
  using nlohmann::json;
  std::vector<json> out;
  uint64_t next_flow = 1;

  for (size_t r = 0; r < runs.size(); ++r) {
    const TraceRun& run = runs[r];
    const Placement pl = place(run.events, options);
    auto pid_of = [&](uint32_t subnet) {
      return static_cast<uint64_t>(r) * pids_per_run + subnet + 1;
    };

    // Processes (subnets) and threads (canisters): the listed ones in order, then any other
    // canister that recorded events.
    std::map<uint64_t, std::pair<uint32_t, std::string>> threads;  // id -> (subnet, name)
    std::vector<uint64_t> thread_order;
    for (const auto& c : run.canisters) {
      if (threads.emplace(c.id.value, std::make_pair(c.subnet, c.name)).second)
        thread_order.push_back(c.id.value);
    }
    for (size_t i = 0; i < run.events.size(); ++i) {
      const CanisterId o = pl.at[i].owner;
      if (o.valid() && threads.emplace(o.value, std::make_pair(run.events[i].subnet, o.to_string())).second)
        thread_order.push_back(o.value);
    }
    std::set<uint32_t> subnets;
    for (const auto& [id, t] : threads) subnets.insert(t.first);
    const std::string prefix = run.title.empty() ? std::string() : run.title + " \xC2\xB7 ";
    for (uint32_t s : subnets) {
      out.push_back(json{{"ph", "M"}, {"name", "process_name"}, {"pid", pid_of(s)}, {"tid", 0},
                         {"args", {{"name", fmt::format("{}subnet s{}", prefix, s)}}}});
      out.push_back(json{{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pid_of(s)},
                         {"tid", 0}, {"args", {{"sort_index", pid_of(s)}}}});
    }
    for (size_t k = 0; k < thread_order.size(); ++k) {
      const auto& [subnet, name] = threads[thread_order[k]];
      out.push_back(json{{"ph", "M"}, {"name", "thread_name"}, {"pid", pid_of(subnet)},
                         {"tid", thread_order[k]}, {"args", {{"name", name}}}});
      out.push_back(json{{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", pid_of(subnet)},
                         {"tid", thread_order[k]}, {"args", {{"sort_index", k}}}});
    }

    // One flow per (caller, call_seq, request or response); a flow end is written only after
    // its start, so every flow id in the file has both.
    std::map<std::tuple<uint64_t, uint64_t, bool>, uint64_t> flow_of;
    std::map<uint64_t, int64_t> in_flight;  // per caller
    std::set<std::pair<uint64_t, uint64_t>> outstanding;

    for (size_t i = 0; i < run.events.size(); ++i) {
      const TraceEvent& e = run.events[i];
      const Placed& p = pl.at[i];
      if (!p.owner.valid()) continue;
      const uint64_t pid = pid_of(threads[p.owner.value].first);
      const uint64_t tid = p.owner.value;
      json args{{"round", e.round}, {"iteration", e.iteration},
                {"from", e.from.valid() ? e.from.to_string() : "ingress"},
                {"to", e.to.valid() ? e.to.to_string() : "ingress"}, {"call_seq", e.call_seq}};
      if (e.reject_code != 0) args["reject"] = code_name(e.reject_code);
      if (!e.label.empty()) args["label"] = e.label;

      auto instant = [&](std::string name) {
        out.push_back(json{{"ph", "i"}, {"s", "t"}, {"name", std::move(name)}, {"cat", to_string(e.kind)},
                           {"ts", ts(p.t_us)}, {"pid", pid}, {"tid", tid}, {"args", args}});
      };
      auto slice = [&](std::string name, const char* cat) {
        out.push_back(json{{"ph", "X"}, {"name", std::move(name)}, {"cat", cat},
                           {"ts", ts(p.t_us)}, {"dur", ts(p.dur_us)}, {"pid", pid},
                           {"tid", tid}, {"args", args}});
      };
      auto flow = [&](const char* ph, const char* cat, double at) {
        const std::tuple<uint64_t, uint64_t, bool> key{caller_of(e).value, e.call_seq,
                                                       std::string_view(cat) == "request"};
        uint64_t id = 0;
        if (ph[0] == 's') {
          id = next_flow++;
          flow_of[key] = id;
        } else {
          auto it = flow_of.find(key);
          if (it == flow_of.end()) return;
          id = it->second;
          flow_of.erase(it);
        }
        json f{{"ph", ph}, {"name", cat}, {"cat", cat}, {"id", id}, {"ts", ts(at)},
               {"pid", pid}, {"tid", tid}};
        if (ph[0] == 'f') f["bp"] = "e";
        out.push_back(std::move(f));
      };
      auto counter = [&](uint64_t caller, double at) {
        out.push_back(json{{"ph", "C"}, {"name", "calls in flight \xC2\xB7 " + threads[caller].second},
                           {"ts", ts(at)}, {"pid", pid}, {"tid", tid},
                           {"args", {{"calls", in_flight[caller]}}}});
      };
      // Flow ends bind to the slice that encloses them: a little after the slice starts.
      const double inside = p.t_us + 0.1 * p.dur_us;

      switch (e.kind) {
        case TraceKind::execute_request: {
          std::string name = e.label.empty() ? std::string("request") : e.label;
          if (!e.from.valid()) name += " (ingress)";
          slice(std::move(name), "execution");
          if (e.from.valid()) flow("f", "request", inside);
          break;
        }
        case TraceKind::execute_response: {
          std::string name = "callback <- " + e.from.to_string();
          if (e.reject_code != 0) name += " (reject " + code_name(e.reject_code) + ")";
          slice(std::move(name), "execution");
          flow("f", "response", inside);
          if (outstanding.erase({e.to.value, e.call_seq}) > 0) {
            --in_flight[e.to.value];
            counter(e.to.value, p.t_us);
          }
          break;
        }
        case TraceKind::request_sent:
          instant(fmt::format("call -> {} {}", e.to.to_string(), e.label));
          flow("s", "request", p.t_us);
          if (outstanding.insert({e.from.value, e.call_seq}).second) {
            ++in_flight[e.from.value];
            counter(e.from.value, p.t_us);
          }
          break;
        case TraceKind::response_sent:
          instant(e.reject_code == 0 ? "reply -> " + e.to.to_string()
                                     : "reject -> " + e.to.to_string() + " (" +
                                           code_name(e.reject_code) + ")");
          flow("s", "response", p.t_us);
          break;
        case TraceKind::request_rejected:
          if (is_sync_failure(e)) {
            instant(fmt::format("call to {} failed: {}", e.to.to_string(), code_name(e.reject_code)));
          } else {
            // A short slice, so that the reject's flow arrow has a slice to start from.
            slice(fmt::format("refused request from {}: {}", e.from.to_string(),
                              code_name(e.reject_code)),
                  "induction");
            flow("s", "response", p.t_us + 0.5 * p.dur_us);
          }
          break;
        case TraceKind::request_inducted:
          instant("inducted <- " + e.from.to_string());
          break;
        case TraceKind::trap:
          instant("trap: " + e.label);
          break;
        case TraceKind::ingress_submitted:
          instant("ingress " + e.label);
          break;
        case TraceKind::ingress_completed:
          instant(e.reject_code == 0 ? std::string("ingress replied")
                                     : "ingress rejected (" + code_name(e.reject_code) + ")");
          break;
        default:
          instant(to_string(e.kind));
          break;
      }
    }
  }

  json meta{{"generator", "canopy"},
            {"title", options.title},
            {"time", "virtual: 1 round = round_duration_ms; runs start at 0"},
            {"round_duration_ms", options.round_duration_ms},
            {"round_iterations_max", options.round_iterations_max},
            {"runs", runs.size()}};
  std::string s = "{\"displayTimeUnit\":\"ms\",\"otherData\":" + meta.dump() + ",\"traceEvents\":[";
  for (size_t i = 0; i < out.size(); ++i) {
    s += i == 0 ? "\n" : ",\n";
    s += out[i].dump();
  }
  s += "\n]}\n";
  return s;
}

// ============================================================================================
// SVG timeline.
//
// A panel per run: a header, one lane per canister grouped by subnet, a strip with the replies
// received (and the calls failed) so far, and a time axis in rounds. Everything is first
// collected in virtual time and then drawn through an x mapping, so that a panel much shorter
// than the shared axis can be drawn a second time, enlarged, in an inset on its right.

constexpr double svg_left_px = 190;     // lane labels
constexpr double svg_right_px = 100;    // counts at the end of the step lines
constexpr double svg_lane_px = 34;
constexpr double svg_group_pad_px = 8;  // above and below the lanes of one subnet
constexpr double svg_group_gap_px = 6;
constexpr double svg_panel_header_px = 46;
constexpr double svg_strip_gap_px = 8;  // between the lanes and the step lines
constexpr double svg_strip_px = 54;     // the step lines
constexpr double svg_inset_axis_px = 18;  // the inset's own tick labels, under the step lines
constexpr double svg_axis_px = 40;
constexpr double svg_panel_gap_px = 20;
constexpr double svg_doc_header_px = 64;
constexpr double svg_tick_spacing_px = 70;    // minimum distance between labelled axis ticks
constexpr uint32_t svg_count_labels_max = 8;  // "×N" labels per panel and kind
constexpr double svg_zoom_below = 0.25;  // a panel shorter than this part of the axis gets an inset
constexpr double svg_zoom_from = 0.40;   // the inset covers the plot from here to its right end

const char* const color_request = "#1f77b4";
const char* const color_reply = "#2ca02c";
const char* const color_reject = "#d62728";
const char* const color_exec = "#8c8c8c";
const char* const color_step = "#333333";
const char* const color_zoom = "#8a94a6";

std::string xml_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') o += c;
    }
  }
  return o;
}

// 1, 2, 5 x 10^k: the smallest such step >= x.
double nice_step(double x) {
  if (!(x > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(x)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= x * (1 - 1e-9)) return m * p;
  }
  return 10 * p;
}

std::string plural(uint64_t n, const char* word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

enum class ArrowKind : uint8_t { request, reply, reject };

const char* arrow_color(ArrowKind k) {
  return k == ArrowKind::request ? color_request : k == ArrowKind::reply ? color_reply : color_reject;
}
const char* arrow_marker(ArrowKind k) {
  return k == ArrowKind::request ? "req" : k == ArrowKind::reply ? "rep" : "rej";
}

struct PanelStats {
  uint64_t requests = 0, replies = 0, rejects = 0, sync_failures = 0, traps = 0;
};

struct Lane {
  CanisterId id;
  uint32_t subnet = 0;
  std::string name;
  double y = 0;  // centre, relative to the panel
};

// What a panel shows, in virtual time (microseconds since the panel's first round).
struct Content {
  struct Call {
    ArrowKind kind;
    double t1;
    size_t lane1;
    double t2;
    size_t lane2;
  };
  struct Mark {
    size_t lane;
    double t;
    uint8_t code = 0;
  };
  struct Ingress {
    size_t lane;
    double t;
    bool answered;
    uint64_t rounds;  // from submission to answer, both included
    uint8_t code;
  };
  std::vector<Call> calls;
  std::vector<Mark> executions, sync_failures, traps;
  std::vector<Ingress> ingress;
  std::vector<double> replies;   // ok responses executed
  std::vector<double> failures;  // synchronous failures and reject responses executed
  PanelStats st;
};

struct Panel {
  const TraceRun* run = nullptr;
  Placement placement;
  Content content;
  std::vector<Lane> lanes;
  std::map<uint64_t, size_t> lane_of;  // canister id -> lanes index
  struct Group {
    uint32_t subnet;
    double top, bottom;
  };
  std::vector<Group> groups;
  double lanes_top = 0, lanes_bottom = 0;
  double strip_top = 0, strip_bottom = 0, axis_y = 0;
  double height = 0;
  double span_us = 0;  // the panel's own extent: its last iteration, rounded up
};

Content collect(const Panel& p) {
  Content c;
  const TraceRun& run = *p.run;
  struct Pending {
    double t;
    size_t lane;
  };
  std::map<std::pair<uint64_t, uint64_t>, Pending> sent, answered;  // (caller, seq) -> start
  std::map<uint64_t, uint64_t> ingress_round;                       // ingress id -> round
  for (size_t i = 0; i < run.events.size(); ++i) {
    const TraceEvent& e = run.events[i];
    const Placed& pl = p.placement.at[i];
    auto lane_it = p.lane_of.find(pl.owner.value);
    if (lane_it == p.lane_of.end()) continue;
    const size_t lane = lane_it->second;
    const double t = pl.t_us;
    const std::pair<uint64_t, uint64_t> call{caller_of(e).value, e.call_seq};
    switch (e.kind) {
      case TraceKind::request_sent:
        ++c.st.requests;
        sent[call] = Pending{t, lane};
        break;
      case TraceKind::execute_request: {
        c.executions.push_back({lane, t});
        auto it = sent.find(call);
        if (e.from.valid() && it != sent.end()) {
          c.calls.push_back({ArrowKind::request, it->second.t, it->second.lane, t, lane});
          sent.erase(it);
        }
        break;
      }
      case TraceKind::response_sent:
        answered[call] = Pending{t, lane};
        break;
      case TraceKind::request_rejected:
        if (is_sync_failure(e)) {
          ++c.st.sync_failures;
          c.sync_failures.push_back({lane, t, e.reject_code});
          c.failures.push_back(t);
        } else {
          answered[call] = Pending{t, lane};
        }
        break;
      case TraceKind::execute_response: {
        c.executions.push_back({lane, t});
        if (e.reject_code == 0) {
          ++c.st.replies;
          c.replies.push_back(t);
        } else {
          ++c.st.rejects;
          c.failures.push_back(t);
        }
        auto it = answered.find(call);
        if (it != answered.end()) {
          c.calls.push_back({e.reject_code == 0 ? ArrowKind::reply : ArrowKind::reject,
                             it->second.t, it->second.lane, t, lane});
          answered.erase(it);
        }
        break;
      }
      case TraceKind::trap:
        ++c.st.traps;
        c.traps.push_back({lane, t});
        break;
      case TraceKind::ingress_submitted:
        ingress_round[e.call_seq] = e.round;
        c.ingress.push_back({lane, t, false, 0, 0});
        break;
      case TraceKind::ingress_completed: {
        auto it = ingress_round.find(e.call_seq);
        const uint64_t rounds = it == ingress_round.end() ? 0 : e.round - it->second + 1;
        c.ingress.push_back({lane, t, true, rounds, e.reject_code});
        break;
      }
      default:
        break;
    }
  }
  std::sort(c.replies.begin(), c.replies.end());
  std::sort(c.failures.begin(), c.failures.end());
  return c;
}

Panel layout_panel(const TraceRun& run, const TraceExportOptions& options) {
  const Timebase tb(options);
  Panel p;
  p.run = &run;
  p.placement = place(run.events, options);
  std::set<uint32_t> subnets;
  for (const auto& c : run.canisters) subnets.insert(c.subnet);
  double y = svg_panel_header_px;
  p.lanes_top = y;
  for (uint32_t s : subnets) {
    const double top = y;
    y += svg_group_pad_px;
    for (const auto& c : run.canisters) {
      if (c.subnet != s || p.lane_of.count(c.id.value) > 0) continue;
      p.lane_of[c.id.value] = p.lanes.size();
      p.lanes.push_back(Lane{c.id, c.subnet, c.name.empty() ? c.id.to_string() : c.name,
                             y + svg_lane_px / 2});
      y += svg_lane_px;
    }
    y += svg_group_pad_px;
    p.groups.push_back(Panel::Group{s, top, y});
    y += svg_group_gap_px;
  }
  p.lanes_bottom = y - svg_group_gap_px;
  p.strip_top = p.lanes_bottom + svg_strip_gap_px;
  p.strip_bottom = p.strip_top + svg_strip_px;
  p.axis_y = p.strip_bottom + svg_inset_axis_px;
  p.height = p.axis_y + svg_axis_px;
  // The panel's extent: whole rounds when it spans one or more, else whole iterations.
  const double end = std::max(p.placement.end_us, tb.iteration_us);
  p.span_us = end >= tb.round_us ? std::ceil(end / tb.round_us - 1e-9) * tb.round_us
                                     : std::ceil(end / tb.iteration_us - 1e-9) * tb.iteration_us;
  p.content = collect(p);
  return p;
}

// Maps virtual time onto [x0, x0 + width] for times in [0, span].
struct XMap {
  double x0, width, span;
  double operator()(double t_us) const { return x0 + std::clamp(t_us / span, 0.0, 1.0) * width; }
};

std::string tick_label(double t_us, double step_us, const Timebase& tb) {
  if (step_us >= tb.round_us * (1 - 1e-9)) return fmt::format("{:g}", std::round(t_us / tb.round_us * 1e6) / 1e6);
  return fmt::format("{:g} ms", std::round(t_us / 1000.0 * 1e6) / 1e6);
}

// Grid lines from y_top to y_bottom and tick labels at y_label, for [0, xm.span].
void draw_ticks(std::string& o, const XMap& xm, double y_top, double y_bottom, double y_label,
                const Timebase& tb, const char* label_class) {
  auto out = std::back_inserter(o);
  const double px_per_us = xm.width / xm.span;
  // Whole rounds when a round is wide enough, else milliseconds.
  double step = nice_step(svg_tick_spacing_px / std::max(tb.round_us * px_per_us, 1e-9)) * tb.round_us;
  if (tb.round_us * px_per_us * 20 < svg_tick_spacing_px || xm.span < 2 * tb.round_us) {
    step = nice_step(svg_tick_spacing_px / px_per_us / 1000.0) * 1000.0;
  }
  o += "<g class=\"grid\" stroke=\"#e3e3e3\">";
  for (double t = step; t < xm.span * (1 - 1e-9) && t / step <= 100; t += step) {
    fmt::format_to(out, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>", xm(t),
                   y_top, y_bottom);
  }
  o += "</g>\n";
  for (double t = 0; t <= xm.span * (1 + 1e-9) && t / step <= 100; t += step) {
    fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"{}\">{}</text>", xm(t), y_label,
                   label_class, tick_label(t, step, tb));
  }
  o += "\n";
}

// Draws a panel's content through `xm`. `labels`: counts, failure notes and the ingress note.
void draw_content(std::string& o, const Panel& p, const XMap& xm, const TraceExportOptions& options,
                  bool labels) {
  const Content& c = p.content;
  auto out = std::back_inserter(o);
  auto lane_y = [&](size_t lane) { return p.lanes[lane].y; };

  // Executions: grey ticks, merged into runs of adjacent pixels.
  std::map<std::pair<size_t, long>, uint32_t> exec_px;
  for (const auto& m : c.executions) ++exec_px[{m.lane, std::lround(xm(m.t))}];
  o += "<g class=\"executions\" fill=\"" + std::string(color_exec) + "\">";
  for (auto it = exec_px.begin(); it != exec_px.end();) {
    const size_t lane = it->first.first;
    const long start = it->first.second;
    long end = start;
    auto next = std::next(it);
    while (next != exec_px.end() && next->first.first == lane && next->first.second <= end + 1) {
      end = next->first.second;
      ++next;
    }
    fmt::format_to(out, "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"10\"/>",
                   static_cast<double>(start) - 0.5, lane_y(lane) - 5,
                   static_cast<double>(end - start) + 1.0);
    it = next;
  }
  o += "</g>\n";

  // Arrows: the ones that land on the same (half) pixels are drawn once, thicker, with a count;
  // beyond svg_arrows_max distinct arrows of a kind, every k-th is drawn.
  struct Arrow {
    ArrowKind kind;
    double x1, y1, x2, y2;
    uint32_t count;
  };
  std::vector<Arrow> arrows;
  std::map<std::tuple<uint8_t, long, size_t, long, size_t>, size_t> index;
  for (const auto& call : c.calls) {
    if (call.lane1 == call.lane2) continue;  // a canister calling itself: no arrow to draw
    const double x1 = xm(call.t1), x2 = xm(call.t2);
    const auto key = std::make_tuple(static_cast<uint8_t>(call.kind), std::lround(x1 * 2), call.lane1,
                                     std::lround(x2 * 2), call.lane2);
    auto [it, inserted] = index.try_emplace(key, arrows.size());
    if (inserted) {
      arrows.push_back(Arrow{call.kind, x1, lane_y(call.lane1), x2, lane_y(call.lane2), 1});
    } else {
      ++arrows[it->second].count;
    }
  }
  std::map<uint8_t, size_t> distinct, every;
  for (const auto& a : arrows) ++distinct[static_cast<uint8_t>(a.kind)];
  for (const auto& [kind, n] : distinct) {
    const size_t cap = std::max<uint32_t>(1, options.svg_arrows_max);
    every[kind] = n > cap ? (n + cap - 1) / cap : 1;
  }
  std::map<uint8_t, size_t> seen;
  o += "<g class=\"arrows\" fill=\"none\" stroke-opacity=\"0.85\" stroke-width=\"1.1\">\n";
  for (const auto& a : arrows) {
    const uint8_t k = static_cast<uint8_t>(a.kind);
    if (seen[k]++ % every[k] != 0) continue;
    const double sw = std::min(4.5, 1.1 + 1.1 * std::log10(static_cast<double>(a.count)));
    // Colour and arrow head come from the class (see the style sheet): small files.
    fmt::format_to(out, "<line class=\"a-{}\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"",
                   arrow_marker(a.kind), a.x1, a.y1, a.x2, a.y2);
    if (a.count > 1) fmt::format_to(out, " stroke-width=\"{:.2f}\"", sw);
    o += "/>\n";
  }
  o += "</g>\n";
  if (labels) {
    // Counts: arrows between the same lanes that overlap in time (a burst, a fan) share one
    // label; one after the other (sequential calls) they get none.
    struct Cluster {
      ArrowKind kind;
      double x, y;  // label position
      uint64_t count;
    };
    std::vector<size_t> order(arrows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t i, size_t j) {
      const Arrow& a = arrows[i];
      const Arrow& b = arrows[j];
      return std::tie(a.kind, a.y1, a.y2, a.x1, i) < std::tie(b.kind, b.y1, b.y2, b.x1, j);
    });
    std::vector<Cluster> clusters;
    double group_end = 0, weighted_x = 0;
    const Arrow* first = nullptr;
    auto close_group = [&]() {
      if (first == nullptr || clusters.back().count < 2) return;
      Cluster& cl = clusters.back();
      cl.x = weighted_x / static_cast<double>(cl.count) + 6;
    };
    for (size_t i : order) {
      const Arrow& a = arrows[i];
      const bool joins = first != nullptr && a.kind == first->kind && a.y1 == first->y1 &&
                         a.y2 == first->y2 && a.x1 < group_end;
      if (!joins) {
        close_group();
        first = &a;
        const bool up = a.y2 < a.y1;
        clusters.push_back(Cluster{a.kind, 0, (a.y1 + a.y2) / 2 + (up ? 10 : -3), 0});
        group_end = a.x2;
        weighted_x = 0;
      }
      group_end = std::max(group_end, a.x2);
      weighted_x += (a.x1 + a.x2) / 2 * static_cast<double>(a.count);
      clusters.back().count += a.count;
    }
    close_group();
    std::stable_sort(clusters.begin(), clusters.end(),
                     [](const Cluster& a, const Cluster& b) { return a.count > b.count; });
    std::map<uint8_t, uint32_t> per_kind;
    for (const Cluster& cl : clusters) {
      if (cl.count < 2) break;
      if (per_kind[static_cast<uint8_t>(cl.kind)]++ >= svg_count_labels_max) continue;
      fmt::format_to(out,
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"count\" fill=\"{}\">\xC3\x97{}</text>\n",
                     cl.x, cl.y, arrow_color(cl.kind), cl.count);
    }
  }

  // Synchronous failures: red crosses above the caller's lane, with a count and the code.
  std::map<std::tuple<size_t, long, uint8_t>, uint32_t> sync_px;
  for (const auto& m : c.sync_failures) ++sync_px[{m.lane, std::lround(xm(m.t)), m.code}];
  uint32_t sync_labels = 0;
  for (const auto& [key, n] : sync_px) {
    const auto& [lane, px, code] = key;
    const double x = static_cast<double>(px);
    const double y = lane_y(lane) - 10;
    fmt::format_to(out,
                   "<path d=\"M{:.1f},{:.1f}l6,6m0,-6l-6,6\" stroke=\"{}\" stroke-width=\"1.6\" "
                   "class=\"syncfail\"/>\n",
                   x - 3, y - 3, color_reject);
    if (labels && sync_labels++ < svg_count_labels_max) {
      fmt::format_to(out,
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"count\" fill=\"{}\">{} failed "
                     "synchronously ({})</text>\n",
                     x + 7, y + 4, color_reject, n == 1 ? std::string("1 call") : plural(n, "call"),
                     code_name(code));
    }
  }
  std::map<std::pair<size_t, long>, uint32_t> trap_px;
  for (const auto& m : c.traps) ++trap_px[{m.lane, std::lround(xm(m.t))}];
  for (const auto& [key, n] : trap_px) {
    fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"trap\">\xE2\x9A\xA0{}</text>\n",
                   static_cast<double>(key.second) - 4, lane_y(key.first) + 13,
                   n > 1 ? fmt::format("{}", n) : std::string());
  }

  // Ingress: a triangle where it starts, a dashed line where it is answered.
  for (const auto& g : c.ingress) {
    const double x = xm(g.t);
    if (!g.answered) {
      fmt::format_to(out, "<path d=\"M{:.1f},{:.1f}l-8,-5v10z\" fill=\"{}\" class=\"ingress\"/>\n", x,
                     lane_y(g.lane), color_step);
      continue;
    }
    fmt::format_to(out,
                   "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
                   "stroke-dasharray=\"4,3\" class=\"answered\"/><circle cx=\"{0:.1f}\" "
                   "cy=\"{4:.1f}\" r=\"3\" fill=\"{3}\"/>\n",
                   x, p.lanes_top - 4, p.strip_bottom, g.code == 0 ? color_step : color_reject,
                   lane_y(g.lane));
    if (labels) {
      const bool left = x > xm.x0 + 0.75 * xm.width;
      fmt::format_to(out,
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"note\" text-anchor=\"{}\">answered "
                     "after {}</text>\n",
                     left ? x - 5 : x + 5, p.lanes_top + 6, left ? "end" : "start",
                     plural(g.rounds, "round"));
    }
  }

  // Step lines: replies received and calls failed so far, out of all the calls made.
  const double total = static_cast<double>(std::max<uint64_t>(1, c.st.requests + c.st.sync_failures));
  const double h = svg_strip_px - 8;
  auto y_of = [&](double n) { return p.strip_bottom - n / total * h; };
  const double x_end = xm(p.span_us);
  auto step_line = [&](const std::vector<double>& times, const char* color, const char* cls,
                       const std::string& label) {
    if (times.empty()) return;
    std::string pts = fmt::format("{:.1f},{:.1f}", xm.x0, p.strip_bottom);
    double prev_y = p.strip_bottom;
    for (size_t i = 0; i < times.size();) {
      // Everything landing on the same pixel column makes one step.
      const long px = std::lround(xm(times[i]));
      size_t j = i;
      while (j < times.size() && std::lround(xm(times[j])) == px) ++j;
      const double y = y_of(static_cast<double>(j));
      fmt::format_to(std::back_inserter(pts), " {0},{1:.1f} {0},{2:.1f}", px, prev_y, y);
      prev_y = y;
      i = j;
    }
    fmt::format_to(std::back_inserter(pts), " {:.1f},{:.1f}", x_end, prev_y);
    fmt::format_to(out,
                   "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" "
                   "stroke-linejoin=\"round\" class=\"{}\"/>\n",
                   pts, color, cls);
    if (labels) {
      fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"count\" fill=\"{}\">{}</text>\n",
                     x_end + 5, prev_y + 4, color, label);
    }
  };
  step_line(c.replies, color_step, "replies", fmt::format("{} replied", c.replies.size()));
  step_line(c.failures, color_reject, "failures", fmt::format("{} failed", c.failures.size()));
}

void append_panel(std::string& o, const Panel& p, double y0, double span_us,
                  const TraceExportOptions& options, size_t panel_index) {
  const TraceRun& run = *p.run;
  const Content& c = p.content;
  const Timebase tb(options);
  const double width = std::max<double>(options.svg_width_px, svg_left_px + svg_right_px + 300);
  const double plot_w = width - svg_left_px - svg_right_px;
  const XMap main{svg_left_px, plot_w, span_us};
  const bool inset = options.svg_shared_time_axis && p.span_us < svg_zoom_below * span_us;
  const XMap zoom{svg_left_px + svg_zoom_from * plot_w, (1 - svg_zoom_from) * plot_w, p.span_us};
  auto out = std::back_inserter(o);

  fmt::format_to(out, "<g class=\"panel\" data-run=\"{}\" transform=\"translate(0,{:.1f})\">\n",
                 panel_index, y0);
  // Header.
  const uint64_t rounds =
      run.events.empty() ? 0 : p.placement.last_round - p.placement.first_round + 1;
  std::string summary = fmt::format(
      "{} made \xC2\xB7 {} {} \xC2\xB7 {} \xC2\xB7 {} failed synchronously", plural(c.st.requests, "call"),
      c.st.replies, c.st.replies == 1 ? "reply" : "replies", plural(c.st.rejects, "reject"),
      c.st.sync_failures);
  if (c.st.traps > 0) summary += fmt::format(" \xC2\xB7 {}", plural(c.st.traps, "trap"));
  summary += fmt::format(" \xC2\xB7 {} (rounds {}\xE2\x80\x93{})", plural(rounds, "round"),
                         p.placement.first_round, p.placement.last_round);
  if (!run.title.empty()) {
    fmt::format_to(out, "<text x=\"12\" y=\"18\" class=\"title\">{}</text>\n", xml_escape(run.title));
  }
  fmt::format_to(out, "<text x=\"12\" y=\"{}\" class=\"sub\">{}</text>\n", run.title.empty() ? 18 : 36,
                 xml_escape(summary));
  if (inset) {
    fmt::format_to(out,
                   "<text x=\"{:.1f}\" y=\"36\" class=\"zoomlabel\">enlarged \xC3\x97{:.0f} on the "
                   "right: the first {}</text>\n",
                   svg_left_px + plot_w, span_us / p.span_us,
                   p.span_us >= tb.round_us
                       ? plural(static_cast<uint64_t>(std::llround(p.span_us / tb.round_us)), "round")
                       : fmt::format("{:g} ms", p.span_us / 1000.0));
  }

  // Subnet groups and lanes.
  for (size_t g = 0; g < p.groups.size(); ++g) {
    const auto& grp = p.groups[g];
    fmt::format_to(out,
                   "<rect x=\"4\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" rx=\"4\" fill=\"{}\"/>\n",
                   grp.top, width - 8, grp.bottom - grp.top, g % 2 == 0 ? "#f1f5fb" : "#f0f7ef");
    fmt::format_to(out, "<text x=\"12\" y=\"{:.1f}\" class=\"subnet\">subnet s{}</text>\n",
                   grp.top + 13, grp.subnet);
  }
  for (const auto& lane : p.lanes) {
    fmt::format_to(out,
                   "<g class=\"lane\" data-canister=\"{}\" data-subnet=\"{}\"><line x1=\"{:.1f}\" "
                   "y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#c8c8c8\"/><text x=\"{:.1f}\" "
                   "y=\"{:.1f}\" class=\"lanename\">{}</text></g>\n",
                   lane.id.to_string(), lane.subnet, svg_left_px, lane.y, svg_left_px + plot_w,
                   lane.y, svg_left_px - 14, lane.y + 4, xml_escape(lane.name));
  }
  fmt::format_to(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"lanename\">replies received</text>\n",
                 svg_left_px - 10, (p.strip_top + p.strip_bottom) / 2 + 4);
  fmt::format_to(out,
                 "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#c8c8c8\"/>\n",
                 svg_left_px, p.strip_bottom, svg_left_px + plot_w);

  // Axis (in rounds since the panel's first round) and its grid.
  draw_ticks(o, main, p.lanes_top, p.strip_bottom, p.axis_y + 15, tb, "tick");
  fmt::format_to(out,
                 "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#555\"/>\n",
                 svg_left_px, p.axis_y, svg_left_px + plot_w, p.axis_y);
  fmt::format_to(out,
                 "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"axis\">virtual time: rounds since round {} "
                 "(1 round = {} ms)</text>\n",
                 svg_left_px + plot_w, p.axis_y + 31, p.placement.first_round,
                 options.round_duration_ms);

  draw_content(o, p, main, options, !inset);

  if (inset) {
    // The region enlarged, a frame around the inset, and the inset drawn like a panel.
    const double top = p.lanes_top - 6, bottom = p.axis_y - 2;
    const double sx1 = main(p.span_us) + 2;
    fmt::format_to(out,
                   "<g class=\"zoom\" fill=\"none\" stroke=\"{}\"><rect x=\"{:.1f}\" y=\"{:.1f}\" "
                   "width=\"{:.1f}\" height=\"{:.1f}\" stroke-dasharray=\"3,2\"/><path d=\"M{:.1f},{:.1f}"
                   "L{:.1f},{:.1f}M{:.1f},{:.1f}L{:.1f},{:.1f}\" stroke-dasharray=\"3,2\"/></g>\n",
                   color_zoom, svg_left_px - 2, top, sx1 - svg_left_px + 2, bottom - top, sx1, top,
                   zoom.x0 - 6, top, sx1, bottom, zoom.x0 - 6, bottom);
    fmt::format_to(out,
                   "<rect class=\"inset\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                   "rx=\"3\" fill=\"white\" stroke=\"{}\"/>\n",
                   zoom.x0 - 6, top, zoom.width + 12, bottom - top, color_zoom);
    for (size_t g = 0; g < p.groups.size(); ++g) {
      const auto& grp = p.groups[g];
      fmt::format_to(out,
                     "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n",
                     zoom.x0 - 5, grp.top, zoom.width + 10, grp.bottom - grp.top,
                     g % 2 == 0 ? "#f1f5fb" : "#f0f7ef");
    }
    for (const auto& lane : p.lanes) {
      fmt::format_to(out,
                     "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#c8c8c8\"/>\n",
                     zoom.x0, lane.y, zoom.x0 + zoom.width, lane.y);
    }
    fmt::format_to(out,
                   "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#c8c8c8\"/>\n",
                   zoom.x0, p.strip_bottom, zoom.x0 + zoom.width);
    draw_ticks(o, zoom, p.lanes_top, p.strip_bottom, p.strip_bottom + 13, tb, "itick");
    draw_content(o, p, zoom, options, true);
  }
  o += "</g>\n";
}

std::string svg(const std::vector<TraceRun>& runs, const TraceExportOptions& options) {
  const Timebase tb(options);
  std::vector<Panel> panels;
  panels.reserve(runs.size());
  double height = svg_doc_header_px;
  double span_max = tb.iteration_us;
  for (const auto& run : runs) {
    panels.push_back(layout_panel(run, options));
    height += panels.back().height + svg_panel_gap_px;
    span_max = std::max(span_max, panels.back().span_us);
  }
  const double width = std::max<double>(options.svg_width_px, svg_left_px + svg_right_px + 300);
  std::string o;
  auto out = std::back_inserter(o);
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  fmt::format_to(out,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
                 "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"Helvetica, Arial, sans-serif\" "
                 "font-size=\"12\">\n",
                 width, height);
  fmt::format_to(out, "<title>{}</title>\n", xml_escape(options.title));
  o += "<style>.title{font-weight:bold;font-size:14px;fill:#222}.doctitle{font-weight:bold;"
       "font-size:17px;fill:#222}.sub{fill:#555}.subnet{fill:#777;font-size:11px}"
       ".lanename{text-anchor:end;fill:#222}.tick{text-anchor:middle;fill:#555;font-size:11px}"
       ".itick{text-anchor:middle;fill:#8a94a6;font-size:10px}.axis{text-anchor:end;fill:#555;"
       "font-size:11px}.count{font-size:11px;font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3px;"
       "stroke-linejoin:round}.note{font-size:11px;fill:#333;paint-order:stroke;stroke:#fff;stroke-width:3px}"
       ".zoomlabel{text-anchor:end;fill:#8a94a6;font-size:11px}.trap{font-size:12px}"
       ".legend{font-size:11px;fill:#333}";
  for (ArrowKind k : {ArrowKind::request, ArrowKind::reply, ArrowKind::reject}) {
    fmt::format_to(out, ".a-{0}{{stroke:{1};marker-end:url(#arrow-{0})}}", arrow_marker(k), arrow_color(k));
  }
  o += "</style>\n";
  o += "<defs>";
  for (auto [id, color] : {std::pair{"req", color_request}, std::pair{"rep", color_reply},
                           std::pair{"rej", color_reject}}) {
    fmt::format_to(out,
                   "<marker id=\"arrow-{}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
                   "markerWidth=\"7\" markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" "
                   "orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"{}\"/></marker>",
                   id, color);
  }
  o += "</defs>\n";
  fmt::format_to(out, "<rect width=\"{:.0f}\" height=\"{:.0f}\" fill=\"white\"/>\n", width, height);
  fmt::format_to(out, "<text x=\"12\" y=\"23\" class=\"doctitle\">{}</text>\n", xml_escape(options.title));

  // Legend.
  double lx = 12;
  const double ly = 46;
  auto legend_arrow = [&](const char* color, const char* marker, const char* text) {
    fmt::format_to(out,
                   "<line x1=\"{:.0f}\" y1=\"{:.0f}\" x2=\"{:.0f}\" y2=\"{:.0f}\" stroke=\"{}\" "
                   "stroke-width=\"1.5\" marker-end=\"url(#arrow-{})\"/><text x=\"{:.0f}\" "
                   "y=\"{:.0f}\" class=\"legend\">{}</text>\n",
                   lx, ly, lx + 26, ly, color, marker, lx + 32, ly + 4, text);
    lx += 44 + 6.0 * static_cast<double>(std::string_view(text).size());
  };
  legend_arrow(color_request, "req", "request (sent \xE2\x86\x92 executed)");
  legend_arrow(color_reply, "rep", "reply");
  legend_arrow(color_reject, "rej", "reject");
  fmt::format_to(out,
                 "<path d=\"M{:.0f},{:.0f}l6,6m0,-6l-6,6\" stroke=\"{}\" stroke-width=\"1.6\"/>"
                 "<text x=\"{:.0f}\" y=\"{:.0f}\" class=\"legend\">failed synchronously</text>\n",
                 lx, ly - 3, color_reject, lx + 12, ly + 4);
  lx += 140;
  fmt::format_to(out,
                 "<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"3\" height=\"10\" fill=\"{}\"/><text "
                 "x=\"{:.0f}\" y=\"{:.0f}\" class=\"legend\">execution</text>\n",
                 lx, ly - 5, color_exec, lx + 8, ly + 4);
  lx += 78;
  fmt::format_to(out,
                 "<path d=\"M{0:.0f},{1:.0f}l-8,-5v10z\" fill=\"{2}\"/><line x1=\"{3:.0f}\" "
                 "y1=\"{4:.0f}\" x2=\"{3:.0f}\" y2=\"{5:.0f}\" stroke=\"{2}\" stroke-dasharray=\"4,3\"/>"
                 "<text x=\"{6:.0f}\" y=\"{7:.0f}\" class=\"legend\">ingress submitted, answered</text>\n",
                 lx + 8, ly, color_step, lx + 16, ly - 7, ly + 7, lx + 22, ly + 4);
  lx += 190;
  fmt::format_to(out,
                 "<path d=\"M{:.0f},{:.0f}h8v-6h8v-6h8\" fill=\"none\" stroke=\"{}\" "
                 "stroke-width=\"1.5\"/><text x=\"{:.0f}\" y=\"{:.0f}\" class=\"legend\">replies "
                 "received</text>\n",
                 lx, ly + 6, color_step, lx + 30, ly + 4);

  double y = svg_doc_header_px;
  for (size_t i = 0; i < panels.size(); ++i) {
    const double span = options.svg_shared_time_axis ? span_max : panels[i].span_us;
    append_panel(o, panels[i], y, span, options, i);
    y += panels[i].height + svg_panel_gap_px;
  }
  o += "</svg>\n";
  return o;
}

TraceRun single_run(const std::vector<TraceEvent>& events, const std::vector<TraceCanister>& canisters) {
  return TraceRun{std::string(), events, canisters};
}

}  // namespace

std::string to_chrome_trace_json(const std::vector<TraceRun>& runs, const TraceExportOptions& options) {
  return chrome_json(runs, options);
}

std::string to_chrome_trace_json(const std::vector<TraceEvent>& events,
                                 const std::vector<TraceCanister>& canisters,
                                 const TraceExportOptions& options) {
  return chrome_json({single_run(events, canisters)}, options);
}

std::string to_svg_timeline(const std::vector<TraceRun>& runs, const TraceExportOptions& options) {
  return svg(runs, options);
}

std::string to_svg_timeline(const std::vector<TraceEvent>& events,
                            const std::vector<TraceCanister>& canisters,
                            const TraceExportOptions& options) {
  return svg({single_run(events, canisters)}, options);
}

}  // namespace canopy
