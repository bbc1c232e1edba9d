// `canopy bench offload` — worker pools (R22): offload round trip (latency, throughput) in real
// time and in simulation, and CPU utilization of CPU-bound jobs with 1 vs 2 pool threads.
//
//   round trip   one message awaits N offloads of a trivial job one after the other: the time per
//                offload is the full trip (commit, admission at the round boundary, the pool
//                thread, the completion message, the next round). Real time: wall time;
//                simulation: rounds and wall time of the deterministic driver.
//   fan-out      one message issues N trivial offloads at once and awaits them all: throughput.
//   utilization  K CPU-bound jobs of about W ms each, all at once, with 1 and with 2 pool
//                threads: wall time, process CPU time, CPU utilization (CPU / wall / cores).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>
#include <canopy/realtime.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "cli/commands.hpp"

namespace canopy::cli {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t spin(uint64_t iters) {
  uint64_t x = iters;
  for (uint64_t i = 0; i < iters; ++i)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

struct Bouncer : Canister<Unit> {
  static void methods(Methods<Bouncer>& m) {
    m.update("sequential", &Bouncer::sequential);
    m.update("fan_out", &Bouncer::fan_out);
  }
  // n trivial offloads, one after the other.
  Task<uint64_t> sequential(Ctx& ctx, uint64_t n) {
    uint64_t ok = 0;
    for (uint64_t i = 0; i < n; ++i) {
      auto r = co_await offload(ctx, "bench", [i] { return i + 1; });
      ok += r ? 1 : 0;
    }
    co_return ok;
  }
  // n offloads at once, each spinning `iters`.
  Task<uint64_t> fan_out(Ctx& ctx, uint64_t n, uint64_t iters) {
    std::vector<Call<uint64_t>> calls;
    calls.reserve(n);
    for (uint64_t i = 0; i < n; ++i)
      calls.push_back(offload(ctx, "bench", [iters] { return spin(iters); }));
    uint64_t ok = 0;
    for (auto& r : co_await when_all_settled(std::move(calls)))
      ok += r ? 1 : 0;
    co_return ok;
  }
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Config bench_config(uint32_t pool_threads, uint32_t queue) {
  Config cfg;
  cfg.pools = {PoolConfig{"bench", pool_threads, queue}};
  return cfg;
}

struct Options {
  uint64_t round_trips = 20'000;
  uint64_t fan_out = 1'000;
  uint64_t jobs = 16;
  double job_ms = 100;
  bool json = false;
};

void bench(const Options& o) {
  if (o.round_trips == 0 || o.round_trips > 10'000'000)
    throw UsageError("--round-trips must be in 1..1e7");
  if (o.fan_out == 0 || o.fan_out > 1'000'000) throw UsageError("--fan-out must be in 1..1e6");
  if (o.jobs == 0 || o.jobs > 10'000) throw UsageError("--jobs must be in 1..10000");
  if (o.job_ms <= 0 || o.job_ms > 10'000) throw UsageError("--job-ms must be in (0, 10000]");
  nlohmann::json out;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  // Round trip, real time.
  for (uint32_t threads : {1u, 2u}) {
    const auto queue = static_cast<uint32_t>(std::max<uint64_t>(64, o.fan_out));
    auto rt = std::make_unique<Runtime>(bench_config(threads, queue));
    const CanisterId b = rt->install<Bouncer>(rt->subnet(0));
    RealtimeDriver driver(std::move(rt));
    driver.update<uint64_t>(b, "sequential", uint64_t{100}).get();  // warm-up
    auto t0 = Clock::now();
    auto ok = driver.update<uint64_t>(b, "sequential", o.round_trips).get();
    const double seq_s = seconds_since(t0);
    t0 = Clock::now();
    auto fan = driver.update<uint64_t>(b, "fan_out", o.fan_out, uint64_t{0}).get();
    const double fan_s = seconds_since(t0);
    driver.shutdown();
    if (!ok || *ok != o.round_trips || !fan)
      throw std::runtime_error("offload bench: unexpected failures");
    const std::string key = fmt::format("realtime_pool_threads_{}", threads);
    out[key] = {{"round_trip_us", seq_s / static_cast<double>(o.round_trips) * 1e6},
                {"round_trips_per_s", static_cast<double>(o.round_trips) / seq_s},
                {"fan_out", o.fan_out},
                {"fan_out_ok", *fan},
                {"fan_out_per_s", static_cast<double>(*fan) / fan_s},
                {"rounds", driver.stats().rounds}};
  }
  // Round trip, simulation (deterministic delivery: one round per offload at cost 1).
  {
    Runtime rt(bench_config(1, 64));
    const CanisterId b = rt.install<Bouncer>(rt.subnet(0));
    const uint64_t n = std::min<uint64_t>(o.round_trips, 100'000);
    const uint64_t round0 = rt.round();
    const auto t0 = Clock::now();
    auto ok = rt.update<uint64_t>(b, "sequential", n);
    const double s = seconds_since(t0);
    if (!ok || *ok != n) throw std::runtime_error("offload bench: unexpected failures");
    out["simulation"] = {{"round_trips", n},
                         {"rounds_per_round_trip", static_cast<double>(rt.round() - round0) / n},
                         {"round_trip_us", s / static_cast<double>(n) * 1e6}};
  }
  // CPU utilization: K jobs of ~job_ms, 1 vs 2 pool threads.
  const auto tcal = Clock::now();
  const uint64_t cal_iters = 20'000'000;
  volatile uint64_t sink = spin(cal_iters);
  (void)sink;
  const double ms_per_iter = seconds_since(tcal) * 1e3 / static_cast<double>(cal_iters);
  const uint64_t iters = static_cast<uint64_t>(o.job_ms / ms_per_iter);
  for (uint32_t threads : {1u, 2u}) {
    auto rt = std::make_unique<Runtime>(bench_config(threads, static_cast<uint32_t>(o.jobs)));
    const CanisterId b = rt->install<Bouncer>(rt->subnet(0));
    RealtimeDriver driver(std::move(rt));
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    auto ok = driver.update<uint64_t>(b, "fan_out", o.jobs, iters).get();
    const double wall = seconds_since(t0);
    const double cpu = cpu_seconds() - cpu0;
    driver.shutdown();
    if (!ok || *ok != o.jobs) throw std::runtime_error("offload bench: unexpected failures");
    out[fmt::format("cpu_pool_threads_{}", threads)] = {
        {"jobs", o.jobs},
        {"job_ms", o.job_ms},
        {"wall_s", wall},
        {"cpu_s", cpu},
        {"utilization", cpu / wall / cores},
        {"jobs_per_s", static_cast<double>(o.jobs) / wall}};
  }
  out["cores"] = cores;
  const double w1 = out["cpu_pool_threads_1"]["wall_s"].get<double>();
  const double w2 = out["cpu_pool_threads_2"]["wall_s"].get<double>();
  out["speedup_2_over_1"] = w1 / w2;
  if (o.json) {
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("offload benchmark (R22), %u cores\n\n", cores);
  std::printf(
      "round trip (one message awaits %llu trivial offloads in a row; fan-out: %llu at once)\n",
      static_cast<unsigned long long>(o.round_trips), static_cast<unsigned long long>(o.fan_out));
  for (uint32_t threads : {1u, 2u}) {
    const auto& j = out[fmt::format("realtime_pool_threads_{}", threads)];
    std::printf(
        "  real time, pool of %u: %8.1f us per round trip (%9.0f /s), fan-out %9.0f offloads/s\n",
        threads, j["round_trip_us"].get<double>(), j["round_trips_per_s"].get<double>(),
        j["fan_out_per_s"].get<double>());
  }
  std::printf("  simulation:           %8.1f us per round trip, %.2f rounds each\n\n",
              out["simulation"]["round_trip_us"].get<double>(),
              out["simulation"]["rounds_per_round_trip"].get<double>());
  std::printf("CPU-bound jobs (%llu x %.0f ms, all at once)\n",
              static_cast<unsigned long long>(o.jobs), o.job_ms);
  for (uint32_t threads : {1u, 2u}) {
    const auto& j = out[fmt::format("cpu_pool_threads_{}", threads)];
    std::printf(
        "  pool of %u: wall %6.2f s, cpu %6.2f s, utilization %5.1f%% of %u cores, %.1f jobs/s\n",
        threads, j["wall_s"].get<double>(), j["cpu_s"].get<double>(),
        100 * j["utilization"].get<double>(), cores, j["jobs_per_s"].get<double>());
  }
  std::printf("  speedup with 2 threads: %.2fx\n", w1 / w2);
}

const Register reg{Command{
    "bench", "offload",
    "worker pools (R22): offload round trip and CPU utilization with 1 vs 2 pool threads",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--round-trips", o->round_trips, "sequential offloads timed")
          ->capture_default_str();
      app.add_option("--fan-out", o->fan_out, "offloads issued at once")->capture_default_str();
      app.add_option("--jobs", o->jobs, "CPU-bound jobs for the utilization run")
          ->capture_default_str();
      app.add_option("--job-ms", o->job_ms, "CPU time of one job")->capture_default_str();
      app.add_flag("--json", o->json, "print one JSON object");
      app.callback([o] { bench(*o); });
    }}};

}  // namespace
}  // namespace canopy::cli
