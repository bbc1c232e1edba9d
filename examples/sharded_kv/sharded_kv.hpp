// Seed 002 — composite queries over a sharded key/value store.
//
// `Shard` canisters hold key/value data in a persistent map (canopy::PMap: O(1) copies, so the
// per-call-edge copy of a shard costs the same for 10 000 or 1 000 000 keys). Writes are updates
// (`put`, `put_many`); reads are queries (`get`, `get_many`, `size`).
//
// `Frontend` knows the shards (`set_shards`) and offers composite queries:
//   get_many(keys)         fans out to the shards' get_many queries (all calls issued together,
//                          then awaited with when_all_settled) and merges in key order;
//   write_then_read(k, v)  writes a note into its own copy, calls a shard, reads its own write
//                          back: the write is visible along this execution, then discarded;
//   recurse(n)             calls itself n levels deep: beyond Config::composite_query_depth_max
//                          the query is rejected "too deep";
//   bump_twice(shard)      calls the shard's `bump` query twice: each call edge has its own copy
//                          of the shard's committed state, so both return 1;
//   probe_get / probe_put  report the outcome of one call (to show what is rejected);
//   tree(depth, fanout)    a call tree of fanout^depth leaves (evaluation order, memory).
// `probe_get_many` is an *update* calling the composite get_many: always rejected (R17).
#pragma once

#include <canopy/canopy.hpp>
#include <canopy/pmap.hpp>

#include <cereal/types/optional.hpp>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace examples::sharded_kv {

using Values = std::vector<std::optional<std::string>>;

// The key of the i-th entry of the demos and benchmarks: zero-padded, so key order is numeric.
inline std::string key_name(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key-%08llu", static_cast<unsigned long long>(i));
  return buf;
}

// Deterministic key → shard placement (FNV-1a; std::hash may differ between builds).
inline size_t shard_of(const std::string& key, size_t shards) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key)
    h = (h ^ c) * 1099511628211ULL;
  return static_cast<size_t>(h % shards);
}

// The outcome of one call as data: code 0 = success (R4 codes otherwise).
struct CallOutcome {
  uint8_t code = 0;
  std::string message;
  std::optional<std::string> value;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(code, message, value);
  }
};

template <class T>
CallOutcome outcome_of(const canopy::Result<T>& r) {
  CallOutcome o;
  if (!r) {
    o.code = static_cast<uint8_t>(r.error().code);
    o.message = r.error().message;
  } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
    o.value = *r;
  }
  return o;
}

struct ShardState {
  canopy::PMap<std::string, std::string> data;
  uint64_t bumps = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(data, bumps);
  }
};

struct Shard : canopy::Canister<ShardState> {
  static void methods(canopy::Methods<Shard>& m) {
    m.update("put", &Shard::put);
    m.update("put_many", &Shard::put_many);
    m.query("get", &Shard::get);
    m.query("get_many", &Shard::get_many);
    m.query("size", &Shard::size);
    m.query("bump", &Shard::bump);
    m.query("charged_get", &Shard::charged_get);
    m.query("call_from_query", &Shard::call_from_query);
  }
  void put(canopy::Ctx&, std::string key, std::string value) {
    state().data.set(std::move(key), std::move(value));
  }
  void put_many(canopy::Ctx&, std::vector<std::pair<std::string, std::string>> entries) {
    for (auto& [k, v] : entries)
      state().data.set(std::move(k), std::move(v));
  }
  std::optional<std::string> get(canopy::Ctx&, std::string key) {
    const std::string* v = state().data.find(key);
    return v ? std::optional<std::string>(*v) : std::nullopt;
  }
  Values get_many(canopy::Ctx& ctx, std::vector<std::string> keys) {
    Values out;
    out.reserve(keys.size());
    for (auto& k : keys)
      out.push_back(get(ctx, k));
    return out;
  }
  uint64_t size(canopy::Ctx&) { return state().data.size(); }
  // Modifies this copy of the state: discarded when the query ends (R16).
  uint64_t bump(canopy::Ctx&) { return ++state().bumps; }
  std::optional<std::string> charged_get(canopy::Ctx& ctx, std::string key, uint64_t cost) {
    ctx.charge(cost);
    return get(ctx, key);
  }
  // A plain query may not call anyone (R16): this traps.
  canopy::Task<uint64_t> call_from_query(canopy::Ctx& ctx, canopy::CanisterId other) {
    auto r = co_await ctx.call<uint64_t>(other, "size");
    co_return r ? *r : 0;
  }
};

