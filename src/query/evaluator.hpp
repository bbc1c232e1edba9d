// Evaluation of one query or composite query (R16, R17) against a QuerySource.
//
// Every execution — the root and every call edge — runs on a fresh sandbox CanisterRt holding
// its own copy (CanisterBase::clone) of the target's committed code+state; the sandbox and its
// copy are dropped when the execution finishes, so nothing reaches committed state. A composite
// query's calls are routed (CanisterRt::set_query_caller) to on_call(), which checks the limits
// and the same-subnet rule and evaluates the callee:
//   depth_first    at once, recursively; the call is settled when ctx.call returns.
//   parallel       on another thread (oneTBB task_group); the call is settled lazily, so user
//                  code observes exactly what it observes depth-first.
//   breadth_first  the copy is taken at issue, the evaluation waits in a FIFO (benchmarks).
// A limit violation (depth, total cost, wall time) aborts the whole query: the frame that hit it
// traps, every later call traps, and run() returns the violation's reject. After a violation in
// parallel/breadth_first order, run() re-evaluates depth-first so that the reject is the one the
// IC's order produces (a time-limit violation is returned as is: wall time is not reproducible).
//
// Thread-safety: one evaluator per query; in parallel order its callbacks run on several
// threads (shared counters are atomic). The source must stay unchanged while run() runs.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/env.hpp"
#include "canopy/query.hpp"
#include "query/source.hpp"

namespace canopy::detail {

// Breadth-first evaluation nests one stack frame per call graph node waiting for a result; this
// bounds it (deeper graphs are rejected SYS_FATAL in that order — it exists for benchmarks).
inline constexpr uint32_t bfs_nesting_max = 2048;

// True when the execution layer can settle a call lazily (CanisterRt::complete_lazily); without
// it the parallel and breadth_first orders evaluate each call when it is issued.
bool lazy_calls_available();

class QueryEvaluator {
 public:
  QueryEvaluator(const Config& cfg, const QuerySource& source, Env& env, QueryOrder order);
  ~QueryEvaluator();
  QueryEvaluator(const QueryEvaluator&) = delete;
  QueryEvaluator& operator=(const QueryEvaluator&) = delete;

  // Evaluates `method` of `id`: a composite query with its call graph, anything else as a plain
  // query (an update method is refused by the execution layer). Call once.
  Result<Bytes> run(CanisterId id, std::string_view method, const Bytes& payload);
  QueryStats stats() const;

 private:
  struct Frame;
  struct Pending;
  struct BfsItem;
  enum class Abort : uint8_t { none, too_deep, cost, time };

  Result<Bytes> eval(CanisterId id, std::string_view method, const Bytes& payload, uint32_t depth,
                     std::unique_ptr<CanisterBase> copy);
  IssueResult on_call(Frame& frame, CallContext& cc, CanisterId to, std::string_view method,
                      Bytes&& payload);
  [[noreturn]] void abort_with(Abort kind, std::string message);
  uint64_t cost_now() const;
  bool time_exceeded() const;
  std::unique_ptr<CanisterBase> copy_of(const CanisterBase& code, bool edge);
  void run_bfs_until(const BfsItem* item);

  const Config& cfg_;
  const QuerySource& source_;
  Env& env_;
  const QueryOrder order_;
  bool ran_ = false;
  uint64_t start_ns_ = 0;

  std::atomic<bool> aborted_{false};
  mutable std::mutex abort_mu_;
  Abort abort_kind_ = Abort::none;
  std::optional<Reject> abort_reject_;

  std::atomic<uint64_t> cost_done_{0};  // cost of finished executions
  std::atomic<uint64_t> executions_{0};
  std::atomic<uint64_t> edges_{0};
  std::atomic<uint64_t> copies_live_{0};
  std::atomic<uint64_t> copies_peak_{0};
  std::atomic<uint64_t> edge_copy_ns_{0};
  std::atomic<uint32_t> depth_reached_{0};
  bool rerun_ = false;

  // depth_first and breadth_first only (one thread): the executions in progress, outermost
  // first, whose running cost counts towards the budget; the breadth-first queue.
  std::vector<Frame*> active_;
  std::deque<std::shared_ptr<BfsItem>> fifo_;
  uint32_t bfs_nesting_ = 0;
};

}  // namespace canopy::detail
