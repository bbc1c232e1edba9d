// canopy/query.hpp — queries and composite queries (R16, R17) beyond Runtime::query: evaluation
// statistics, the evaluation order, and a QueryService that answers queries on worker threads
// against the last committed state while the driver keeps running rounds.
//
// Semantics (docs/composite-queries.md):
//   query            read-only; runs on a copy of the canister's committed state, which is then
//                    discarded; makes no calls (a call traps); any mode (ingress query, or
//                    called by an update or a composite query).
//   composite query  non-replicated only (an update calling it is rejected); may call queries
//                    and composite queries of canisters on its own subnet. Every call edge runs
//                    on its own copy of the callee's committed state: changes are visible along
//                    that execution, then discarded. Evaluated depth-first. Limits (Config):
//                    composite_query_depth_max, composite_query_cost_max,
//                    composite_query_time_max_ms (wall time through Env) — each violation aborts
//                    the whole query with its own CANISTER_ERROR reject (messages below). A
//                    callee on another subnet → CANISTER_ERROR for that call; a callee method
//                    that is an update → CANISTER_ERROR for that call.
//
// Thread-safety: `query_with_stats` is a driver-thread call like Runtime::query (it reads the
// live state, which between rounds is the committed state). QueryService::query/submit may be
// called from any thread, concurrently with Runtime::tick on the driver thread; they read a
// snapshot published between rounds, so a query never sees a half-executed round.
// Ownership: a QueryService refers to its Runtime, which must outlive it; construct and destroy
// it on the driver thread.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "canopy/codec.hpp"
#include "canopy/ids.hpp"
#include "canopy/reject.hpp"

namespace canopy {

class Runtime;

// How a composite query's call graph is walked. All three give the same results; they differ
// in memory (state copies alive at once) and in wall time.
enum class QueryOrder : uint8_t {
  depth_first,    // the IC's order: a call is evaluated when it is issued; at most one copy per
                  // level of the call graph is alive
  parallel,       // calls are evaluated on other threads as soon as they are issued, each on its
                  // own copy; the caller sees them settled exactly as in depth_first. A limit
                  // violation re-runs the query depth-first so that the reject is the same.
  breadth_first,  // for comparison (benchmarks): the copy of a call edge is taken when the call
                  // is issued and calls run level by level, so whole levels of copies are alive
};
const char* to_string(QueryOrder order);

// The reject messages of the three limits start with these (code: CANISTER_ERROR).
inline constexpr std::string_view query_too_deep_prefix = "composite query call graph too deep";
inline constexpr std::string_view query_cost_prefix = "composite query cost budget exceeded";
inline constexpr std::string_view query_time_prefix = "composite query time limit exceeded";

// What one query evaluation did.
struct QueryStats {
  uint64_t executions = 0;         // method executions, the root included
  uint64_t edges = 0;              // call edges evaluated, each on its own copy of the callee
  uint64_t copies_peak = 0;        // most canister copies alive at once (memory of the evaluation)
  uint32_t depth = 0;              // deepest call edge reached (0: no calls)
  uint64_t cost = 0;               // cost units of every execution (base cost + ctx.charge())
  uint64_t edge_copy_ns = 0;       // Env::wall_ns() spent copying callee states for call edges
  bool rerun_depth_first = false;  // a parallel evaluation hit a limit and was re-run
};

struct QueryOutcome {
  Result<Bytes> result;
  QueryStats stats;
};

// The order Config selects: parallel when Config::composite_query_parallel, else depth_first.
QueryOrder default_query_order(const Runtime& rt);

// Runtime::query_raw with an explicit order and statistics. Driver thread, between rounds.
QueryOutcome query_with_stats(Runtime& rt, CanisterId id, std::string_view method,
                              const Bytes& payload, QueryOrder order);

struct QueryServiceStats {
  uint64_t snapshots_published = 0;
  uint64_t canister_copies = 0;  // canisters copied into snapshots (only changed ones are)
  uint64_t queries_served = 0;
  uint64_t queries_refused = 0;  // submit() with a full queue or after shutdown
};

class QueryService {
 public:
  // Publishes the current (committed) state at once and then once per round (R16). Starts
  // Config::query_threads worker threads for submit(). Driver thread.
  explicit QueryService(Runtime& rt);
  // Stops the workers; queued queries not yet started are answered SYS_TRANSIENT. Driver thread.
  ~QueryService();
  QueryService(const QueryService&) = delete;
  QueryService& operator=(const QueryService&) = delete;

  // Driver thread, between rounds: publish the committed state now. Copies only canisters that
  // executed something, changed balance or status, or were installed/upgraded since the last
  // snapshot (copies are O(1) for state built from PMap/PVector).
  void publish();
  // The round whose committed state queries currently see.
  uint64_t snapshot_round() const;

  // Any thread: evaluate at once on the calling thread against the latest snapshot.
  QueryOutcome query_raw(CanisterId id, std::string_view method, const Bytes& payload,
                         std::optional<QueryOrder> order = std::nullopt) const;
  template <class R = void, class... Args>
  Result<R> query(CanisterId id, std::string_view method, const Args&... args) const {
    return decode_result<R>(query_raw(id, method, encode(args...)).result);
  }
  // Any thread: queue for a worker thread (bounded by Config::query_queue_capacity; a full
  // queue answers SYS_TRANSIENT at once).
  std::future<Result<Bytes>> submit(CanisterId id, std::string method, Bytes payload);

  QueryServiceStats stats() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace canopy
