// Worker pools (R22): staging of committed offloads, admission in offload-id order, oneTBB
// arenas, and delivery of completions at round boundaries. See canopy/pool.hpp for the contract.
#include "canopy/pool.hpp"

#include <fmt/format.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "canopy/assert.hpp"
#include "canopy/env.hpp"
#include "core/tbb_threads.hpp"
#include "exec/canister_rt.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

using detail::CanisterRt;
using detail::SlotRef;

namespace {

// One offload between admission and delivery.
struct Job {
  uint64_t id = 0;
  CanisterId canister;
  SlotRef slot;
  uint32_t pool = 0;
  uint64_t due_round = 0;
  std::shared_ptr<detail::OffloadFn> fn;  // moved to the worker when the job starts
  Result<Bytes> result;                   // guarded by State::mu
  bool done = false;                      // guarded by State::mu
};

// A committed offload waiting for the next round boundary.
struct Staged {
  uint64_t round = 0;
  CanisterId canister;
  uint64_t seq = 0;  // per canister: deterministic issue order
  SlotRef slot;
  uint32_t pool = 0;
  uint64_t cost_rounds = 1;
  std::shared_ptr<detail::OffloadFn> fn;
};

struct PoolCore {
  PoolConfig cfg;
  std::deque<std::shared_ptr<Job>> queue;  // admitted, not started
  PoolStats stats;
};

}  // namespace

struct Pools::State {
  // Immutable after construction.
  std::vector<std::string> names;
  uint64_t cost_rounds_max = 1;
  uint64_t shutdown_wait_ms = 0;

  // Guarded by mu.
  mutable std::mutex mu;
  std::condition_variable cv;  // a job finished
  std::vector<PoolCore> pools;
  std::vector<Staged> staged;
  std::unordered_map<uint64_t, uint64_t> seq;  // canister id -> offloads issued
  uint64_t ready = 0;                          // finished, not delivered
  std::function<void()> notify;
  bool stopping = false;

  // Measurement only (R15: never enters execution).
  RealEnv clock{0};

  // Driver thread only.
  Runtime::Impl* impl = nullptr;  // nullptr once the runtime is being destroyed
  std::map<uint64_t, std::shared_ptr<Job>> undelivered;  // by offload id
  uint64_t next_id = 1;
  Delivery delivery = Delivery::deterministic;

  int index_of(std::string_view name) const {
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return static_cast<int>(i);
    return -1;
  }
  std::string list() const {
    std::string out;
    for (const auto& n : names)
      out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
  }
  // REQUIRES: mu held.
  bool quiet() const {
    for (const auto& p : pools)
      if (!p.queue.empty() || p.stats.running != 0) return false;
    return true;
  }
};

namespace {

// The pointer a TBB task carries to its pool. libtbb is not instrumented for ThreadSanitizer,
// so the hand-off to the worker is published through an atomic that TSan sees: every write made
// while building the task happens-before the worker's acquire in get().
class Handoff {
 public:
  Handoff(std::shared_ptr<Pools::State> s, uint32_t pool) : keep_(std::move(s)), pool_(pool) {
    publish();
  }
  Handoff(const Handoff& o) : keep_(o.keep_), pool_(o.pool_) { publish(); }
  Handoff(Handoff&& o) noexcept : keep_(std::move(o.keep_)), pool_(o.pool_) { publish(); }
  Handoff& operator=(const Handoff&) = delete;
  Handoff& operator=(Handoff&&) = delete;

  Pools::State* get() const { return ptr_.load(std::memory_order_acquire); }
  uint32_t pool() const { return pool_; }  // REQUIRES: get() called first on this thread

 private:
  void publish() { ptr_.store(keep_.get(), std::memory_order_release); }
  std::shared_ptr<Pools::State> keep_;
  uint32_t pool_;
  std::atomic<Pools::State*> ptr_{nullptr};
};

// Lowers this thread's priority for one job (Linux: the nice value is per thread) and restores
// it afterwards. Restoring needs CAP_SYS_NICE or RLIMIT_NICE; without them the oneTBB worker keeps
// the lower priority (it only ever serves pools then, or runs slower in the executor arena).
class NiceScope {
 public:
  explicit NiceScope(int nice_value) {
    if (nice_value <= 0) return;
    tid_ = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    before_ = getpriority(PRIO_PROCESS, tid_);
    active_ =
        errno == 0 && before_ < nice_value && setpriority(PRIO_PROCESS, tid_, nice_value) == 0;
  }
  ~NiceScope() {
    if (active_) (void)setpriority(PRIO_PROCESS, tid_, before_);
  }
  NiceScope(const NiceScope&) = delete;
  NiceScope& operator=(const NiceScope&) = delete;

