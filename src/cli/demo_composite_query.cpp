// `canopy demo composite-query` — seed 002: queries that call queries.
//
// A sharded key/value store (examples/sharded_kv): --shards Shard canisters hold --keys keys
// (written with updates); a Frontend's composite query get_many fans out to the shards and
// merges. Then: a composite query that writes to its copy and reads its own write (and a later
// query that sees the committed state unchanged); the rejects of the table and of the limits;
// the three evaluation orders on a call tree; and the cost of one per-edge state copy for shard
// states of --copy-sizes keys, PMap (O(1)) against std::map (O(n)).
//
// --json prints one object:
//   {"fanout":{"shards":S,"keys":K,"found":F,"stored":N,"edges":E,"matches_model":true,...},
//    "write_then_read":{"wrote":..,"read_back":..,"committed_after":..},"state_discarded":true,
//    "rejects":{"too_deep":{"code":5,"code_name":"CANISTER_ERROR","message":".."},
//               "cross_subnet":{..},"update_calls_composite":{..},"composite_calls_update":{..},
//               "query_calls":{..},"cost_budget":{..},"time_limit":{..}},
//    "orders":{"tree":{"depth":D,"fanout":F},"depth_first":{"copies_peak":..,"wall_us":..},..,
//              "identical":true},
//    "copy_cost_us":{"10000":x,"1000000":y},"copy_cost_us_std_map":{..},"config":{..}}
// copy_cost_us is the median Env wall time of the copy made for one call edge (RealEnv), over
// --copy-repeats composite queries that each make exactly one call to the big shard.
#include <fmt/format.h>
#include <canopy/canopy.hpp>
#include <canopy/query.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "sharded_kv/sharded_kv.hpp"

namespace canopy::cli {
namespace {

using examples::sharded_kv::CallOutcome;
using examples::sharded_kv::Frontend;
using examples::sharded_kv::key_name;
using examples::sharded_kv::Shard;
using examples::sharded_kv::shard_of;
using examples::sharded_kv::ShardState;
using examples::sharded_kv::StdShard;
using examples::sharded_kv::Values;
using examples::sharded_kv::WriteRead;

constexpr int64_t shards_max = 256;
constexpr int64_t keys_max = 10'000'000;
constexpr int64_t lookup_max = 100'000;
constexpr int64_t copy_keys_max = 10'000'000;
constexpr int64_t copy_repeats_max = 100'000;

// The same shard with a std::map: every copy is O(n) (the contrast to PMap).
struct Options {
  bool json = false;
  int64_t shards = 4;
  int64_t keys = 1000;
  int64_t lookup = 20;
  std::string copy_sizes = "10000,1000000";
  int64_t copy_repeats = 101;
  int64_t depth_max = Config{}.composite_query_depth_max;
  std::string seed = "0";
};


nlohmann::ordered_json reject_json(RejectCode code, const std::string& message) {
  return {{"code", static_cast<int>(code)},
          {"code_name", std::string(to_string(code))},
          {"message", message}};
}
nlohmann::ordered_json reject_json(const Reject& r) {
  return reject_json(r.code, r.message);
}
nlohmann::ordered_json outcome_json(const CallOutcome& o) {
  if (o.code == 0) return {{"code", 0}, {"message", "(not rejected)"}};
  return reject_json(static_cast<RejectCode>(o.code), o.message);
}
template <class T>
nlohmann::ordered_json result_json(const Result<T>& r) {
  if (r) return {{"code", 0}, {"message", "(not rejected)"}};
  return reject_json(r.error());
}

// A Wall clock that moves 1 ms at every read: makes the time limit show deterministically.
class SteppingEnv final : public Env {
 public:
  explicit SteppingEnv(uint64_t seed) : sim_(seed) {}
  uint64_t random() override { return sim_.random(); }
  uint64_t wall_ns() override { return now_.fetch_add(1'000'000) + 1'000'000; }
  uint64_t seed() const override { return sim_.seed(); }
  bool deterministic() const override { return true; }

