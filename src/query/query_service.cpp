// QueryService: queries on any thread against committed snapshots (R16, R17).
//
// The driver thread publishes a Snapshot between rounds (round hooks of Runtime::Impl, or
// publish()); readers take the current snapshot under a mutex (a shared_ptr copy) and evaluate
// without further synchronisation: a snapshot is immutable, its canister copies are only ever
// cloned (const), never run in place.
#include <fmt/format.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "canopy/assert.hpp"
#include "canopy/query.hpp"
#include "query/evaluator.hpp"
#include "query/source.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

namespace {

// Q3 in /tmp/requests.md: Runtime::Impl::after_round, used when it exists.
template <class Impl, class Hook>
bool add_after_round_hook(Impl& impl, const Hook& hook) {
  if constexpr (requires { impl.after_round.push_back(hook); }) {
    impl.after_round.push_back(hook);
    return true;
  } else {
    return false;
  }
}

}  // namespace

struct QueryService::Shared {
  Shared(Runtime& r) : rt(r), cfg(r.config()), env(r.env()) {}

  std::shared_ptr<const detail::Snapshot> current() const {
    std::lock_guard lock(snap_mu);
    return snap;
  }
  void publish() {
    uint64_t copied = 0;
    auto prev = current();
    auto next = detail::Snapshot::build(rt.impl(), prev.get(), &copied);
    {
      std::lock_guard lock(snap_mu);
      snap = std::move(next);
    }
    published.fetch_add(1);
    copies.fetch_add(copied);
  }
  QueryOutcome run(CanisterId id, std::string_view method, const Bytes& payload,
                   std::optional<QueryOrder> order) const {
    auto s = current();
    CANOPY_ASSERT(s != nullptr, "query service without a snapshot");
    detail::QueryEvaluator ev(cfg, *s, env, order.value_or(default_order()));
    QueryOutcome out{ev.run(id, method, payload), {}};
    out.stats = ev.stats();
    served.fetch_add(1);
    return out;
  }
  QueryOrder default_order() const {
    return cfg.composite_query_parallel ? QueryOrder::parallel : QueryOrder::depth_first;
  }
  void worker_loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(q_mu);
        q_cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) return;
        job = std::move(queue.front());
        queue.pop_front();
      }
      job.done.set_value(run(job.id, job.method, job.payload, std::nullopt).result);
    }
  }

  struct Job {
    CanisterId id;
    std::string method;
    Bytes payload;
    std::promise<Result<Bytes>> done;
  };

  Runtime& rt;
  const Config& cfg;
  Env& env;
  mutable std::mutex snap_mu;
  std::shared_ptr<const detail::Snapshot> snap;

  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<Job> queue;
  bool stopping = false;
  std::vector<std::thread> workers;

  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> copies{0};
  mutable std::atomic<uint64_t> served{0};
  std::atomic<uint64_t> refused{0};
};

QueryService::QueryService(Runtime& rt) : shared_(std::make_shared<Shared>(rt)) {
  shared_->publish();
  std::weak_ptr<Shared> weak = shared_;
  auto hook = [weak](uint64_t) {
    if (auto s = weak.lock()) s->publish();
  };
  // Between rounds: at the start of a tick (catches installs/upgrades made between rounds) and,
  // when the runtime offers it, at the end of a tick (the round's results at once).
  rt.impl().before_round.push_back(hook);
  add_after_round_hook(rt.impl(), hook);
  const uint32_t n = rt.config().query_threads;
  shared_->workers.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    shared_->workers.emplace_back([s = shared_.get()] { s->worker_loop(); });
  }
}

QueryService::~QueryService() {
  {
    std::lock_guard lock(shared_->q_mu);
    shared_->stopping = true;
  }
  shared_->q_cv.notify_all();
  for (auto& t : shared_->workers)
    t.join();
  for (auto& job : shared_->queue) {
    job.done.set_value(make_reject(RejectCode::sys_transient, "the query service shut down"));
  }
  shared_->queue.clear();
}

void QueryService::publish() {
  shared_->publish();
}

uint64_t QueryService::snapshot_round() const {
  return shared_->current()->round();
}

QueryOutcome QueryService::query_raw(CanisterId id, std::string_view method, const Bytes& payload,
                                     std::optional<QueryOrder> order) const {
  return shared_->run(id, method, payload, order);
}

std::future<Result<Bytes>> QueryService::submit(CanisterId id, std::string method, Bytes payload) {
  Shared::Job job{id, std::move(method), std::move(payload), {}};
  auto fut = job.done.get_future();
  {
    std::lock_guard lock(shared_->q_mu);
    if (!shared_->stopping && shared_->queue.size() < shared_->cfg.query_queue_capacity) {
      shared_->queue.push_back(std::move(job));
      shared_->q_cv.notify_one();
      return fut;
    }
  }
  shared_->refused.fetch_add(1);
  job.done.set_value(
      make_reject(RejectCode::sys_transient,
                  fmt::format("query queue full ({} queries waiting, query_queue_capacity)",
                              shared_->cfg.query_queue_capacity)));
  return fut;
}

QueryServiceStats QueryService::stats() const {
  QueryServiceStats s;
  s.snapshots_published = shared_->published.load();
  s.canister_copies = shared_->copies.load();
  s.queries_served = shared_->served.load();
  s.queries_refused = shared_->refused.load();
  return s;
}

}  // namespace canopy