 private:
  id_t tid_ = 0;
  int before_ = 0;
  bool active_ = false;
};

// Runs on a pool thread: takes the oldest queued job of the pool and runs it. Each admitted job
// enqueues one task; a task that finds the queue empty had its job cancelled by shutdown.
void run_one(const Handoff& h) {
  Pools::State* s = h.get();
  const uint32_t p = h.pool();
  std::shared_ptr<Job> job;
  std::shared_ptr<detail::OffloadFn> fn;
  std::string name;
  int nice_value = 0;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    PoolCore& pc = s->pools[p];
    if (pc.queue.empty()) return;
    job = std::move(pc.queue.front());
    pc.queue.pop_front();
    --pc.stats.queued;
    fn = std::move(job->fn);
    ++pc.stats.running;
    pc.stats.running_max = std::max(pc.stats.running_max, pc.stats.running);
    name = pc.cfg.name;
    nice_value = pc.cfg.nice;
  }
  const uint64_t t0 = s->clock.wall_ns();
  Result<Bytes> result;
  {
    NiceScope priority(nice_value);
    result = fn->run();
  }
  const uint64_t busy_ns = s->clock.wall_ns() - t0;
  if (!result) {
    result = make_reject(
        RejectCode::canister_error,
        fmt::format("offloaded job in pool '{}' threw: {} (R22)", name, result.error().message));
  }
  fn.reset();  // the user's closure dies here, outside the lock
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    PoolCore& pc = s->pools[p];
    --pc.stats.running;
    pc.stats.busy_ns += busy_ns;
    ++(result ? pc.stats.completed : pc.stats.failed);
    job->result = std::move(result);
    job->done = true;
    ++s->ready;
    notify = s->notify;
  }
  s->cv.notify_all();
  if (notify) notify();
}

}  // namespace

struct Pools::Threads {
  std::unique_ptr<detail::TbbWorkers> lease;
  std::vector<std::unique_ptr<tbb::task_arena>> arenas;
};

Pools::Pools(Key, Runtime& rt)
    : s_(std::make_shared<State>()), threads_(std::make_unique<Threads>()) {
  const Config& cfg = rt.config();
  s_->impl = &rt.impl();
  s_->cost_rounds_max = cfg.offload_cost_rounds_max;
  s_->shutdown_wait_ms = cfg.pool_shutdown_wait_ms_max;
  size_t workers = 0;
  for (const auto& pc : cfg.pools) {
    s_->names.push_back(pc.name);
    PoolCore core;
    core.cfg = pc;
    core.stats.name = pc.name;
    core.stats.threads = pc.threads;
    core.stats.queue_capacity = pc.queue_capacity;
    s_->pools.push_back(std::move(core));
    workers += pc.threads;
  }
  // The budget first, so that the arenas find their workers (DESIGN §2).
  threads_->lease = std::make_unique<detail::TbbWorkers>(workers);
  for (const auto& pc : cfg.pools) {
    // reserved_for_masters = 0: every slot is a worker's; the driver never runs pool jobs.
    auto arena = std::make_unique<tbb::task_arena>(static_cast<int>(pc.threads), 0);
    arena->initialize();
    threads_->arenas.push_back(std::move(arena));
  }
}

Pools::~Pools() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->staged.clear();  // never admitted: their canisters are going away
  }
  s_->impl = nullptr;  // the runtime's subnets are gone: nothing is delivered any more
  shutdown(PoolShutdown::cancel, s_->shutdown_wait_ms);
  // Arenas may be destroyed with tasks still pending: oneTBB keeps its internal arena until
  // they ran, and each task keeps the State alive (Handoff).
  threads_.reset();
}

Delivery Pools::delivery() const {
  return s_->delivery;
}

void Pools::set_delivery(Delivery d) {
  s_->delivery = d;
}

std::vector<std::string> Pools::names() const {
  return s_->names;
}

std::vector<PoolStats> Pools::stats() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  std::vector<PoolStats> out;
  for (const auto& p : s_->pools)
    out.push_back(p.stats);
  return out;
}

