// `canopy demo worker-pool` — seed 004, the libindy agency (R22), in real time.
//
// Cheap clients send create_did at a fixed rate (open loop: sending never waits for answers, so a
// stalled server cannot slow the senders and hide its stall), while expensive clients ask for
// credential-definition key generations (~1 s of Argon2id each) in a closed loop. Three runs:
//   baseline  cheap clients only
//   inline    expensive work inside the canister's own execution (libindy before the fix)
//   pooled    expensive work offloaded to the "expensive" pool (R22)
// Output: a table, or --json: one object {baseline, inline, pooled, ...} each with at least
// cheap_p50_ms, cheap_p99_ms, expensive_done.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>
#include <canopy/realtime.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "agency/agency.hpp"
#include "cli/commands.hpp"

namespace canopy::cli {
namespace {

using Clock = std::chrono::steady_clock;
using examples::agency::Agency;
using examples::agency::AgencyState;
using examples::agency::KeygenWork;

struct Options {
  double seconds = 5;
  uint32_t clients = 8;
  double rate = 100;  // per cheap client, requests per second
  uint32_t expensive_clients = 2;
  double keygen_ms = 1000;
  uint32_t keygen_ops = 0;  // 0: calibrate to keygen_ms
  uint32_t keygen_mem_kib = 8192;
  uint32_t threads = 1;
  std::vector<std::string> pool_flags;
  std::string pool_file;
  std::vector<std::string> only;
  bool json = false;
  std::vector<PoolConfig> pools;  // resolved
};

struct RunResult {
  std::string name;
  std::vector<double> cheap_ms;  // latencies of answered cheap requests
  uint64_t cheap_sent = 0;
  uint64_t cheap_errors = 0;
  uint64_t expensive_done = 0;
  uint64_t expensive_errors = 0;
  double wall_s = 0;
  uint64_t rounds = 0;
  std::optional<PoolStats> pool;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p / 100.0 * v.size())) - 1);
  return v[i];
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Argon2id passes for ~keygen_ms on this machine: the cost is a fixed part (filling the memory)
// plus a part per pass, so scale and measure again a few times.
uint32_t calibrate(const Options& o) {
  KeygenWork w{2, o.keygen_mem_kib};
  examples::agency::cred_def_keygen("calibration", w);  // warm up (page faults)
  for (int i = 0; i < 4; ++i) {
    const auto t0 = Clock::now();
    examples::agency::cred_def_keygen("calibration", w);
    const double ms = std::max(ms_since(t0), 0.01);
    if (std::abs(ms - o.keygen_ms) < 0.05 * o.keygen_ms) break;
    const double scaled = std::round(w.ops * o.keygen_ms / ms);
    w.ops = static_cast<uint32_t>(std::clamp(scaled, 1.0, 1e6));
  }
  return w.ops;
}

RunResult run(const std::string& mode, const Options& o, KeygenWork work) {
  Config cfg;
  cfg.threads = o.threads;
  cfg.pools = o.pools;
  cfg.seed = 4;
  auto rt = std::make_unique<Runtime>(cfg);
  AgencyState init;
  init.work = work;
  const CanisterId agency = rt->install<Agency>(rt->subnet(0), init);
  RealtimeDriver driver(std::move(rt));
  // Warm-up.
  for (int i = 0; i < 20; ++i)
    driver.submit(agency, "create_did", encode(std::string("warm"))).get();

  RunResult res;
  res.name = mode;
  std::mutex mu;
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate));
  std::vector<std::thread> clients;
  std::atomic<uint64_t> sent{0};
  for (uint32_t c = 0; c < o.clients; ++c) {
    clients.emplace_back([&, c] {
      auto due = start + period * c / o.clients;  // clients spread over one period
      for (uint64_t i = 0; due < end; ++i, due += period) {
        std::this_thread::sleep_until(due);
        ++sent;
        // Latency from the actual submission: submit never blocks on the server, so a stalled
        // server cannot slow the senders down (no coordinated omission), and a client thread
        // that woke up late does not count against the server.
        const auto submitted = Clock::now();
        driver.submit(agency, "create_did", encode(fmt::format("client-{}-{}", c, i)),
                      [&, submitted](Result<Bytes> r) {
                        const double ms = ms_since(submitted);
                        std::lock_guard<std::mutex> lock(mu);
                        if (r) {
                          res.cheap_ms.push_back(ms);
                        } else {
                          ++res.cheap_errors;
                        }
                      });
      }
    });
  }
  std::atomic<uint64_t> exp_done{0}, exp_err{0};
  const char* method = mode == "inline" ? "create_cred_def_inline" : "create_cred_def";
  if (mode != "baseline") {
    for (uint32_t e = 0; e < o.expensive_clients; ++e) {
      clients.emplace_back([&, e] {
        std::this_thread::sleep_until(start);
        for (uint64_t i = 0; Clock::now() < end; ++i) {
          auto r = driver.submit(agency, method, encode(fmt::format("issuer-{}-{}", e, i))).get();
          if (Clock::now() > end) break;  // finished after the window: not counted
          ++(r ? exp_done : exp_err);
        }
      });
    }
  }
  for (auto& t : clients)
    t.join();
  res.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  driver.shutdown();  // answers every cheap request still in flight
  res.cheap_sent = sent;
  res.expensive_done = exp_done;
  res.expensive_errors = exp_err;
  res.rounds = driver.stats().rounds;
  if (Pools* p = find_pools(driver.runtime())) res.pool = p->stats("expensive");
  return res;
}

