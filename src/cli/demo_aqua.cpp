// `canopy demo aqua` — seed 001: Aqua's par / co / join / streams / race / timeout, with peers
// as canisters spread over several subnets, some of them slow or silent (R18, R19).
//
// Each scenario runs on a fresh Runtime (examples/aqua_patterns): a Client on subnet 0 and peers
// round-robin over --subnets subnets.
//   traverse_peers          20 peers, 5 silent: returns once 10 acks arrived (before the 1 s)
//   traverse_peers_timeout  20 peers, 10 silent + 5 slow: 1 s passes first with 5 acks
//   get_or_not              the other peer is silent: timeout, local failover value
//   get_or_not_fast         the other peer answers in time: no failover
//   race                    a slow peer, a fast peer and a timeout: the fast peer wins
//   race_timeout            two silent peers and a timeout: the timeout wins
//   parallel_calls          seed 000: 2000 pings at once -> 500 succeed (R2)
//   capped_parallel_calls   the same through for_each_par(..., 500) -> 2000
//   parallel_calls_retry    uncapped, SYS_TRANSIENT retried from a timer (R19) -> 2000
// Prints one line per scenario, or with --json one object with one member per scenario; each
// has what the scenario did plus `rounds` and `virtual_ms` (from submitting the ingress message
// to its answer), `elapsed_ms` (virtual time inside the client), `accounted_ms` (until every call
// the client abandoned was answered or timed out on the wire, R1/R10) and `trace_hash`; the top
// level has `trace_hash` (all scenarios folded, the same for any --threads, R20) and `config`.
#include <fmt/format.h>
#include <canopy/canopy.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "aqua_patterns/aqua_patterns.hpp"
#include "commands.hpp"