std::optional<PoolStats> Pools::stats(std::string_view pool) const {
  const int i = s_->index_of(pool);
  if (i < 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->pools[static_cast<size_t>(i)].stats;
}

bool Pools::idle() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->staged.empty() && s_->undelivered.empty();
}

bool Pools::has_ready() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->ready != 0;
}

void Pools::set_notify(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->notify = std::move(fn);
}

bool Pools::stopped() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->stopping;
}

void Pools::admit() {
  std::vector<Staged> staged;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    staged.swap(s_->staged);
  }
  if (staged.empty()) return;
  // R20: admission order does not depend on which thread committed first.
  std::sort(staged.begin(), staged.end(), [](const Staged& a, const Staged& b) {
    return std::tie(a.round, a.canister, a.seq) < std::tie(b.round, b.canister, b.seq);
  });
  for (auto& st : staged) {
    const uint64_t id = s_->next_id++;
    std::optional<Reject> refuse;
    std::shared_ptr<Job> job;
    std::string name;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      PoolCore& pc = s_->pools[st.pool];
      name = pc.cfg.name;
      const uint64_t cap = uint64_t{pc.cfg.threads} + pc.cfg.queue_capacity;
      if (s_->stopping) {
        refuse =
            Reject{RejectCode::sys_transient, fmt::format("pool '{}' is shut down (R22)", name)};
      } else if (pc.stats.in_flight >= cap) {
        refuse =
            Reject{RejectCode::sys_transient,
                   fmt::format("pool '{}' is full: {} jobs admitted and not yet delivered "
                               "(threads {} + queue_capacity {}); retry later (R22)",
                               name, pc.stats.in_flight, pc.cfg.threads, pc.cfg.queue_capacity)};
      }
      if (refuse) {
        ++pc.stats.refused;
      } else {
        job = std::make_shared<Job>();
        job->id = id;
        job->canister = st.canister;
        job->slot = st.slot;
        job->pool = st.pool;
        job->due_round = st.round + st.cost_rounds;
        job->fn = std::move(st.fn);
        ++pc.stats.admitted;
        ++pc.stats.in_flight;
        ++pc.stats.queued;
        pc.queue.push_back(job);
      }
    }
    CanisterRt* c = s_->impl ? s_->impl->find(st.canister) : nullptr;
    if (c != nullptr) {
      TraceEvent e;
      e.kind = TraceKind::offload_started;
      e.from = st.canister;
      e.to = st.canister;
      e.call_seq = id;
      e.reject_code = refuse ? static_cast<uint8_t>(refuse->code) : 0;
      c->trace(e, name);
    }
    if (refuse) {
      if (c != nullptr) c->complete_system(st.slot, tl::unexpected<Reject>(std::move(*refuse)));
      continue;
    }
    s_->undelivered.emplace(id, job);
    threads_->arenas[st.pool]->enqueue([h = Handoff(s_, st.pool)] { run_one(h); });
  }
}

void Pools::deliver_ready(uint64_t round) {
  // Deterministic: everything due by this round, waiting for unfinished jobs (at the boundary,
  // on the driver thread). When ready: whatever finished, in id order.
  for (auto it = s_->undelivered.begin(); it != s_->undelivered.end();) {
    Job& job = *it->second;
    Result<Bytes> result;
    {
      std::unique_lock<std::mutex> lock(s_->mu);
      if (s_->delivery == Delivery::deterministic) {
        if (job.due_round > round) {
          ++it;
          continue;
        }
        s_->cv.wait(lock, [&] { return job.done; });
      } else if (!job.done) {
        ++it;
        continue;
      }
      result = std::move(job.result);
      --s_->ready;
      PoolCore& pc = s_->pools[job.pool];
      --pc.stats.in_flight;
      ++pc.stats.delivered;
    }
    if (CanisterRt* c = s_->impl ? s_->impl->find(job.canister) : nullptr) {
      TraceEvent e;
      e.kind = TraceKind::offload_completed;
      e.from = job.canister;
      e.to = job.canister;
      e.call_seq = job.id;
      e.reject_code = result ? 0 : static_cast<uint8_t>(result.error().code);
      c->trace(e, s_->names[job.pool]);
      // false: the slot is gone (the canister was upgraded or uninstalled, R21); dropped.
      c->complete_system(job.slot, std::move(result));
    }
    it = s_->undelivered.erase(it);
  }
}