nlohmann::json to_json(const RunResult& r, double seconds) {
  nlohmann::json j;
  j["cheap_p50_ms"] = percentile(r.cheap_ms, 50);
  j["cheap_p99_ms"] = percentile(r.cheap_ms, 99);
  j["cheap_max_ms"] = percentile(r.cheap_ms, 100);
  j["cheap_done"] = r.cheap_ms.size();
  j["cheap_sent"] = r.cheap_sent;
  j["cheap_errors"] = r.cheap_errors;
  j["expensive_done"] = r.expensive_done;
  j["expensive_errors"] = r.expensive_errors;
  j["expensive_per_s"] = static_cast<double>(r.expensive_done) / seconds;
  j["rounds"] = r.rounds;
  if (r.pool && r.pool->admitted > 0) {
    j["pool"] = {{"threads", r.pool->threads},
                 {"running_max", r.pool->running_max},
                 {"completed", r.pool->completed},
                 {"refused", r.pool->refused},
                 {"busy_ms", static_cast<double>(r.pool->busy_ns) / 1e6}};
  }
  return j;
}

void demo(Options o) {
  if (o.seconds <= 0 || o.seconds > 3600) throw UsageError("--seconds must be in (0, 3600]");
  if (o.clients == 0 || o.clients > 256) throw UsageError("--clients must be in 1..256");
  if (o.rate <= 0 || o.rate > 10'000) throw UsageError("--rate must be in (0, 10000]");
  if (o.expensive_clients > 64) throw UsageError("--expensive-clients must be in 0..64");
  if (o.keygen_ms <= 0 || o.keygen_ms > 60'000)
    throw UsageError("--keygen-ms must be in (0, 60000]");
  if (o.keygen_mem_kib < 8) throw UsageError("--keygen-mem-kib must be at least 8");
  // Pools: code default, then the file, then flags.
  o.pools = {PoolConfig{"expensive", 1, 64}};
  if (!o.pool_file.empty()) {
    auto f = load_pool_file(o.pool_file, o.pools);
    if (!f) throw UsageError(f.error());
    o.pools = *f;
  }
  for (const auto& flag : o.pool_flags) {
    auto p = parse_pool_flag(flag, o.pools);
    if (!p) throw UsageError(p.error());
    merge_pool(o.pools, *p);
  }
  {
    Config probe;
    probe.threads = o.threads;
    probe.pools = o.pools;
    if (auto err = probe.validate()) throw UsageError(*err);
    bool has = false;
    for (const auto& p : o.pools)
      has |= p.name == "expensive";
    if (!has) throw UsageError("the agency needs a pool named 'expensive'");
  }
  std::vector<std::string> modes = {"baseline", "inline", "pooled"};
  for (const auto& m : o.only)
    if (std::find(modes.begin(), modes.end(), m) == modes.end())
      throw UsageError("--only takes baseline, inline or pooled, not '" + m + "'");
  if (!o.only.empty()) modes = o.only;

  KeygenWork work{o.keygen_ops, o.keygen_mem_kib};
  if (work.ops == 0) {
    if (!o.json) progress("calibrating key generation...");
    work.ops = calibrate(o);
  }
  const auto t0 = Clock::now();
  examples::agency::cred_def_keygen("measure", work);
  const double keygen_ms = ms_since(t0);

  std::vector<RunResult> results;
  for (const auto& m : modes) {
    if (!o.json) progress(fmt::format("running {} for {} s...", m, o.seconds));
    results.push_back(run(m, o, work));
  }
  auto find = [&](const std::string& n) -> const RunResult* {
    for (const auto& r : results)
      if (r.name == n) return &r;
    return nullptr;
  };
  const RunResult* base = find("baseline");
  auto ratio = [&](const RunResult* r) -> std::optional<double> {
    if (!base || !r) return std::nullopt;
    const double b = percentile(base->cheap_ms, 99);
    return b > 0 ? std::optional<double>(percentile(r->cheap_ms, 99) / b) : std::nullopt;
  };
  const auto pooled_ratio = ratio(find("pooled"));
  const auto inline_ratio = ratio(find("inline"));

  if (o.json) {
    nlohmann::json j;
    for (const auto& r : results)
      j[r.name] = to_json(r, o.seconds);
    nlohmann::json pools = nlohmann::json::object();
    for (const auto& p : o.pools)
      pools[p.name] = {
          {"threads", p.threads}, {"queue_capacity", p.queue_capacity}, {"nice", p.nice}};
    j["config"] = {{"seconds", o.seconds},
                   {"cheap_clients", o.clients},
                   {"cheap_rate_per_client", o.rate},
                   {"expensive_clients", o.expensive_clients},
                   {"keygen_ms", keygen_ms},
                   {"keygen_ops", work.ops},
                   {"keygen_mem_kib", work.mem_kib},
                   {"execution_threads", o.threads},
                   {"pools", pools}};
    if (pooled_ratio) j["pooled_p99_over_baseline"] = *pooled_ratio;
    if (inline_ratio) j["inline_p99_over_baseline"] = *inline_ratio;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf(
      "worker-pool demo (seed 004, R22): %u cheap clients x %.0f create_did/s, %u expensive "
      "clients,\nkey generation %.0f ms (Argon2id %u x %u KiB), pools:",
      o.clients, o.rate, o.expensive_clients, keygen_ms, work.ops, work.mem_kib);
  for (const auto& p : o.pools)
    std::printf(" %s=%u:%u:%d", p.name.c_str(), p.threads, p.queue_capacity, p.nice);
  std::printf(", execution threads %u, %.0f s per run\n\n", o.threads, o.seconds);
  std::printf("%-9s %12s %12s %12s %11s %15s %12s\n", "config", "cheap p50", "cheap p99",
              "cheap max", "cheap done", "expensive done", "expensive/s");
  for (const auto& r : results) {
    std::printf("%-9s %9.3f ms %9.3f ms %9.3f ms %11zu %15llu %12.2f\n", r.name.c_str(),
                percentile(r.cheap_ms, 50), percentile(r.cheap_ms, 99), percentile(r.cheap_ms, 100),
                r.cheap_ms.size(), static_cast<unsigned long long>(r.expensive_done),
                static_cast<double>(r.expensive_done) / o.seconds);
  }
  std::printf("\n");
  if (pooled_ratio)
    std::printf("pooled cheap p99 / baseline = %.2fx (goal: at most 1.5x) %s\n", *pooled_ratio,
                *pooled_ratio <= 1.5 ? "ok" : "MISSED");
  if (inline_ratio)
    std::printf("inline cheap p99 / baseline = %.1fx (goal: at least 10x) %s\n", *inline_ratio,
                *inline_ratio >= 10 ? "ok" : "MISSED");
}

const Register reg{Command{
    "demo", "worker-pool",
    "seed 004: the libindy agency — cheap latency with expensive work inline vs offloaded (R22)",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--seconds", o->seconds, "length of each run")->capture_default_str();
      app.add_option("--clients", o->clients, "cheap clients")->capture_default_str();
      app.add_option("--rate", o->rate, "create_did per second per cheap client")
          ->capture_default_str();
      app.add_option("--expensive-clients", o->expensive_clients,
                     "clients asking for credential definitions (closed loop)")
          ->capture_default_str();
      app.add_option("--keygen-ms", o->keygen_ms, "target duration of one key generation")
          ->capture_default_str();
      app.add_option("--keygen-ops", o->keygen_ops, "Argon2id passes (0: calibrate to --keygen-ms)")
          ->capture_default_str();
      app.add_option("--keygen-mem-kib", o->keygen_mem_kib, "Argon2id memory per key generation")
          ->capture_default_str();
      app.add_option("--threads", o->threads, "canister-execution threads (Config::threads)")
          ->capture_default_str();
      app.add_option(
          "--pool", o->pool_flags,
          "pool NAME=THREADS[:QUEUE_CAPACITY[:NICE]], repeatable (default expensive=1:64)");
      app.add_option("--pool-config", o->pool_file,
                     "JSON file {\"pools\": {\"expensive\": {\"threads\": 2}}}, before --pool");
      app.add_option("--only", o->only, "run only these configurations (baseline, inline, pooled)");
      app.add_flag("--json", o->json, "print one JSON object");
      app.callback([o] { demo(*o); });
    }}};

}  // namespace
}  // namespace canopy::cli
