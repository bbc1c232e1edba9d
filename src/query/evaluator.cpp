#include "query/evaluator.hpp"

#include <fmt/format.h>

#include <oneapi/tbb/task_group.h>
#include <atomic>
#include <functional>

#include "canopy/assert.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace canopy::detail {

namespace {

// ThreadSanitizer cannot see the synchronisation inside libtbb (not instrumented): make the
// hand-off of a call to a task and of its result back visible (a no-op in other builds).
[[maybe_unused]] char tsan_handoff = 0;
inline void handoff_release() {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(&tsan_handoff);
#endif
}
inline void handoff_acquire() {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(&tsan_handoff);
#endif
}

tl::unexpected<Reject> reject(RejectCode code, std::string msg) {
  return make_reject(code, std::move(msg));
}

// Q2 in /tmp/requests.md: CanisterRt::complete_lazily, used when it exists.
template <class Rt>
concept LazyCalls = requires(Rt& rt, CallContext& cc, CanisterId id,
                             std::function<Result<Bytes>()> f) {
  rt.complete_lazily(cc, id, std::move(f));
};

template <class Rt, class F>
IssueResult settle_lazily(Rt& rt, CallContext& cc, CanisterId to, F resolve) {
  if constexpr (LazyCalls<Rt>) {
    return rt.complete_lazily(cc, to, std::function<Result<Bytes>()>(std::move(resolve)));
  } else {
    return rt.complete_immediately(cc, to, resolve());
  }
}

// Q1 in /tmp/requests.md: the cost of the execution in progress, when the layer exposes it;
// otherwise the base cost every execution starts with.
template <class Rt>
uint64_t running_cost(const Rt& rt, uint64_t base_cost) {
  if constexpr (requires { rt.execution_cost(); }) {
    return rt.execution_cost();
  } else {
    return base_cost;
  }
}

const char* status_name(CanisterStatus s) {
  switch (s) {
    case CanisterStatus::running:
      return "running";
    case CanisterStatus::stopping:
      return "stopping";
    case CanisterStatus::stopped:
      return "stopped";
  }
  return "?";
}

void raise_max(std::atomic<uint64_t>& target, uint64_t value) {
  uint64_t cur = target.load(std::memory_order_relaxed);
  while (cur < value && !target.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
  }
}
void raise_max(std::atomic<uint32_t>& target, uint32_t value) {
  uint32_t cur = target.load(std::memory_order_relaxed);
  while (cur < value && !target.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

bool lazy_calls_available() {
  return LazyCalls<CanisterRt>;
}

// One execution in progress.
struct QueryEvaluator::Frame {
  CanisterRt* rt = nullptr;
  CanisterId id;
  SubnetId subnet;
  uint32_t depth = 0;
  std::vector<std::shared_ptr<Pending>> pending;  // parallel: calls this execution issued
};

// A call evaluated on another thread (parallel order). The task captures only raw pointers; the
// Pending outlives it (the issuing frame waits for every task before it ends).
struct QueryEvaluator::Pending {
  tbb::task_group group;
  QueryEvaluator* self = nullptr;
  CanisterId to;
  std::string method;
  Bytes payload;
  uint32_t depth = 0;
  Result<Bytes> result;
  // On a worker: evaluates the call into `result`.
  void run() {
    handoff_acquire();
    result = self->eval(to, method, payload, depth, nullptr);
    handoff_release();
  }
};

namespace {
// The functor of a parallel evaluation task. oneTBB copies it into a task object with header
// code that ThreadSanitizer sees, then hands the object to a worker (and recycles task memory)
// through libtbb, which TSan does not see. So the one pointer it carries is written and read
// with atomic operations (std::atomic_ref on a plain member, which has no non-atomic
// initialisation write); everything the task reads through it was published before the run by
// handoff_release (the pointer was read by TSan as a racing plain load before: a flaky report
// in R17_Limits.TotalCostBudget).
template <class P>
class AtomicTask {
 public:
  explicit AtomicTask(P* p) { set(p); }
  AtomicTask(const AtomicTask& o) { set(o.get()); }
  AtomicTask& operator=(const AtomicTask&) = delete;
  void operator()() const { get()->run(); }

 private:
  void set(P* p) { std::atomic_ref<P*>(p_).store(p, std::memory_order_relaxed); }
  P* get() const { return std::atomic_ref<P*>(p_).load(std::memory_order_relaxed); }
  alignas(std::atomic_ref<P*>::required_alignment) mutable P* p_;
};
}  // namespace

// A call waiting in the breadth-first queue, with the copy taken when it was issued.
struct QueryEvaluator::BfsItem {
  CanisterId to;
  std::string method;
  Bytes payload;
  uint32_t depth = 0;
  std::unique_ptr<CanisterBase> copy;
  bool done = false;
  Result<Bytes> result;
};

QueryEvaluator::QueryEvaluator(const Config& cfg, const QuerySource& source, Env& env,
                               QueryOrder order)
    : cfg_(cfg), source_(source), env_(env), order_(order) {}

QueryEvaluator::~QueryEvaluator() = default;

QueryStats QueryEvaluator::stats() const {
  QueryStats s;
  s.executions = executions_.load();
  s.edges = edges_.load();
  s.copies_peak = copies_peak_.load();
  s.depth = depth_reached_.load();
  s.cost = cost_done_.load();
  s.edge_copy_ns = edge_copy_ns_.load();
  s.rerun_depth_first = rerun_;
  return s;
}

bool QueryEvaluator::time_exceeded() const {
  const uint64_t elapsed_ns = env_.wall_ns() - start_ns_;
  return elapsed_ns / 1'000'000 >= cfg_.composite_query_time_max_ms;
}

uint64_t QueryEvaluator::cost_now() const {
  uint64_t c = cost_done_.load();
  if (order_ != QueryOrder::parallel) {
    for (const Frame* f : active_)
      c += running_cost(*f->rt, cfg_.message_base_cost);
  }
  return c;
}

void QueryEvaluator::abort_with(Abort kind, std::string message) {
  {
    std::lock_guard lock(abort_mu_);
    if (abort_kind_ == Abort::none) {
      abort_kind_ = kind;
      abort_reject_ = Reject{RejectCode::canister_error, message};
    }
  }
  aborted_.store(true);
  throw Trap(std::move(message));
}

std::unique_ptr<CanisterBase> QueryEvaluator::copy_of(const CanisterBase& code, bool edge) {
  const uint64_t t0 = edge ? env_.wall_ns() : 0;
  std::unique_ptr<CanisterBase> copy = code.clone();
  if (edge) edge_copy_ns_.fetch_add(env_.wall_ns() - t0);
  const uint64_t live = copies_live_.fetch_add(1) + 1;
  raise_max(copies_peak_, live);
  return copy;
}

Result<Bytes> QueryEvaluator::run(CanisterId id, std::string_view method, const Bytes& payload) {
  CANOPY_ASSERT(!ran_, "a QueryEvaluator runs one query");
  ran_ = true;
  start_ns_ = env_.wall_ns();
  bool composite = false;
  if (auto t = source_.target(id); t && t->code != nullptr) {
    const MethodEntry* m = t->code->method_table().find(method);
    composite = m != nullptr && m->kind == MethodKind::composite_query;
  }
  Result<Bytes> r = eval(id, method, payload, 0, nullptr);
  // Calls issued but never awaited are evaluated too (their cost counts, as depth-first).
  for (uint64_t i = 0; !fifo_.empty(); ++i) {
    CANOPY_ASSERT(i < (uint64_t{1} << 40), "breadth-first queue does not drain");
    auto next = fifo_.front();
    fifo_.pop_front();
    if (next->done) continue;
    next->result = eval(next->to, next->method, next->payload, next->depth, std::move(next->copy));
    next->done = true;
  }
  if (aborted_.load()) {
    Abort kind;
    Reject why;
    {
      std::lock_guard lock(abort_mu_);
      kind = abort_kind_;
      why = *abort_reject_;
    }
    if (order_ != QueryOrder::depth_first && kind != Abort::time) {
      QueryEvaluator dfs(cfg_, source_, env_, QueryOrder::depth_first);
      Result<Bytes> again = dfs.run(id, method, payload);
      rerun_ = true;
      return again;
    }
    return tl::unexpected<Reject>(std::move(why));
  }
  if (composite && cost_done_.load() > cfg_.composite_query_cost_max) {
    return reject(RejectCode::canister_error,
                  fmt::format("{}: the call graph used more than composite_query_cost_max = {} "
                              "cost units (R17)",
                              query_cost_prefix, cfg_.composite_query_cost_max));
  }
  return r;
}

Result<Bytes> QueryEvaluator::eval(CanisterId id, std::string_view method, const Bytes& payload,
                                   uint32_t depth, std::unique_ptr<CanisterBase> copy) {
  auto t = source_.target(id);
  if (!t) {
    return reject(RejectCode::destination_invalid,
                  fmt::format("canister {} does not exist", id.to_string()));
  }
  if (t->code == nullptr) {
    return reject(RejectCode::canister_error,
                  fmt::format("canister {} is empty (no code installed)", id.to_string()));
  }
  if (t->status != CanisterStatus::running) {
    return reject(RejectCode::canister_error,
                  fmt::format("canister {} is {} and answers no queries (R9)", id.to_string(),
                              status_name(t->status)));
  }
  const MethodEntry* entry = t->code->method_table().find(method);
  // A composite query runs in composite mode (its calls come to on_call); everything else in
  // query mode: a plain query cannot call (it traps), an update is refused (R16).
  const MethodKind kind = entry != nullptr && entry->kind == MethodKind::composite_query
                              ? MethodKind::composite_query
                              : MethodKind::query;
  if (!copy) {
    try {
      copy = copy_of(*t->code, depth > 0);
    } catch (const std::exception& e) {
      return reject(RejectCode::canister_error,
                    fmt::format("copying the state of {} failed: {}", id.to_string(), e.what()));
    }
  }
  struct LiveCopy {
    std::atomic<uint64_t>& live;
    ~LiveCopy() { live.fetch_sub(1); }
  } live_copy{copies_live_};
  auto sandbox = std::make_unique<CanisterRt>(id, t->subnet, cfg_, source_, *t->clock,
                                              std::move(copy), t->balance);
  Frame frame;
  frame.rt = sandbox.get();
  frame.id = id;
  frame.subnet = t->subnet;
  frame.depth = depth;
  if (kind == MethodKind::composite_query) {
    sandbox->set_query_caller(
        [this, &frame](CallContext& cc, CanisterId to, std::string_view m, Bytes&& p) {
          return on_call(frame, cc, to, m, std::move(p));
        });
  }
  executions_.fetch_add(1);
  raise_max(depth_reached_, depth);
  const bool track = order_ != QueryOrder::parallel;
  if (track) active_.push_back(&frame);
  Result<Bytes> r = sandbox->run_query(method, payload, kind);
  for (auto& p : frame.pending)
    p->group.wait();  // calls issued but not awaited
  if (!frame.pending.empty()) handoff_acquire();
  if (track) {
    CANOPY_ASSERT(!active_.empty() && active_.back() == &frame, "evaluation frames nest");
    active_.pop_back();
  }
  cost_done_.fetch_add(sandbox->round_cost());
  return r;
}

IssueResult QueryEvaluator::on_call(Frame& frame, CallContext& cc, CanisterId to,
                                    std::string_view method, Bytes&& payload) {
  // Only a composite query's own context may call (a plain query it called cannot, R16).
  if (cc.kind != MethodKind::composite_query) throw Trap("a query cannot make calls (R16)");
  if (aborted_.load()) throw Trap("the composite query was aborted (R17)");
  const uint32_t depth = frame.depth + 1;
  if (time_exceeded()) {
    abort_with(Abort::time,
               fmt::format("{}: the call graph ran longer than composite_query_time_max_ms = {} "
                           "ms (R17)",
                           query_time_prefix, cfg_.composite_query_time_max_ms));
  }
  if (depth > cfg_.composite_query_depth_max) {
    abort_with(Abort::too_deep,
               fmt::format("{}: {} calling {}.{} would be at depth {}, beyond "
                           "composite_query_depth_max = {} (R17)",
                           query_too_deep_prefix, frame.id.to_string(), to.to_string(), method,
                           depth, cfg_.composite_query_depth_max));
  }
  if (cost_now() + cfg_.message_base_cost > cfg_.composite_query_cost_max) {
    abort_with(Abort::cost,
               fmt::format("{}: the call graph used more than composite_query_cost_max = {} "
                           "cost units (R17)",
                           query_cost_prefix, cfg_.composite_query_cost_max));
  }
  CanisterRt& caller = *frame.rt;
  const auto dest = source_.subnet_of(to);
  if (!dest) {
    return caller.complete_immediately(
        cc, to,
        reject(RejectCode::destination_invalid,
               fmt::format("canister {} does not exist", to.to_string())));
  }
  if (*dest != frame.subnet) {
    return caller.complete_immediately(
        cc, to,
        reject(RejectCode::canister_error,
               fmt::format("{} is on subnet {} and {} on subnet {}: a composite query calls "
                           "canisters of its own subnet only (R17)",
                           to.to_string(), dest->to_string(), frame.id.to_string(),
                           frame.subnet.to_string())));
  }
  if (payload.size() > cfg_.payload_max_bytes_local) {
    return caller.complete_immediately(
        cc, to,
        reject(RejectCode::sys_fatal,
               fmt::format("payload of {} bytes exceeds the same-subnet limit of {} bytes (R5)",
                           payload.size(), cfg_.payload_max_bytes_local)));
  }
  edges_.fetch_add(1);
  switch (order_) {
    case QueryOrder::depth_first: {
      Result<Bytes> r = eval(to, method, payload, depth, nullptr);
      if (aborted_.load()) throw Trap("the composite query was aborted (R17)");
      return caller.complete_immediately(cc, to, std::move(r));
    }
    case QueryOrder::parallel: {
      auto p = std::make_shared<Pending>();
      p->self = this;
      p->to = to;
      p->method = std::string(method);
      p->payload = std::move(payload);
      p->depth = depth;
      frame.pending.push_back(p);
      handoff_acquire();  // tasks recycled by TBB were released at their end
      handoff_release();
      p->group.run(AtomicTask<Pending>(p.get()));
      return settle_lazily(caller, cc, to, [p]() -> Result<Bytes> {
        p->group.wait();
        handoff_acquire();
        return std::move(p->result);
      });
    }
    case QueryOrder::breadth_first: {
      auto item = std::make_shared<BfsItem>();
      item->to = to;
      item->method = std::string(method);
      item->payload = std::move(payload);
      item->depth = depth;
      // The copy of this call edge is taken now and kept until the call runs.
      if (auto t = source_.target(to);
          t && t->code != nullptr && t->status == CanisterStatus::running) {
        item->copy = copy_of(*t->code, true);
      }
      fifo_.push_back(item);
      return settle_lazily(caller, cc, to, [this, item]() -> Result<Bytes> {
        run_bfs_until(item.get());
        return std::move(item->result);
      });
    }
  }
  CANOPY_ASSERT(false, "unknown query order");
  return {};
}

void QueryEvaluator::run_bfs_until(const BfsItem* item) {
  if (item->done) return;
  if (bfs_nesting_ >= bfs_nesting_max) {
    // Cannot wait deeper: answer the item without running it (documented for this order).
    for (auto& it : fifo_) {
      if (it.get() != item) continue;
      it->result = reject(
          RejectCode::sys_fatal,
          fmt::format("breadth-first evaluation nested deeper than {} levels", bfs_nesting_max));
      if (it->copy) {
        it->copy.reset();
        copies_live_.fetch_sub(1);
      }
      it->done = true;
    }
    return;
  }
  ++bfs_nesting_;
  for (uint64_t i = 0; !item->done; ++i) {
    CANOPY_ASSERT(!fifo_.empty() && i < (uint64_t{1} << 40), "breadth-first item not queued");
    auto next = fifo_.front();
    fifo_.pop_front();
    if (next->done) continue;
    next->result = eval(next->to, next->method, next->payload, next->depth, std::move(next->copy));
    next->done = true;
  }
  --bfs_nesting_;
}

}  // namespace canopy::detail
