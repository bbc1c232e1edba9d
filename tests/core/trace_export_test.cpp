// Trace exports (canopy/trace.hpp): Chrome trace-event JSON and the SVG timeline, on small real
// runs of the seed-000 canisters. R15 (virtual time), R20 (same trace, same bytes).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "parallel_calls/parallel_calls.hpp"

using namespace canopy;
using nlohmann::json;

namespace {

struct TinyRun {
  std::vector<TraceEvent> events;
  std::vector<TraceCanister> canisters;
  CanisterId caller, callee;
  uint64_t ok = 0;
};

// caller on subnet 0, callee on subnet `callee_subnet`; `n` calls; optionally an idle canister.
TinyRun tiny_run(uint32_t subnets, uint32_t callee_subnet, bool parallel, uint64_t n,
                 uint32_t queue_capacity = 500, uint32_t threads = 1, bool idle_canister = false) {
  Config cfg;
  cfg.subnets = subnets;
  cfg.threads = threads;
  cfg.queue_capacity = queue_capacity;
  cfg.record_trace = true;
  Runtime rt(cfg);
  TinyRun r;
  r.caller = rt.install<examples::Caller>(rt.subnet(0));
  r.callee = rt.install<examples::Callee>(rt.subnet(callee_subnet));
  if (idle_canister) rt.install<examples::Callee>(rt.subnet(subnets - 1));
  EXPECT_TRUE(rt.update<void>(r.caller, "setup_callee", r.callee));
  rt.clear_trace();
  auto res = rt.update<uint64_t>(r.caller, parallel ? "parallel_calls" : "sequential_calls", n);
  EXPECT_TRUE(res.has_value());
  r.ok = res.value_or(0);
  r.events = rt.trace();
  r.canisters = rt.trace_canisters();
  return r;
}

TraceExportOptions options() {
  TraceExportOptions o;
  o.title = "test";
  return o;
}

std::vector<json> of_phase(const json& doc, const std::string& ph) {
  std::vector<json> out;
  for (const auto& e : doc.at("traceEvents"))
    if (e.at("ph") == ph) out.push_back(e);
  return out;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST(TraceExport, ChromeJsonOfParallelCallsAcrossSubnets) {
  const TinyRun r = tiny_run(2, 1, true, 3);
  ASSERT_EQ(r.ok, 3u);
  const json doc = json::parse(to_chrome_trace_json(r.events, r.canisters, options()));
  ASSERT_TRUE(doc.at("traceEvents").is_array());
  EXPECT_EQ(doc.at("displayTimeUnit"), "ms");

  // One process per subnet, one thread per canister.
  std::map<std::string, std::set<uint64_t>> meta;
  for (const auto& m : of_phase(doc, "M")) meta[m.at("name")].insert(m.at("pid").get<uint64_t>());
  EXPECT_EQ(meta["process_name"].size(), 2u);
  std::set<uint64_t> tids;
  for (const auto& m : of_phase(doc, "M"))
    if (m.at("name") == "thread_name") tids.insert(m.at("tid").get<uint64_t>());
  EXPECT_EQ(tids, (std::set<uint64_t>{r.caller.value, r.callee.value}));

  // Executions are slices: the ingress message and 3 callbacks on the caller, 3 pings on the
  // callee; the callee's thread lives in another process (subnet) than the caller's.
  size_t pings = 0, callbacks = 0;
  std::set<uint64_t> ping_pids, caller_pids;
  for (const auto& x : of_phase(doc, "X")) {
    EXPECT_GT(x.at("dur").get<double>(), 0.0);
    EXPECT_GE(x.at("ts").get<double>(), 0.0);
    if (x.at("name") == "ping") {
      ++pings;
      EXPECT_EQ(x.at("tid").get<uint64_t>(), r.callee.value);
      ping_pids.insert(x.at("pid").get<uint64_t>());
    }
    if (x.at("name").get<std::string>().rfind("callback <- ", 0) == 0) {
      ++callbacks;
      EXPECT_EQ(x.at("tid").get<uint64_t>(), r.caller.value);
      caller_pids.insert(x.at("pid").get<uint64_t>());
    }
  }
  EXPECT_EQ(pings, 3u);
  EXPECT_EQ(callbacks, 3u);
  EXPECT_NE(ping_pids, caller_pids);

  // Instants: 3 requests sent, 3 inducted at the callee, 3 replies sent.
  std::map<std::string, size_t> instants;
  for (const auto& i : of_phase(doc, "i")) ++instants[i.at("cat")];
  EXPECT_EQ(instants["request_sent"], 3u);
  EXPECT_EQ(instants["request_inducted"], 3u);
  EXPECT_EQ(instants["response_sent"], 3u);
  EXPECT_EQ(instants["ingress_submitted"], 1u);
  EXPECT_EQ(instants["ingress_completed"], 1u);

  // Flows: each of the 3 requests and 3 responses starts once and ends once, later, on the other
  // canister's thread.
  std::map<std::pair<std::string, uint64_t>, json> starts;
  for (const auto& s : of_phase(doc, "s")) {
    EXPECT_TRUE(starts.emplace(std::make_pair(s.at("cat"), s.at("id").get<uint64_t>()), s).second);
  }
  std::map<std::string, size_t> ends;
  for (const auto& f : of_phase(doc, "f")) {
    auto it = starts.find({f.at("cat"), f.at("id").get<uint64_t>()});
    ASSERT_NE(it, starts.end()) << f.dump();
    EXPECT_EQ(f.at("bp"), "e");
    EXPECT_GT(f.at("ts").get<double>(), it->second.at("ts").get<double>());
    EXPECT_NE(f.at("tid"), it->second.at("tid"));
    ++ends[f.at("cat")];
  }
  EXPECT_EQ(starts.size(), 6u);
  EXPECT_EQ(ends["request"], 3u);
  EXPECT_EQ(ends["response"], 3u);

  // The counter of calls in flight climbs to 3 and returns to 0.
  int64_t peak = 0, last = -1;
  for (const auto& c : of_phase(doc, "C")) {
    last = c.at("args").at("calls").get<int64_t>();
    peak = std::max(peak, last);
  }
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(last, 0);
}

TEST(TraceExport, VirtualTimeFollowsRoundsAndIterations) {
  // Across subnets with latency 2 (R13): a request sent in the first round executes 2 rounds
  // later, and the reply comes back 2 rounds after that (R15: 1 round = round_duration_ms).
  const TinyRun r = tiny_run(2, 1, false, 1);
  const json doc = json::parse(to_chrome_trace_json(r.events, r.canisters, options()));
  double ping_ts = -1, callback_ts = -1;
  for (const auto& x : of_phase(doc, "X")) {
    if (x.at("name") == "ping") ping_ts = x.at("ts").get<double>();
    if (x.at("name").get<std::string>().rfind("callback", 0) == 0) callback_ts = x.at("ts").get<double>();
  }
  const double round_us = 100.0 * 1000.0;
  EXPECT_GE(ping_ts, 2 * round_us);
  EXPECT_LT(ping_ts, 3 * round_us);
  EXPECT_GE(callback_ts, 4 * round_us);
  EXPECT_LT(callback_ts, 5 * round_us);
}

TEST(TraceExport, SynchronousFailuresAreVisible) {
  // R2: with room for 2 calls, 5 parallel calls from one message give 2 successes; 3 fail at once.
  const TinyRun r = tiny_run(1, 0, true, 5, /*queue_capacity=*/2);
  ASSERT_EQ(r.ok, 2u);
  const json doc = json::parse(to_chrome_trace_json(r.events, r.canisters, options()));
  size_t rejected = 0;
  for (const auto& i : of_phase(doc, "i")) {
    if (i.at("cat") != "request_rejected") continue;
    ++rejected;
    EXPECT_EQ(i.at("args").at("reject"), "SYS_TRANSIENT");
    EXPECT_EQ(i.at("tid").get<uint64_t>(), r.caller.value);
  }
  EXPECT_EQ(rejected, 3u);
  const std::string svg = to_svg_timeline(r.events, r.canisters, options());
  EXPECT_NE(svg.find("3 calls failed synchronously (SYS_TRANSIENT)"), std::string::npos);
  EXPECT_NE(svg.find("2 replied"), std::string::npos);
  EXPECT_NE(svg.find("3 failed"), std::string::npos);
}

TEST(TraceExport, SvgHasOneLanePerCanisterGroupedBySubnet) {
  const TinyRun r = tiny_run(2, 1, true, 4, 500, 1, /*idle_canister=*/true);
  ASSERT_EQ(r.canisters.size(), 3u);
  const std::string svg = to_svg_timeline(r.events, r.canisters, options());
  ASSERT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(count(svg, "class=\"lane\""), 3u);
  for (const auto& c : r.canisters) {
    EXPECT_EQ(count(svg, fmt::format("class=\"lane\" data-canister=\"{}\" data-subnet=\"{}\"",
                                     c.id.to_string(), c.subnet)),
              1u)
        << c.id.to_string();
  }
  EXPECT_EQ(count(svg, ">subnet s0<"), 1u);
  EXPECT_EQ(count(svg, ">subnet s1<"), 1u);
  // Lanes follow subnets: the caller's lane (s0) comes before the callee's (s1).
  EXPECT_LT(svg.find("data-canister=\"" + r.caller.to_string() + "\""),
            svg.find("data-canister=\"" + r.callee.to_string() + "\""));
  // Balanced groups; 4 parallel requests land on the same pixels: one bundle labelled ×4.
  EXPECT_EQ(count(svg, "<g ") + count(svg, "<g>"), count(svg, "</g>"));
  EXPECT_NE(svg.find("\xC3\x97" "4<"), std::string::npos);
  EXPECT_NE(svg.find("answered after 5 rounds"), std::string::npos);
}

TEST(TraceExport, MultiRunPanelsAndZoomInset) {
  const TinyRun seq = tiny_run(2, 1, false, 20);
  const TinyRun par = tiny_run(2, 1, true, 20);
  std::vector<TraceRun> runs{{"sequential", seq.events, seq.canisters},
                             {"parallel", par.events, par.canisters}};
  TraceExportOptions o = options();
  const std::string svg = to_svg_timeline(runs, o);
  EXPECT_EQ(count(svg, "class=\"panel\""), 2u);
  EXPECT_EQ(count(svg, "class=\"lane\""), 4u);
  // On the shared axis the parallel run is much shorter than the sequential one: it is enlarged.
  EXPECT_EQ(count(svg, "class=\"inset\""), 1u);
  o.svg_shared_time_axis = false;
  EXPECT_EQ(count(to_svg_timeline(runs, o), "class=\"inset\""), 0u);

  // JSON: one process per (run, subnet), named after the run.
  const json doc = json::parse(to_chrome_trace_json(runs, options()));
  std::set<std::string> processes;
  for (const auto& m : of_phase(doc, "M"))
    if (m.at("name") == "process_name") processes.insert(m.at("args").at("name"));
  EXPECT_EQ(processes.size(), 4u);
  EXPECT_EQ(processes.count("parallel \xC2\xB7 subnet s1"), 1u);
}

TEST(TraceExport, ThinsArrowsBeyondTheLimit) {
  const TinyRun r = tiny_run(1, 0, false, 50);
  TraceExportOptions o = options();
  o.svg_arrows_max = 10;
  const std::string thin = to_svg_timeline(r.events, r.canisters, o);
  o.svg_arrows_max = 1000;
  const std::string full = to_svg_timeline(r.events, r.canisters, o);
  EXPECT_LT(count(thin, "<line class=\"a-"), count(full, "<line class=\"a-"));
  EXPECT_EQ(count(full, "<line class=\"a-req\""), 50u);
  EXPECT_EQ(count(full, "<line class=\"a-rep\""), 50u);
  EXPECT_LE(count(thin, "<line class=\"a-req\""), 10u);
  EXPECT_GE(count(thin, "<line class=\"a-req\""), 9u);
}

TEST(TraceExport, DeterministicBytesWhateverTheThreads) {
  // R20: the trace, and so both exports, do not depend on the number of threads.
  const TinyRun a = tiny_run(2, 1, true, 30, 500, 1);
  const TinyRun b = tiny_run(2, 1, true, 30, 500, 4);
  EXPECT_EQ(to_chrome_trace_json(a.events, a.canisters, options()),
            to_chrome_trace_json(b.events, b.canisters, options()));
  EXPECT_EQ(to_svg_timeline(a.events, a.canisters, options()),
            to_svg_timeline(b.events, b.canisters, options()));
}

TEST(TraceExport, EmptyTraceStillExports) {
  std::vector<TraceCanister> canisters{{CanisterId{1}, 0, "a"}, {CanisterId{2}, 1, "b"}};
  const json doc = json::parse(to_chrome_trace_json({}, canisters, options()));
  EXPECT_TRUE(doc.at("traceEvents").is_array());
  const std::string svg = to_svg_timeline({}, canisters, options());
  EXPECT_EQ(count(svg, "class=\"lane\""), 2u);
  EXPECT_NE(svg.find("0 calls made"), std::string::npos);
}
