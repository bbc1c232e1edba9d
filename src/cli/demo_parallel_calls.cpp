// `canopy demo parallel-calls` — seed 000: sequential vs parallel inter-canister calls.
//
// Runs the seed's experiment, each run on a fresh Runtime: a Caller and a Callee
// (examples/parallel_calls), on one subnet with 100 and 2000 calls, and on two subnets (caller
// on s0, callee on s1) with 90 calls, each sequentially and in parallel. Prints a table, or with
// --json one JSON object:
//   {"runs":[{"subnets":1,"mode":"sequential","calls":100,"ok":100,"rounds":R,"virtual_ms":V,
//             "wall_ms":W}, ...], "trace_hash":"<16 hex digits>", "config":{...}}
// `rounds` and `virtual_ms` count from submitting the ingress message until it is answered;
// `trace_hash` folds the runs' Runtime::trace_hash() in run order (the same for any --threads,
// R20). --trace writes Chrome trace-event JSON of every run (one Perfetto process per run and
// subnet); --svg draws the two-subnet runs (or, with --subnets 1, the one-subnet runs) as
// stacked panels on one time axis.
#include <canopy/canopy.hpp>
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "parallel_calls/parallel_calls.hpp"

namespace canopy::cli {
namespace {

constexpr int64_t calls_max = 1'000'000;
constexpr int64_t queue_capacity_max = 1'000'000;
constexpr int64_t latency_rounds_max = 1'000;
constexpr int64_t threads_max = 256;

struct Options {
  bool json = false;
  int64_t calls = 0;  // 0: the seed's counts
  int64_t subnets = 0;  // 0: both one- and two-subnet runs
  int64_t latency_rounds = Config{}.xnet_latency_rounds;
  int64_t queue_capacity = Config{}.queue_capacity;
  int64_t threads = 1;
  std::string seed = "0";  // parsed by run_demo: CLI11 would wrap "-1" into a uint64_t
  std::string trace_path;
  std::string svg_path;
};

struct RunSpec {
  uint32_t subnets = 1;
  bool parallel = false;
  uint64_t calls = 0;
};

struct RunOutcome {
  RunSpec spec;
  uint64_t ok = 0;
  uint64_t rounds = 0;
  uint64_t virtual_ms = 0;
  double wall_ms = 0;
  uint64_t trace_hash = 0;
  std::string error;  // empty when the run completed and the invariants hold
  TraceRun trace;
};

const char* mode_name(bool parallel) { return parallel ? "parallel" : "sequential"; }

std::vector<RunSpec> plan(const Options& o) {
  std::vector<RunSpec> runs;
  const bool one = o.subnets == 0 || o.subnets == 1;
  const bool two = o.subnets == 0 || o.subnets == 2;
  const auto n = static_cast<uint64_t>(o.calls);
  if (one) {
    const std::vector<uint64_t> counts =
        o.calls > 0 ? std::vector<uint64_t>{n} : std::vector<uint64_t>{100, 2000};
    for (uint64_t c : counts)
      for (bool par : {false, true}) runs.push_back(RunSpec{1, par, c});
  }
  if (two) {
    for (bool par : {false, true}) runs.push_back(RunSpec{2, par, o.calls > 0 ? n : 90});
  }
  return runs;
}

RunOutcome run_one(const RunSpec& spec, Config cfg) {
  RunOutcome out;
  out.spec = spec;
  cfg.subnets = spec.subnets;
  Runtime rt(cfg);
  const CanisterId caller = rt.install<examples::Caller>(rt.subnet(0));
  const CanisterId callee = rt.install<examples::Callee>(rt.subnet(spec.subnets - 1));
  if (auto r = rt.update<void>(caller, "setup_callee", callee); !r) {
    out.error = "setup_callee failed: " + r.error().to_string();
    return out;
  }
  rt.clear_trace();  // the pictures show the measured call only

  const uint64_t round0 = rt.round();
  const uint64_t time0 = rt.time_ms();
  const auto wall0 = std::chrono::steady_clock::now();
  auto result = rt.update<uint64_t>(caller, spec.parallel ? "parallel_calls" : "sequential_calls",
                                    spec.calls);
  const auto wall1 = std::chrono::steady_clock::now();
  out.wall_ms = std::chrono::duration<double, std::milli>(wall1 - wall0).count();
  out.rounds = rt.round() - round0;
  out.virtual_ms = rt.time_ms() - time0;
  if (result) {
    out.ok = *result;
  } else {
    out.error = "the call failed: " + result.error().to_string();
  }

  // Every accepted call was answered exactly once, no queue overflowed (R1, R2).
  rt.run_until_idle(10 * (uint64_t{cfg.xnet_latency_rounds} + 1));
  if (const auto v = rt.check_quiescent_invariants(); !v.empty() && out.error.empty())
    out.error = "invariant violated: " + v.front();
  out.trace_hash = rt.trace_hash();

  if (cfg.record_trace) {
    out.trace.title = fmt::format("{} subnet{} \u00b7 {} \u00b7 {} calls", spec.subnets,
                                  spec.subnets == 1 ? "" : "s", mode_name(spec.parallel),
                                  spec.calls);
    out.trace.events = rt.trace();
    for (const CanisterId id : {caller, callee}) {
      for (const auto& c : rt.trace_canisters()) {
        if (c.id != id) continue;
        TraceCanister named = c;
        named.name = id == caller ? "caller" : "callee";
        out.trace.canisters.push_back(named);
      }
    }
  }
  return out;
}

std::string hex(uint64_t v) { return fmt::format("{:016x}", v); }

void print_table(const Config& cfg, const std::vector<RunOutcome>& runs, uint64_t hash) {
  std::string s;
  s += "canopy demo parallel-calls \u2014 seed 000: sequential vs parallel inter-canister calls\n";
  s += fmt::format(
      "queue capacity {} per canister pair (R2) \u00b7 cross-subnet latency {} round{} each way "
      "(R13) \u00b7 1 round = {} ms \u00b7 {} thread{} \u00b7 seed {}\n\n",
      cfg.queue_capacity, cfg.xnet_latency_rounds, cfg.xnet_latency_rounds == 1 ? "" : "s",
      cfg.round_duration_ms, cfg.threads, cfg.threads == 1 ? "" : "s", cfg.seed);
  s += fmt::format("{:>7}  {:<10}  {:>7}  {:>7}  {:>7}  {:>7}  {:>10}  {:>9}\n", "subnets", "mode",
                   "calls", "ok", "failed", "rounds", "virtual ms", "wall ms");
  for (const auto& r : runs) {
    s += fmt::format("{:>7}  {:<10}  {:>7}  {:>7}  {:>7}  {:>7}  {:>10}  {:>9.2f}", r.spec.subnets,
                     mode_name(r.spec.parallel), r.spec.calls, r.ok, r.spec.calls - r.ok,
                     r.rounds, r.virtual_ms, r.wall_ms);
    if (!r.error.empty()) s += "  ERROR: " + r.error;
    s += "\n";
  }
  s += "\n";
  auto find = [&](uint32_t subnets, bool parallel, uint64_t calls) -> const RunOutcome* {
    for (const auto& r : runs)
      if (r.spec.subnets == subnets && r.spec.parallel == parallel && r.spec.calls == calls)
        return &r;
    return nullptr;
  };
  for (const auto& r : runs) {
    if (r.spec.subnets != 1 || !r.spec.parallel || !r.error.empty()) continue;
    const RunOutcome* seq = find(1, false, r.spec.calls);
    if (r.ok < r.spec.calls) {
      s += fmt::format(
          "* {} parallel calls from one message: {} succeed; the other {} fail at once with "
          "SYS_TRANSIENT,\n  because the caller's output queue to the callee holds {} requests "
          "(R2).{}\n",
          r.spec.calls, r.ok, r.spec.calls - r.ok, cfg.queue_capacity,
          seq && seq->ok == seq->spec.calls
              ? fmt::format("\n  Sequentially only one call is in flight: {}/{} succeed.", seq->ok,
                            seq->spec.calls)
              : std::string());
    } else if (seq != nullptr) {
      s += fmt::format(
          "* {} calls on one subnet: {}/{} sequentially ({} round{}), {}/{} in parallel ({} "
          "round{}):\n  same-subnet calls cost no extra round (R13).\n",
          r.spec.calls, seq->ok, seq->spec.calls, seq->rounds, seq->rounds == 1 ? "" : "s", r.ok,
          r.spec.calls, r.rounds, r.rounds == 1 ? "" : "s");
    }
  }
  for (const auto& r : runs) {
    if (r.spec.subnets != 2 || !r.spec.parallel || !r.error.empty()) continue;
    const RunOutcome* seq = find(2, false, r.spec.calls);
    if (seq == nullptr || !seq->error.empty() || r.rounds == 0) continue;
    s += fmt::format(
        "* Across subnets every call is a round trip of 2 x {} rounds: {} sequential calls take "
        "{} rounds,\n  {} parallel calls {} \u2014 {:.1f}x fewer.\n",
        cfg.xnet_latency_rounds, seq->spec.calls, seq->rounds, r.spec.calls, r.rounds,
        static_cast<double>(seq->rounds) / static_cast<double>(r.rounds));
  }
  s += fmt::format("trace hash {}\n", hex(hash));
  std::fputs(s.c_str(), stdout);
}

void print_json(const Config& cfg, const std::vector<RunOutcome>& runs, uint64_t hash) {
  nlohmann::ordered_json j;
  j["runs"] = nlohmann::ordered_json::array();
  for (const auto& r : runs) {
    nlohmann::ordered_json run = {{"subnets", r.spec.subnets},
                          {"mode", mode_name(r.spec.parallel)},
                          {"calls", r.spec.calls},
                          {"ok", r.ok},
                          {"rounds", r.rounds},
                          {"virtual_ms", r.virtual_ms},
                          {"wall_ms", std::round(r.wall_ms * 1000.0) / 1000.0}};
    if (!r.error.empty()) run["error"] = r.error;
    j["runs"].push_back(std::move(run));
  }
  j["trace_hash"] = hex(hash);
  j["config"] = {{"queue_capacity", cfg.queue_capacity},
                 {"xnet_latency_rounds", cfg.xnet_latency_rounds},
                 {"round_duration_ms", cfg.round_duration_ms},
                 {"threads", cfg.threads},
                 {"seed", cfg.seed}};
  std::fputs((j.dump() + "\n").c_str(), stdout);
}

// The SVG's title says what the pictures show, with the numbers of the runs shown.
std::string svg_title(const Config& cfg, const std::vector<RunOutcome>& runs, uint32_t subnets) {
  const RunOutcome* seq = nullptr;
  const RunOutcome* par = nullptr;
  size_t shown = 0;
  for (const auto& r : runs) {
    if (r.spec.subnets != subnets) continue;
    ++shown;
    (r.spec.parallel ? par : seq) = &r;
  }
  if (subnets == 2 && shown == 2 && seq && par && par->rounds > 0) {
    return fmt::format(
        "{} calls across two subnets: sequential {} rounds, parallel {} ({:.0f}\u00d7 fewer) "
        "\u2014 latency {} round{} each way",
        seq->spec.calls, seq->rounds, par->rounds,
        static_cast<double>(seq->rounds) / static_cast<double>(par->rounds),
        cfg.xnet_latency_rounds, cfg.xnet_latency_rounds == 1 ? "" : "s");
  }
  if (subnets == 2) return "Sequential vs parallel calls across two subnets";
  return fmt::format("Sequential vs parallel calls on one subnet \u2014 queues of {} messages "
                     "per canister pair",
                     cfg.queue_capacity);
}

std::ofstream open_output(const std::string& path, const char* option) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw UsageError(fmt::format("{}: cannot write '{}'", option, path));
  return f;
}

void run_demo(const Options& o, bool calls_given, bool subnets_given) {
  if (calls_given) check_range("--calls", o.calls, 1, calls_max);
  if (subnets_given) check_range("--subnets", o.subnets, 1, 2);
  check_range("--latency-rounds", o.latency_rounds, 1, latency_rounds_max);
  check_range("--queue-capacity", o.queue_capacity, 1, queue_capacity_max);
  check_range("--threads", o.threads, 1, threads_max);

  uint64_t seed = 0;
  {
    const char* first = o.seed.data();
    const char* last = first + o.seed.size();
    const auto [end, ec] = std::from_chars(first, last, seed);
    if (o.seed.empty() || ec != std::errc() || end != last)
      throw UsageError(fmt::format("--seed must be an integer in 0..{} (got '{}')", UINT64_MAX, o.seed));
  }

  Config cfg;
  cfg.threads = static_cast<uint32_t>(o.threads);
  cfg.seed = seed;
  cfg.queue_capacity = static_cast<uint32_t>(o.queue_capacity);
  cfg.xnet_latency_rounds = static_cast<uint32_t>(o.latency_rounds);
  cfg.record_trace = !o.trace_path.empty() || !o.svg_path.empty();
  if (auto err = cfg.validate()) throw UsageError("invalid configuration: " + *err);

  // Open the outputs first: a bad path is a usage error, found before any work is done.
  std::ofstream trace_file, svg_file;
  if (!o.trace_path.empty()) trace_file = open_output(o.trace_path, "--trace");
  if (!o.svg_path.empty()) svg_file = open_output(o.svg_path, "--svg");

  std::vector<RunOutcome> runs;
  uint64_t hash = trace_hash_seed;
  for (const RunSpec& spec : plan(o)) {
    runs.push_back(run_one(spec, cfg));
    const uint64_t h = runs.back().trace_hash;
    hash = trace_fold_bytes(hash, &h, sizeof h);
  }

  if (o.json) {
    print_json(cfg, runs, hash);
  } else {
    print_table(cfg, runs, hash);
  }

  TraceExportOptions ex;
  ex.round_duration_ms = cfg.round_duration_ms;
  ex.round_iterations_max = cfg.round_iterations_max;
  if (trace_file.is_open()) {
    std::vector<TraceRun> all;
    size_t events = 0;
    for (auto& r : runs) {
      events += r.trace.events.size();
      all.push_back(r.trace);
    }
    ex.title = "canopy demo parallel-calls";
    trace_file << to_chrome_trace_json(all, ex);
    trace_file.close();
    if (!trace_file) throw UsageError(fmt::format("--trace: cannot write '{}'", o.trace_path));
    progress(fmt::format("wrote {} ({} runs, {} events; open it in https://ui.perfetto.dev)",
                         o.trace_path, all.size(), events));
  }
  if (svg_file.is_open()) {
    bool any_two = false;
    for (const auto& r : runs) any_two = any_two || r.spec.subnets == 2;
    std::vector<TraceRun> shown;
    for (auto& r : runs)
      if (r.spec.subnets == (any_two ? 2u : 1u)) shown.push_back(r.trace);
    ex.title = svg_title(cfg, runs, any_two ? 2u : 1u);
    svg_file << to_svg_timeline(shown, ex);
    svg_file.close();
    if (!svg_file) throw UsageError(fmt::format("--svg: cannot write '{}'", o.svg_path));
    progress(fmt::format("wrote {} ({} panels)", o.svg_path, shown.size()));
  }

  for (const auto& r : runs) {
    if (r.error.empty()) continue;
    std::fflush(stdout);
    std::fprintf(stderr, "canopy: run %u subnet(s) %s %llu calls: %s\n", r.spec.subnets,
                 mode_name(r.spec.parallel), static_cast<unsigned long long>(r.spec.calls),
                 r.error.c_str());
    std::exit(1);
  }
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_flag("--json", o->json, "print one JSON object instead of the table");
  auto* calls = app.add_option(
      "--calls", o->calls,
      "calls per run, 1..1000000 (default: the seed's 100 and 2000 on one subnet, 90 across two)");
  auto* subnets = app.add_option("--subnets", o->subnets,
                                 "only the runs with this many subnets: 1 or 2 (default: both)");
  app.add_option("--latency-rounds", o->latency_rounds,
                 "cross-subnet latency in rounds, each way (R13)")
      ->capture_default_str();
  app.add_option("--queue-capacity", o->queue_capacity,
                 "capacity of each per-pair queue, in messages (R2)")
      ->capture_default_str();
  app.add_option("--threads", o->threads, "threads executing canisters (R12, R20)")
      ->capture_default_str();
  app.add_option("--seed", o->seed, "simulation seed, 0..2^64-1")
      ->capture_default_str();
  app.add_option("--trace", o->trace_path,
                 "write Chrome trace-event JSON of every run (open in ui.perfetto.dev)");
  app.add_option("--svg", o->svg_path,
                 "write an SVG timeline: the two-subnet runs (with --subnets 1: the one-subnet "
                 "runs)");
  app.callback([o, calls, subnets]() { run_demo(*o, calls->count() > 0, subnets->count() > 0); });
}

const Register registered{Command{"demo", "parallel-calls",
                                  "seed 000: sequential vs parallel inter-canister calls, on one "
                                  "and across two subnets",
                                  setup}};

}  // namespace
}  // namespace canopy::cli