// The same `get` over a plain std::map state: every per-call-edge copy costs the whole map
// (the baseline the PMap shard is measured against in the demo and the benchmark).
struct StdShard : canopy::Canister<std::map<std::string, std::string>> {
  static void methods(canopy::Methods<StdShard>& m) { m.query("get", &StdShard::get); }
  std::optional<std::string> get(canopy::Ctx&, std::string key) {
    auto it = state().find(key);
    return it == state().end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

struct FrontendState {
  std::vector<canopy::CanisterId> shards;
  canopy::PMap<std::string, std::string> notes;
  uint64_t queries = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(shards, notes, queries);
  }
};

struct WriteRead {
  std::optional<std::string> before;      // the note before this query wrote it
  std::optional<std::string> after_call;  // read back after a call: its own write
  uint64_t queries = 0;                   // this copy's counter after incrementing it
  template <class Archive>
  void serialize(Archive& ar) {
    ar(before, after_call, queries);
  }
};

struct Frontend : canopy::Canister<FrontendState> {
  static void methods(canopy::Methods<Frontend>& m) {
    m.update("set_shards", &Frontend::set_shards);
    m.update("add_note", &Frontend::add_note);
    m.query("note", &Frontend::note);
    m.query("queries", &Frontend::queries);
    m.composite_query("get_many", &Frontend::get_many);
    m.composite_query("write_then_read", &Frontend::write_then_read);
    m.composite_query("recurse", &Frontend::recurse);
    m.composite_query("bump_twice", &Frontend::bump_twice);
    m.composite_query("probe_get", &Frontend::probe_get);
    m.composite_query("probe_put", &Frontend::probe_put);
    m.composite_query("charged_fanout", &Frontend::charged_fanout);
    m.composite_query("tree", &Frontend::tree);
    m.update("probe_get_many", &Frontend::probe_get_many);
  }

  void set_shards(canopy::Ctx&, std::vector<canopy::CanisterId> shards) {
    state().shards = std::move(shards);
  }
  void add_note(canopy::Ctx&, std::string key, std::string value) {
    state().notes.set(std::move(key), std::move(value));
  }
  std::optional<std::string> note(canopy::Ctx&, std::string key) {
    const std::string* v = state().notes.find(key);
    return v ? std::optional<std::string>(*v) : std::nullopt;
  }
  uint64_t queries(canopy::Ctx&) { return state().queries; }

  // Fan-out to every shard holding some of the keys; all calls are issued before any is
  // awaited (independent calls: they may be evaluated in parallel).
  canopy::Task<Values> get_many(canopy::Ctx& ctx, std::vector<std::string> keys) {
    const std::vector<canopy::CanisterId> shards = state().shards;
    if (shards.empty()) throw canopy::Trap("get_many: no shards configured");
    std::vector<std::vector<std::string>> batch(shards.size());
    std::vector<std::pair<size_t, size_t>> where;
    where.reserve(keys.size());
    for (auto& k : keys) {
      const size_t s = shard_of(k, shards.size());
      where.emplace_back(s, batch[s].size());
      batch[s].push_back(k);
    }
    std::vector<canopy::Call<Values>> calls;
    std::vector<size_t> asked;
    for (size_t s = 0; s < shards.size(); ++s) {
      if (batch[s].empty()) continue;
      calls.push_back(ctx.call<Values>(shards[s], "get_many", batch[s]));
      asked.push_back(s);
    }
    auto results = co_await canopy::when_all_settled(std::move(calls));
    std::vector<Values> by_shard(shards.size());
    for (size_t j = 0; j < results.size(); ++j) {
      if (!results[j]) {
        throw canopy::Trap("get_many: shard " + shards[asked[j]].to_string() +
                           " failed: " + results[j].error().to_string());
      }
      by_shard[asked[j]] = std::move(*results[j]);
    }
    Values out;
    out.reserve(keys.size());
    for (auto [s, i] : where)
      out.push_back(std::move(by_shard[s][i]));
    co_return out;
  }