 private:
  SimEnv sim_;
  std::atomic<uint64_t> now_{0};
};

struct Store {
  Store(Config cfg, uint32_t shards, std::unique_ptr<Env> env = nullptr) : rt(cfg, std::move(env)) {
    for (uint32_t i = 0; i < shards; ++i)
      shard_ids.push_back(rt.install<Shard>(rt.subnet(0)));
    frontend = rt.install<Frontend>(rt.subnet(0));
    must(rt.update<void>(frontend, "set_shards", shard_ids), "set_shards");
  }
  template <class T>
  static T must(Result<T> r, const char* what) {
    if (!r) throw std::runtime_error(fmt::format("{} failed: {}", what, r.error().to_string()));
    if constexpr (!std::is_void_v<T>) return std::move(*r);
  }
  Runtime rt;
  std::vector<CanisterId> shard_ids;
  CanisterId frontend;
};

// Median per-edge copy time (µs) of a shard of `keys` keys, state type chosen by C.
template <class C, class BuildState>
double copy_cost_us(uint64_t keys, int64_t repeats, uint64_t seed, BuildState build) {
  Config cfg;
  cfg.seed = seed;
  Runtime rt(cfg, std::make_unique<RealEnv>(seed));
  const CanisterId big = rt.install<C>(rt.subnet(0), build(keys));
  const CanisterId frontend = rt.install<Frontend>(rt.subnet(0));
  std::vector<double> us;
  const Bytes payload = encode(big, key_name(keys / 2));
  for (int64_t i = 0; i < repeats; ++i) {
    auto out = query_with_stats(rt, frontend, "probe_get", payload, QueryOrder::depth_first);
    if (!out.result || out.stats.edges != 1)
      throw std::runtime_error("copy-cost probe failed: " + (out.result
                                                                 ? std::string("edges != 1")
                                                                 : out.result.error().to_string()));
    const auto o = decode<CallOutcome>(*out.result);
    if (o.code != 0 || o.value != std::optional<std::string>("v" + std::to_string(keys / 2)))
      throw std::runtime_error("copy-cost probe read a wrong value");
    us.push_back(static_cast<double>(out.stats.edge_copy_ns) / 1000.0);
  }
  return median(std::move(us));
}

void run_demo(const Options& o) {
  check_range("--shards", o.shards, 1, shards_max);
  check_range("--keys", o.keys, 1, keys_max);
  check_range("--lookup", o.lookup, 1, lookup_max);
  check_range("--copy-repeats", o.copy_repeats, 1, copy_repeats_max);
  check_range("--depth-max", o.depth_max, 1, 64);
  const uint64_t seed = parse_u64(o.seed, "--seed");
  const std::vector<uint64_t> sizes = parse_u64_list(o.copy_sizes, "--copy-sizes", 1, copy_keys_max, 16, "10000,1000000");

  Config cfg;
  cfg.subnets = 2;  // the remote shard for the cross-subnet reject
  cfg.seed = seed;
  cfg.composite_query_depth_max = static_cast<uint32_t>(o.depth_max);
  if (auto err = cfg.validate()) throw UsageError("invalid configuration: " + *err);

  nlohmann::ordered_json j;
  std::string text;
  const auto nshards = static_cast<uint32_t>(o.shards);

  // ---- 1. fan-out: get_many over the shards
  Store kv(cfg, nshards);
  std::map<std::string, std::string> model;
  {
    std::vector<std::vector<std::pair<std::string, std::string>>> batch(nshards);
    for (uint64_t i = 0; i < static_cast<uint64_t>(o.keys); ++i) {
      const std::string k = key_name(i * 2);  // even keys are stored, odd ones are not
      const std::string v = "value-" + std::to_string(i);
      model[k] = v;
      batch[shard_of(k, nshards)].emplace_back(k, v);
    }
    for (uint32_t s = 0; s < nshards; ++s) {
      for (size_t at = 0; at < batch[s].size(); at += 10'000) {
        std::vector<std::pair<std::string, std::string>> part(
            batch[s].begin() + static_cast<std::ptrdiff_t>(at),
            batch[s].begin() + static_cast<std::ptrdiff_t>(std::min(at + 10'000, batch[s].size())));
        Store::must(kv.rt.update<void>(kv.shard_ids[s], "put_many", part), "put_many");
      }
    }
  }
  std::vector<std::string> keys;
  for (uint64_t i = 0; i < static_cast<uint64_t>(o.lookup); ++i)
    keys.push_back(key_name(i * 3));
  auto fan =
      query_with_stats(kv.rt, kv.frontend, "get_many", encode(keys), default_query_order(kv.rt));
  if (!fan.result) throw std::runtime_error("get_many failed: " + fan.result.error().to_string());
  const auto values = decode<Values>(*fan.result);
  uint64_t found = 0;
  bool matches = values.size() == keys.size();
  for (size_t i = 0; i < values.size() && i < keys.size(); ++i) {
    auto it = model.find(keys[i]);
    const auto want = it == model.end() ? std::nullopt : std::optional<std::string>(it->second);
    matches = matches && values[i] == want;
    found += values[i].has_value() ? 1 : 0;
  }
  j["fanout"] = {{"shards", nshards},
                 {"keys", keys.size()},
                 {"found", found},
                 {"stored", model.size()},
                 {"edges", fan.stats.edges},
                 {"executions", fan.stats.executions},
                 {"copies_peak", fan.stats.copies_peak},
                 {"order", to_string(default_query_order(kv.rt))},
                 {"matches_model", matches}};
  text += fmt::format(
      "* get_many({} keys) on the frontend fanned out to {} shard queries ({} call edges, each "
      "on its own copy)\n  and merged: {} found, {} absent; {} the model.\n",
      keys.size(), fan.stats.edges, fan.stats.edges, found, keys.size() - found,
      matches ? "matches" : "DOES NOT MATCH");

  // ---- 2. modifies, then discards
  Store::must(kv.rt.update<void>(kv.frontend, "add_note", std::string("greeting"),
                                 std::string("committed")),
              "add_note");
  const std::string wrote = "written-by-a-composite-query";
  auto wr = Store::must(
      kv.rt.query<WriteRead>(kv.frontend, "write_then_read", std::string("greeting"), wrote),
      "write_then_read");
  auto after = Store::must(
      kv.rt.query<std::optional<std::string>>(kv.frontend, "note", std::string("greeting")),
      "note");
  auto counter = Store::must(kv.rt.query<uint64_t>(kv.frontend, "queries"), "queries");
  const bool discarded = wr.after_call == std::optional<std::string>(wrote) &&
                         after == std::optional<std::string>("committed") && counter == 0 &&
                         wr.queries == 1;
  j["write_then_read"] = {
      {"before", wr.before.value_or("")},        {"wrote", wrote},
      {"read_back", wr.after_call.value_or("")}, {"counter_in_copy", wr.queries},
      {"committed_after", after.value_or("")},   {"counter_committed", counter}};
  j["state_discarded"] = discarded;
  text += fmt::format(
      "* write_then_read wrote '{}' into its copy, made a call, read back '{}'; a later query "
      "sees '{}'\n  (counter {} in the copy, {} committed): state discarded = {}.\n",
      wrote, wr.after_call.value_or(""), after.value_or(""), wr.queries, counter, discarded);

  // ---- 3. rejects
  nlohmann::ordered_json rejects;
  auto deep = kv.rt.query<uint64_t>(kv.frontend, "recurse", static_cast<uint64_t>(o.depth_max + 4));
  rejects["too_deep"] = result_json(deep);
  const CanisterId remote = kv.rt.install<Shard>(kv.rt.subnet(1));
  auto cross = Store::must(
      kv.rt.query<CallOutcome>(kv.frontend, "probe_get", remote, std::string("k")), "probe_get");
  rejects["cross_subnet"] = outcome_json(cross);
  auto upd =
      Store::must(kv.rt.update<CallOutcome>(kv.frontend, "probe_get_many", kv.frontend, keys),
                  "probe_get_many");
  rejects["update_calls_composite"] = outcome_json(upd);
  auto put = Store::must(kv.rt.query<CallOutcome>(kv.frontend, "probe_put", kv.shard_ids[0],
                                                  std::string("k"), std::string("v")),
                         "probe_put");
  rejects["composite_calls_update"] = outcome_json(put);
  rejects["query_calls"] =
      result_json(kv.rt.query<uint64_t>(kv.shard_ids[0], "call_from_query", kv.shard_ids[0]));
  {
    Config small = cfg;
    small.composite_query_cost_max = 100'000;
    Store s(small, nshards);
    rejects["cost_budget"] = result_json(
        s.rt.query<uint64_t>(s.frontend, "charged_fanout", uint64_t{1}, uint64_t{50'000}));
  }
  {
    Config quick = cfg;
    quick.composite_query_time_max_ms = 5;  // with a clock that moves 1 ms per read
    Store s(quick, nshards, std::make_unique<SteppingEnv>(seed));
    rejects["time_limit"] = result_json(
        s.rt.query<uint64_t>(s.frontend, "recurse", static_cast<uint64_t>(o.depth_max)));
  }
  j["rejects"] = rejects;
  text += "* rejects (code, message):\n";
  for (auto& [name, r] : rejects.items()) {
    text += fmt::format("    {:<24} {} {}\n", name, r["code"].get<int>(),
                        r["message"].get<std::string>());
  }

  // ---- 4. evaluation orders on a call tree
  {
    const uint64_t depth = std::min<uint64_t>(4, static_cast<uint64_t>(o.depth_max));
    const uint64_t fanout = 4;
    nlohmann::ordered_json orders;
    orders["tree"] = {{"depth", depth}, {"fanout", fanout}};
    std::optional<Result<Bytes>> first;
    bool identical = true;
    for (auto order : {QueryOrder::depth_first, QueryOrder::breadth_first, QueryOrder::parallel}) {
      const auto t0 = std::chrono::steady_clock::now();
      auto out = query_with_stats(kv.rt, kv.frontend, "tree", encode(depth, fanout), order);
      const double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      if (!first) first = out.result;
      identical = identical && out.result == *first;
      orders[to_string(order)] = {{"executions", out.stats.executions},
                                  {"copies_peak", out.stats.copies_peak},
                                  {"wall_us", round3(us)}};
      text += fmt::format(
          "* tree depth {} fanout {} evaluated {:<13}: {} executions, at most {} "
          "copies alive, {:.0f} us\n",
          depth, fanout, to_string(order), out.stats.executions, out.stats.copies_peak, us);
    }
    orders["identical"] = identical;
    j["orders"] = orders;
  }

  // ---- 5. cost of one per-edge copy against state size
  nlohmann::ordered_json pm, sm;
  for (uint64_t n : sizes) {
    auto build_pmap = [](uint64_t keys_n) {
      ShardState st;
      for (uint64_t i = 0; i < keys_n; ++i)
        st.data.set(key_name(i), "v" + std::to_string(i));
      return st;
    };
    auto build_std = [](uint64_t keys_n) {
      std::map<std::string, std::string> st;
      for (uint64_t i = 0; i < keys_n; ++i)
        st.emplace_hint(st.end(), key_name(i), "v" + std::to_string(i));
      return st;
    };
    progress(fmt::format("demo composite-query: per-edge copy cost, {} keys", n));
    const double p = copy_cost_us<Shard>(n, o.copy_repeats, seed, build_pmap);
    const int64_t std_repeats =
        std::max<int64_t>(1, std::min<int64_t>(o.copy_repeats, n >= 1'000'000 ? 5 : 21));
    const double s = copy_cost_us<StdShard>(n, std_repeats, seed, build_std);
    pm[std::to_string(n)] = round3(p);
    sm[std::to_string(n)] = round3(s);
    text += fmt::format(
        "* one per-edge copy of a shard with {:>8} keys: {:>9.3f} us (PMap), "
        "{:>11.3f} us (std::map)\n",
        n, p, s);
  }
  j["copy_cost_us"] = pm;
  j["copy_cost_us_std_map"] = sm;
  j["config"] = {{"composite_query_depth_max", cfg.composite_query_depth_max},
                 {"composite_query_cost_max", cfg.composite_query_cost_max},
                 {"composite_query_time_max_ms", cfg.composite_query_time_max_ms},
                 {"composite_query_parallel", cfg.composite_query_parallel},
                 {"copy_repeats", o.copy_repeats},
                 {"seed", seed}};

  if (o.json) {
    std::fputs((j.dump() + "\n").c_str(), stdout);
  } else {
    std::string head =
        "canopy demo composite-query \u2014 seed 002: queries that call queries (R16, R17)\n";
    head += fmt::format(
        "{} shards \u00b7 {} keys stored \u00b7 depth limit {} \u00b7 cost budget {} units "
        "\u00b7 time limit {} ms \u00b7 order {}\n\n",
        nshards, model.size(), cfg.composite_query_depth_max, cfg.composite_query_cost_max,
        cfg.composite_query_time_max_ms, to_string(default_query_order(kv.rt)));
    std::fputs((head + text).c_str(), stdout);
  }
  if (!matches || !discarded) {
    std::fflush(stdout);
    std::fprintf(stderr, "canopy: demo composite-query: %s\n",
                 !matches ? "get_many does not match the model" : "the state was not discarded");
    std::exit(1);
  }
}

void setup(CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_flag("--json", o->json, "print one JSON object instead of the text");
  app.add_option("--shards", o->shards, "shard canisters, 1..256")->capture_default_str();
  app.add_option("--keys", o->keys, "keys stored across the shards")->capture_default_str();
  app.add_option("--lookup", o->lookup,
                 "keys asked for by get_many (about half of them are stored)")
      ->capture_default_str();
  app.add_option("--copy-sizes", o->copy_sizes,
                 "shard sizes (keys) for the per-edge copy cost, comma-separated")
      ->capture_default_str();
  app.add_option("--copy-repeats", o->copy_repeats, "queries per copy-cost measurement")
      ->capture_default_str();
  app.add_option("--depth-max", o->depth_max, "composite_query_depth_max (R17)")
      ->capture_default_str();
  app.add_option("--seed", o->seed, "simulation seed, 0..2^64-1")->capture_default_str();
  app.callback(guarded("demo composite-query", [o] { run_demo(*o); }));
}

const Register registered{Command{"demo", "composite-query",
                                  "seed 002: composite queries over a sharded key/value store: "
                                  "fan-out, state discarded, rejects, limits, per-edge copy cost",
                                  setup}};

}  // namespace
}  // namespace canopy::cli