void Pools::on_round_start(uint64_t round) {
  if (s_->impl == nullptr) return;
  admit();
  deliver_ready(round);
}

bool Pools::shutdown(PoolShutdown mode, uint64_t wait_ms_max) {
  std::vector<std::shared_ptr<detail::OffloadFn>> dropped;  // destroyed outside the lock
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->stopping = true;
    if (mode == PoolShutdown::cancel) {
      // Queued jobs complete at once, without running; their tasks will find the queue empty.
      for (auto& pc : s_->pools) {
        for (auto& job : pc.queue) {
          dropped.push_back(std::move(job->fn));
          job->result = make_reject(
              RejectCode::sys_transient,
              fmt::format("pool '{}' was shut down before the job started (R22)", pc.cfg.name));
          job->done = true;
          ++s_->ready;
          ++pc.stats.cancelled;
          --pc.stats.queued;
        }
        pc.queue.clear();
      }
      if (!dropped.empty()) notify = s_->notify;
    }
  }
  dropped.clear();
  s_->cv.notify_all();
  if (notify) notify();
  admit();  // staged offloads are refused now
  std::unique_lock<std::mutex> lock(s_->mu);
  return s_->cv.wait_for(lock, std::chrono::milliseconds(wait_ms_max), [&] { return s_->quiet(); });
}

Pools& attach_pools(Runtime& rt) {
  Runtime::Impl& impl = rt.impl();
  if (impl.attached_pools) return *impl.attached_pools;
  impl.attached_pools = std::make_shared<Pools>(Pools::Key{}, rt);
  Pools* pools = impl.attached_pools.get();  // owned by the runtime: the hooks never outlive it
  impl.before_round.push_back([pools](uint64_t round) { pools->on_round_start(round); });
  impl.busy.push_back([pools] { return !pools->idle(); });  // Runtime::idle() sees offloads
  return *pools;
}

Pools* find_pools(Runtime& rt) {
  return rt.impl().pools();
}

namespace detail {

OffloadIssue offload_issue(CallContext& cc, std::string_view pool, std::unique_ptr<OffloadFn> fn,
                           uint64_t declared_cost_rounds) {
  CanisterRt& rt = *cc.rt;
  if (cc.kind != MethodKind::update) throw Trap("a query cannot offload work (R16, R22)");
  auto fail = [&](RejectCode code, std::string msg) {
    return OffloadIssue{&rt, IssueResult::failed(Reject{code, std::move(msg)})};
  };
  Pools* pools = rt.routing().pools();
  if (pools == nullptr) {
    return fail(RejectCode::destination_invalid,
                fmt::format("this runtime has no worker pools (Config::pools is empty), so there "
                            "is no pool '{}' (R22)",
                            pool));
  }
  const std::shared_ptr<Pools::State>& s = pools->state();
  const int index = s->index_of(pool);
  if (index < 0) {
    return fail(RejectCode::destination_invalid,
                fmt::format("no worker pool named '{}' (pools: {}) (R22)", pool, s->list()));
  }
  const uint64_t cost = std::max<uint64_t>(declared_cost_rounds, 1);
  if (cost > s->cost_rounds_max) {
    return fail(RejectCode::sys_fatal,
                fmt::format("declared cost of {} rounds exceeds offload_cost_rounds_max = {} (R22)",
                            cost, s->cost_rounds_max));
  }
  IssueResult issued = rt.issue_system(cc, 0);
  if (issued.error) return OffloadIssue{&rt, std::move(issued)};
  Staged st;
  st.round = rt.clock().round;
  st.canister = rt.id();
  st.slot = issued.ref;
  st.pool = static_cast<uint32_t>(index);
  st.cost_rounds = cost;
  st.fn = std::shared_ptr<OffloadFn>(std::move(fn));
  {
    std::lock_guard<std::mutex> lock(s->mu);
    st.seq = ++s->seq[rt.id().value];
  }
  // R7: handed over only if this execution commits.
  rt.on_commit([s, st = std::move(st)]() mutable {
    std::lock_guard<std::mutex> lock(s->mu);
    s->staged.push_back(std::move(st));
  });
  return OffloadIssue{&rt, std::move(issued)};
}

}  // namespace detail
}  // namespace canopy