  // Writes into this query's copy, makes a call, reads its own write back (R17: visible along
  // this execution); a later query sees the committed notes unchanged.
  canopy::Task<WriteRead> write_then_read(canopy::Ctx& ctx, std::string key, std::string value) {
    WriteRead out;
    out.before = note(ctx, key);
    state().notes.set(key, std::move(value));
    out.queries = ++state().queries;
    if (!state().shards.empty()) {
      auto r = co_await ctx.call<std::optional<std::string>>(state().shards.front(), "get", key);
      if (!r) throw canopy::Trap("write_then_read: " + r.error().to_string());
    }
    out.after_call = note(ctx, key);
    co_return out;
  }

  // n nested calls to itself: deeper than composite_query_depth_max is rejected "too deep".
  canopy::Task<uint64_t> recurse(canopy::Ctx& ctx, uint64_t n) {
    if (n == 0) co_return 0;
    auto r = co_await ctx.call<uint64_t>(ctx.self(), "recurse", n - 1);
    if (!r) throw canopy::Trap("recurse: " + r.error().to_string());
    co_return *r + 1;
  }

  // Each call edge runs on its own copy of the shard's committed state.
  canopy::Task<std::pair<uint64_t, uint64_t>> bump_twice(canopy::Ctx& ctx,
                                                         canopy::CanisterId shard) {
    auto a = co_await ctx.call<uint64_t>(shard, "bump");
    auto b = co_await ctx.call<uint64_t>(shard, "bump");
    if (!a || !b) throw canopy::Trap("bump_twice: a call failed");
    co_return std::pair<uint64_t, uint64_t>{*a, *b};
  }

  canopy::Task<CallOutcome> probe_get(canopy::Ctx& ctx, canopy::CanisterId target,
                                      std::string key) {
    co_return outcome_of(co_await ctx.call<std::optional<std::string>>(target, "get", key));
  }
  // A composite query calling an update: rejected.
  canopy::Task<CallOutcome> probe_put(canopy::Ctx& ctx, canopy::CanisterId target, std::string key,
                                      std::string value) {
    co_return outcome_of(co_await ctx.call<void>(target, "put", key, value));
  }
  // Calls every shard's charged_get `fanout` times (for the cost budget).
  canopy::Task<uint64_t> charged_fanout(canopy::Ctx& ctx, uint64_t fanout, uint64_t cost) {
    std::vector<canopy::Call<std::optional<std::string>>> calls;
    for (uint64_t i = 0; i < fanout; ++i) {
      for (auto s : state().shards) {
        calls.push_back(
            ctx.call<std::optional<std::string>>(s, "charged_get", std::string("k"), cost));
      }
    }
    auto rs = co_await canopy::when_all_settled(std::move(calls));
    uint64_t ok = 0;
    for (auto& r : rs)
      ok += r.has_value() ? 1 : 0;
    co_return ok;
  }

  // A call tree: `fanout` calls to itself per level, `depth` levels, issued together per level.
  // Returns the number of executions. DFS keeps depth + 1 copies alive, BFS whole levels.
  canopy::Task<uint64_t> tree(canopy::Ctx& ctx, uint64_t depth, uint64_t fanout) {
    if (depth == 0) co_return 1;
    std::vector<canopy::Call<uint64_t>> calls;
    for (uint64_t i = 0; i < fanout; ++i)
      calls.push_back(ctx.call<uint64_t>(ctx.self(), "tree", depth - 1, fanout));
    auto rs = co_await canopy::when_all_settled(std::move(calls));
    uint64_t n = 1;
    for (auto& r : rs) {
      if (!r) throw canopy::Trap("tree: " + r.error().to_string());
      n += *r;
    }
    co_return n;
  }

  // An update (replicated mode) calling the composite query get_many of `frontend`: rejected.
  canopy::Task<CallOutcome> probe_get_many(canopy::Ctx& ctx, canopy::CanisterId frontend,
                                           std::vector<std::string> keys) {
    co_return outcome_of(co_await ctx.call<Values>(frontend, "get_many", keys));
  }
};

}  // namespace examples::sharded_kv