namespace canopy::cli {
namespace {

using examples::aqua::Client;
using examples::aqua::PeerMode;
using examples::aqua::PeerSpec;
using json = nlohmann::ordered_json;

constexpr int64_t threads_max = 256;
constexpr int64_t subnets_max = 64;
constexpr int64_t calls_max = 100'000;
constexpr uint64_t accounting_rounds_max = 2'000;

struct Options {
  bool json = false;
  int64_t subnets = 4;
  int64_t threads = 1;
  int64_t calls = 2'000;
  int64_t cap = 500;
  std::string seed = "0";
};

std::string hex(uint64_t v) {
  return fmt::format("{:016x}", v);
}

struct Scenario {
  std::string name;
  json result;
  uint64_t trace_hash = 0;
  std::string line;  // for the table
};

// Submits `method` to the client, ticks until answered; measures; then runs until every call
// the client made is accounted for (answered, or expired on the wire).
template <class R, class... Args>
R run_client(Runtime& rt, CanisterId client, json& j, const std::string& method,
             const Args&... args) {
  const uint64_t round0 = rt.round();
  const uint64_t time0 = rt.time_ms();
  auto r = rt.update<R>(client, method, args...);
  if (!r) throw std::runtime_error(method + " failed: " + r.error().to_string());
  j["rounds"] = rt.round() - round0;
  j["virtual_ms"] = rt.time_ms() - time0;
  const uint64_t answered_ms = rt.time_ms();
  const auto info = rt.info(client);
  j["abandoned_calls_at_answer"] = info ? info->outstanding_calls : 0;
  uint64_t n = 0;
  while (n < accounting_rounds_max) {
    const auto i = rt.info(client);
    if (i && i->outstanding_calls == 0 && i->open_call_contexts == 0) break;
    rt.tick();
    ++n;
  }
  j["accounted_ms"] = rt.time_ms() - answered_ms;
  if (auto v = rt.check_invariants(); !v.empty()) {
    throw std::runtime_error(method + ": invariant violated: " + v.front());
  }
  return *r;
}

Scenario run_traverse(const Config& cfg, const std::string& name, size_t fast, size_t silent,
                      size_t slow) {
  Runtime rt(cfg);
  CanisterId client = rt.install<Client>(rt.subnet(0));
  auto peers = examples::aqua::install_peers(rt, examples::aqua::peer_mix(fast, silent, slow));
  Scenario s{name, json::object(), 0, ""};
  json& j = s.result;
  j["peers"] = peers.size();
  j["silent"] = silent + slow;
  j["never_answer"] = silent;
  j["answer_after_deadline"] = slow;
  j["want"] = 10;
  j["timeout_ms"] = 1000;
  auto rep = run_client<examples::aqua::TraverseReport>(rt, client, j, "traverse_peers", peers,
                                                        uint64_t{10}, uint64_t{1000});
  j["acks"] = rep.acks.size();
  j["timed_out"] = rep.timed_out;
  j["cancelled_arms"] = rep.cancelled;
  j["elapsed_ms"] = rep.finished_ms - rep.started_ms;
  j["first_ack"] = rep.acks.empty() ? "" : rep.acks.front();
  s.trace_hash = rt.trace_hash();
  s.line = fmt::format(
      "{} peers ({} never answer, {} answer after the deadline): {} acks, {} "
      "after {} ms; {} arms cancelled, their calls accounted for {} ms later",
      peers.size(), silent, slow, rep.acks.size(), rep.timed_out ? "timed out" : "enough",
      rep.finished_ms - rep.started_ms, rep.cancelled, j["accounted_ms"].get<uint64_t>());
  return s;
}

Scenario run_get_or_not(const Config& cfg, const std::string& name, PeerMode other_mode) {
  Runtime rt(cfg);
  CanisterId client = rt.install<Client>(rt.subnet(0));
  auto peers = examples::aqua::install_peers(
      rt, {PeerSpec{PeerMode::fast, 0}, PeerSpec{other_mode, 200}});  // the other on subnet 1
  Scenario s{name, json::object(), 0, ""};
  json& j = s.result;
  j["other"] = examples::aqua::to_string(other_mode);
  j["timeout_ms"] = 1000;
  auto rep = run_client<examples::aqua::GetOrNotReport>(rt, client, j, "get_or_not", peers[1],
                                                        uint64_t{1000});
  j["status"] = rep.status;
  j["failover"] = rep.failover;
  j["value"] = rep.value;
  j["elapsed_ms"] = rep.finished_ms - rep.started_ms;
  s.trace_hash = rt.trace_hash();
  s.line = fmt::format("other peer {}: status {}, failover {}, \"{}\" after {} ms",
                       examples::aqua::to_string(other_mode), rep.status, rep.failover, rep.value,
                       rep.finished_ms - rep.started_ms);
  return s;
}

Scenario run_race(const Config& cfg, const std::string& name, PeerSpec a, PeerSpec b) {
  Runtime rt(cfg);
  CanisterId client = rt.install<Client>(rt.subnet(0));
  auto peers = examples::aqua::install_peers(rt, {PeerSpec{PeerMode::fast, 0}, a, b});
  Scenario s{name, json::object(), 0, ""};
  json& j = s.result;
  j["a"] = examples::aqua::to_string(a.mode);
  j["b"] = examples::aqua::to_string(b.mode);
  j["timeout_ms"] = 1000;
  auto rep = run_client<examples::aqua::RaceReport>(rt, client, j, "race_peers", peers[1], peers[2],
                                                    uint64_t{1000});
  j["winner"] = rep.winner;
  j["value"] = rep.value;
  j["elapsed_ms"] = rep.finished_ms - rep.started_ms;
  s.trace_hash = rt.trace_hash();
  s.line = fmt::format("a {} vs b {} vs a 1 s timeout: {} wins (\"{}\") after {} ms",
                       examples::aqua::to_string(a.mode), examples::aqua::to_string(b.mode),
                       rep.winner, rep.value, rep.finished_ms - rep.started_ms);
  return s;
}

Scenario run_parallel(const Config& cfg, const std::string& name, const std::string& method,
                      uint64_t calls, uint64_t cap) {
  Runtime rt(cfg);
  CanisterId client = rt.install<Client>(rt.subnet(0));
  CanisterId callee = rt.install<examples::aqua::Peer>(rt.subnet(cfg.subnets > 1 ? 1 : 0));
  Scenario s{name, json::object(), 0, ""};
  json& j = s.result;
  j["n"] = calls;
  if (cap != 0) j["cap"] = cap;
  examples::aqua::ParallelReport rep;
  if (cap != 0) {
    rep = run_client<examples::aqua::ParallelReport>(rt, client, j, method, callee, calls, cap);
  } else {
    rep = run_client<examples::aqua::ParallelReport>(rt, client, j, method, callee, calls);
  }
  j["ok"] = rep.ok;
  j["failed"] = rep.failed;
  if (rep.attempts != 0) {
    j["attempts"] = rep.attempts;
    j["retries"] = rep.retries;
  }
  j["elapsed_ms"] = rep.finished_ms - rep.started_ms;
  s.trace_hash = rt.trace_hash();
  s.line = fmt::format(
      "{} pings{}: {} ok, {} failed{} after {} ms", calls,
      cap != 0 ? fmt::format(" (at most {} in flight)", cap) : std::string(), rep.ok, rep.failed,
      rep.attempts != 0 ? fmt::format(" ({} retries from a timer)", rep.retries) : std::string(),
      rep.finished_ms - rep.started_ms);
  return s;
}

void run_demo(const Options& o) {
  check_range("--subnets", o.subnets, 2, subnets_max);
  check_range("--threads", o.threads, 1, threads_max);
  check_range("--calls", o.calls, 1, calls_max);
  check_range("--cap", o.cap, 1, calls_max);
  uint64_t seed = 0;
  {
    const char* first = o.seed.data();
    const char* last = first + o.seed.size();
    const auto [end, ec] = std::from_chars(first, last, seed);
    if (o.seed.empty() || ec != std::errc() || end != last) {
      throw UsageError(
          fmt::format("--seed must be an integer in 0..{} (got '{}')", UINT64_MAX, o.seed));
    }
  }
  Config cfg;
  cfg.subnets = static_cast<uint32_t>(o.subnets);
  cfg.threads = static_cast<uint32_t>(o.threads);
  cfg.seed = seed;
  if (auto err = cfg.validate()) throw UsageError("invalid configuration: " + *err);
  const auto calls = static_cast<uint64_t>(o.calls);
  const auto cap = static_cast<uint64_t>(o.cap);

  std::vector<std::pair<std::string, std::function<Scenario()>>> plan = {
      {"traverse_peers", [&] { return run_traverse(cfg, "traverse_peers", 15, 5, 0); }},
      {"traverse_peers_timeout",
       [&] { return run_traverse(cfg, "traverse_peers_timeout", 5, 10, 5); }},
      {"get_or_not", [&] { return run_get_or_not(cfg, "get_or_not", PeerMode::silent); }},
      {"get_or_not_fast", [&] { return run_get_or_not(cfg, "get_or_not_fast", PeerMode::fast); }},
      {"race",
       [&] {
         return run_race(cfg, "race", PeerSpec{PeerMode::slow, 0}, PeerSpec{PeerMode::fast, 300});
       }},
      {"race_timeout",
       [&] {
         return run_race(cfg, "race_timeout", PeerSpec{PeerMode::silent, 0},
                         PeerSpec{PeerMode::silent, 0});
       }},
      {"parallel_calls",
       [&] { return run_parallel(cfg, "parallel_calls", "parallel_calls", calls, 0); }},
      {"capped_parallel_calls",
       [&] {
         return run_parallel(cfg, "capped_parallel_calls", "capped_parallel_calls", calls, cap);
       }},
      {"parallel_calls_retry",
       [&] { return run_parallel(cfg, "parallel_calls_retry", "parallel_calls_retry", calls, 0); }},
  };
  std::vector<Scenario> done;
  uint64_t hash = trace_hash_seed;
  for (auto& [name, fn] : plan) {
    try {
      done.push_back(fn());
    } catch (const std::exception& e) {  // a scenario that did not go as the seed says
      std::fprintf(stderr, "canopy demo aqua: %s: %s\n", name.c_str(), e.what());
      std::exit(1);
    }
    done.back().result["trace_hash"] = hex(done.back().trace_hash);
    hash = trace_fold_bytes(hash, &done.back().trace_hash, sizeof(uint64_t));
  }

  if (o.json) {
    json j;
    for (auto& s : done)
      j[s.name] = s.result;
    j["trace_hash"] = hex(hash);
    j["config"] = {{"subnets", cfg.subnets},
                   {"threads", cfg.threads},
                   {"seed", cfg.seed},
                   {"round_duration_ms", cfg.round_duration_ms},
                   {"xnet_latency_rounds", cfg.xnet_latency_rounds},
                   {"queue_capacity", cfg.queue_capacity}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf(
      "canopy demo aqua \u2014 seed 001: par, co, join, streams, race, timeout (R18, R19)\n");
  std::printf(
      "%u subnets (client on s0, peers round-robin) \u00b7 1 round = %lu ms \u00b7 "
      "cross-subnet %u rounds each way \u00b7 %u thread%s \u00b7 seed %lu\n\n",
      cfg.subnets, static_cast<unsigned long>(cfg.round_duration_ms), cfg.xnet_latency_rounds,
      cfg.threads, cfg.threads == 1 ? "" : "s", static_cast<unsigned long>(cfg.seed));
  for (auto& s : done) {
    std::printf("%-23s %s  [%lu rounds, %lu ms]\n", s.name.c_str(), s.line.c_str(),
                static_cast<unsigned long>(s.result["rounds"].get<uint64_t>()),
                static_cast<unsigned long>(s.result["virtual_ms"].get<uint64_t>()));
  }
  std::printf("\ntrace hash %s\n", hex(hash).c_str());
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_flag("--json", o->json, "print one JSON object instead of the table");
  app.add_option("--subnets", o->subnets, "subnets, 2..64 (default 4)");
  app.add_option("--threads", o->threads, "threads executing canisters (R12, R20)");
  app.add_option("--calls", o->calls, "pings in the parallel-call scenarios (default 2000)");
  app.add_option("--cap", o->cap, "for_each_par's max_in_flight (default 500)");
  app.add_option("--seed", o->seed, "simulation seed, 0..2^64-1");
  app.callback([o]() { run_demo(*o); });
}

const Register registered{Command{"demo", "aqua",
                                  "seed 001: Aqua's par/co/join/streams/race/timeout with peers "
                                  "as canisters, some slow or silent",
                                  &setup}};

}  // namespace
}  // namespace canopy::cli
