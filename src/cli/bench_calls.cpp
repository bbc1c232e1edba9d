// `canopy bench calls` and `canopy bench fanout`: request/response throughput through the whole
// runtime (coroutines, queues, call contexts, rounds). The CAF peer of both lives in bench/caf;
// bench/run.sh runs them side by side.
#include <canopy/canopy.hpp>
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/commands.hpp"

namespace {

using namespace canopy;

struct Server : Canister<Unit> {
  static void methods(Methods<Server>& m) { m.update("ping", &Server::ping); }
  uint64_t ping(Ctx&, uint64_t x) { return x + 1; }
};

struct Client : Canister<Unit> {
  static void methods(Methods<Client>& m) { m.update("run", &Client::run); }
  // `n` round trips to `server`, `in_flight` at a time.
  Task<uint64_t> run(Ctx& ctx, CanisterId server, uint64_t n, uint64_t in_flight) {
    uint64_t ok = 0;
    std::vector<Call<uint64_t>> batch;
    batch.reserve(in_flight);
    for (uint64_t done = 0; done < n;) {
      const uint64_t k = std::min(in_flight, n - done);
      if (k == 1) {
        auto r = co_await ctx.call<uint64_t>(server, "ping", done);
        if (r && *r == done + 1) ++ok;
      } else {
        batch.clear();
        for (uint64_t i = 0; i < k; ++i) batch.push_back(ctx.call<uint64_t>(server, "ping", done + i));
        auto rs = co_await when_all_settled(std::move(batch));
        batch = std::vector<Call<uint64_t>>();
        batch.reserve(in_flight);
        for (uint64_t i = 0; i < k; ++i)
          if (rs[i] && *rs[i] == done + i + 1) ++ok;
      }
      done += k;
    }
    co_return ok;
  }
};

struct FanoutCaller : Canister<Unit> {
  static void methods(Methods<FanoutCaller>& m) { m.update("fanout", &FanoutCaller::fanout); }
  Task<uint64_t> fanout(Ctx& ctx, std::vector<CanisterId> targets, uint64_t calls) {
    std::vector<Call<uint64_t>> all;
    all.reserve(calls);
    for (uint64_t i = 0; i < calls; ++i)
      all.push_back(ctx.call<uint64_t>(targets[i % targets.size()], "ping", i));
    auto rs = co_await when_all_settled(std::move(all));
    uint64_t ok = 0;
    for (auto& r : rs) ok += r.has_value() ? 1 : 0;
    co_return ok;
  }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check(bool ok, const std::string& what) {
  if (!ok) throw cli::UsageError(what);
}

struct CallsOptions {
  uint64_t pairs = 1000;
  uint64_t round_trips = 10'000'000;
  uint64_t in_flight = 1;
  uint32_t threads = 2;
  bool json = false;
};

void run_calls(const CallsOptions& o) {
  check(o.pairs >= 1 && o.pairs <= 1'000'000, "--pairs must be in 1..1000000");
  check(o.round_trips >= o.pairs, "--round-trips must be at least --pairs");
  check(o.in_flight >= 1 && o.in_flight <= 500, "--in-flight must be in 1..500");
  check(o.threads >= 1 && o.threads <= 64, "--threads must be in 1..64");
  Config cfg;
  cfg.threads = o.threads;
  cfg.round_iterations_max = 1000;
  Runtime rt(cfg);
  std::vector<CanisterId> clients, servers;
  for (uint64_t i = 0; i < o.pairs; ++i) {
    servers.push_back(rt.install<Server>(rt.subnet(0)));
    clients.push_back(rt.install<Client>(rt.subnet(0)));
  }
  const uint64_t per_client = o.round_trips / o.pairs;
  std::vector<IngressId> ids;
  for (uint64_t i = 0; i < o.pairs; ++i)
    ids.push_back(rt.submit(clients[i], "run", encode(servers[i], per_client, o.in_flight)));
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  uint64_t rounds = 0;
  while (!rt.idle()) {
    rt.tick();
    ++rounds;
    if (seconds_since(last) > 2.0) {
      last = std::chrono::steady_clock::now();
      cli::progress(fmt::format("bench calls: {} rounds, {:.1f} s, {} messages executed", rounds,
                                seconds_since(t0), rt.stats().messages_executed));
    }
  }
  const double secs = seconds_since(t0);
  uint64_t ok = 0;
  for (auto id : ids) {
    auto r = rt.ingress_result(id);
    if (r && r->has_value()) ok += decode<uint64_t>(**r);
  }
  const uint64_t total = per_client * o.pairs;
  check(ok == total, fmt::format("bench calls: only {} of {} round trips succeeded", ok, total));
  nlohmann::json j = {{"benchmark", "calls"},       {"peer", "canopy"},
                      {"round_trips", total},       {"seconds", secs},
                      {"round_trips_per_sec", total / secs},
                      {"threads", o.threads},       {"pairs", o.pairs},
                      {"in_flight", o.in_flight},   {"rounds", rounds}};
  if (o.json) {
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("canopy bench calls: {} round trips over {} pairs ({} in flight each), {} threads\n"
               "  {:.3f} s, {:.0f} round trips/s, {} rounds\n",
               total, o.pairs, o.in_flight, o.threads, secs, total / secs, rounds);
  }
}

struct FanoutOptions {
  uint64_t calls = 1'000'000;
  uint64_t canisters = 1000;
  uint32_t threads = 2;
  bool json = false;
};

void run_fanout(const FanoutOptions& o) {
  check(o.canisters >= 1 && o.canisters <= 100'000, "--canisters must be in 1..100000");
  check(o.calls >= 1 && o.calls <= 10'000'000, "--calls must be in 1..10000000");
  check(o.threads >= 1 && o.threads <= 64, "--threads must be in 1..64");
  Config cfg;
  cfg.threads = o.threads;
  // One message issues every call: the per-pair queues and the callback quota must hold them.
  const uint64_t per_target = (o.calls + o.canisters - 1) / o.canisters;
  cfg.queue_capacity = static_cast<uint32_t>(std::max<uint64_t>(500, per_target));
  cfg.callbacks_max_per_canister = std::max<uint64_t>(cfg.callbacks_max_per_canister, o.calls);
  Runtime rt(cfg);
  std::vector<CanisterId> targets;
  for (uint64_t i = 0; i < o.canisters; ++i) targets.push_back(rt.install<Server>(rt.subnet(0)));
  auto caller = rt.install<FanoutCaller>(rt.subnet(0));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = rt.update<uint64_t>(caller, "fanout", targets, o.calls);
  const double secs = seconds_since(t0);
  check(r.has_value() && *r == o.calls,
        fmt::format("bench fanout: {} of {} calls succeeded", r ? *r : 0, o.calls));
  nlohmann::json j = {{"benchmark", "fanout"},     {"peer", "canopy"},  {"calls", o.calls},
                      {"canisters", o.canisters},  {"completed", true}, {"seconds", secs},
                      {"calls_per_sec", o.calls / secs}, {"threads", o.threads},
                      {"rounds", rt.round()}};
  if (o.json) {
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("canopy bench fanout: {} calls from one canister to {} canisters, {} threads\n"
               "  {:.3f} s, {:.0f} calls/s\n",
               o.calls, o.canisters, o.threads, secs, o.calls / secs);
  }
}

const cli::Register calls_cmd{cli::Command{
    "bench", "calls", "request/response round trips through the whole runtime",
    [](CLI::App& app) {
      auto o = std::make_shared<CallsOptions>();
      app.add_option("--pairs", o->pairs, "client/server canister pairs")->capture_default_str();
      app.add_option("--round-trips", o->round_trips, "total round trips")->capture_default_str();
      app.add_option("--in-flight", o->in_flight, "calls in flight per client")
          ->capture_default_str();
      app.add_option("--threads", o->threads, "execution threads")->capture_default_str();
      app.add_flag("--json", o->json, "print one JSON object");
      app.callback([o] { run_calls(*o); });
    }}};

const cli::Register fanout_cmd{cli::Command{
    "bench", "fanout", "one canister calls many canisters at once",
    [](CLI::App& app) {
      auto o = std::make_shared<FanoutOptions>();
      app.add_option("--calls", o->calls, "calls issued by one message")->capture_default_str();
      app.add_option("--canisters", o->canisters, "target canisters")->capture_default_str();
      app.add_option("--threads", o->threads, "execution threads")->capture_default_str();
      app.add_flag("--json", o->json, "print one JSON object");
      app.callback([o] { run_fanout(*o); });
    }}};

}  // namespace
