// The real-time driver (canopy/realtime.hpp): a thread that ticks a Runtime when there is work.
#include "canopy/realtime.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "canopy/assert.hpp"
#include "canopy/env.hpp"
#include "canopy/pool.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

namespace {

using Done = std::function<void(Result<Bytes>)>;

struct Submission {
  CanisterId id;
  std::string method;
  Bytes payload;
  Done done;
};

// What other threads hand to the driver, and how they wake it. Shared with the pools' notify
// callback, which may run after the driver is gone.
struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Submission> inbox;
  std::vector<std::function<void(Runtime&)>> commands;
  bool woken = false;  // a pool job finished
  bool stop_requested = false;
  bool stopped = false;
  uint64_t outstanding = 0;  // accepted ingress not yet answered (inbox + pending)
  RealtimeStats stats;

  void wake() {
    {
      std::lock_guard<std::mutex> lock(mu);
      woken = true;
    }
    cv.notify_all();
  }
};

void call_done(Done& done, Result<Bytes> r) {
  try {
    done(std::move(r));
  } catch (...) {
    // A callback must not take the driver down; its exception is dropped.
  }
}

}  // namespace

struct RealtimeDriver::Impl {
  std::unique_ptr<Runtime> rt;
  RealtimeOptions opt;
  Pools* pools = nullptr;
  std::shared_ptr<Mailbox> box = std::make_shared<Mailbox>();
  RealEnv clock{0};        // the wall clock (R15: it only sets the next round's time)
  std::mutex shutdown_mu;  // serializes shutdown() callers
  std::thread thread;

  // Driver thread only.
  std::unordered_map<uint64_t, Done> pending;  // by ingress id
  uint64_t wall0_ms = 0;
  uint64_t virt0_ms = 0;

  uint64_t wall_ms() { return clock.wall_ns() / 1'000'000; }
  uint64_t interval_ms() const {
    return opt.idle_round_interval_ms ? opt.idle_round_interval_ms : rt->config().round_duration_ms;
  }

  bool canisters_have_input() {
    for (auto& s : rt->impl().subnets)
      for (auto& [id, c] : s->canisters())
        if (c->has_input()) return true;
    return false;
  }

  // Answers every pending ingress the runtime has answered, and makes the runtime forget it
  // (a long-running server holds only what is pending, P7).
  void resolve() {
    uint64_t answered = 0;
    for (auto it = pending.begin(); it != pending.end();) {
      auto r = rt->take_ingress_result(IngressId{it->first});
      if (!r) {
        ++it;
        continue;
      }
      call_done(it->second, std::move(*r));
      it = pending.erase(it);
      ++answered;
    }
    if (answered != 0) {
      std::lock_guard<std::mutex> lock(box->mu);
      box->outstanding -= answered;
      box->stats.ingress_answered += answered;
      box->stats.pending = box->outstanding;
    }
  }

  void tick() {
    const uint64_t now = wall_ms();
    rt->tick_at(virt0_ms + (now - wall0_ms));
    pools->admit();  // jobs committed in this round start now, not at the next round
    resolve();
    std::lock_guard<std::mutex> lock(box->mu);
    ++box->stats.rounds;
  }

  void abandon_all() {
    for (auto& [iid, done] : pending) {
      call_done(done, make_reject(RejectCode::sys_unknown,
                                  "the real-time driver shut down before the call was answered; "
                                  "its outcome is unknown"));
    }
    std::lock_guard<std::mutex> lock(box->mu);
    box->stats.ingress_abandoned += pending.size();
    box->outstanding -= pending.size();
    box->stats.pending = box->outstanding;
    pending.clear();
  }

  void loop();
};

void RealtimeDriver::Impl::loop() {
  enum class Phase { running, draining, cancelling };
  Phase phase = Phase::running;
  uint64_t deadline_ms = 0;
  uint64_t last_tick_ms = wall_ms();
  bool fresh_input = false;
  for (;;) {
    // 1. Take what other threads handed in.
    std::vector<Submission> subs;
    std::vector<std::function<void(Runtime&)>> cmds;
    bool stop = false;
    {
      std::lock_guard<std::mutex> lock(box->mu);
      subs.swap(box->inbox);
      cmds.swap(box->commands);
      box->woken = false;
      stop = box->stop_requested;
    }
    for (auto& s : subs) {
      const IngressId iid = rt->submit(s.id, std::move(s.method), std::move(s.payload));
      pending.emplace(iid.value, std::move(s.done));
      fresh_input = true;
    }
    for (auto& c : cmds)
      c(*rt);  // packaged tasks: exceptions end up in their futures
    if (!subs.empty() || !cmds.empty()) resolve();  // answered at once (e.g. no such canister)

    // 2. Shutdown phases.
    const uint64_t now = wall_ms();
    if (stop && phase == Phase::running) {
      phase = Phase::draining;
      deadline_ms = now + opt.shutdown_drain_ms_max;
    }
    if (phase != Phase::running) {
      if (pending.empty()) break;
      if (phase == Phase::draining && now >= deadline_ms) {
        phase = Phase::cancelling;
        deadline_ms = now + opt.shutdown_cancel_ms_max;
        pools->shutdown(PoolShutdown::cancel, 0);  // queued jobs complete with SYS_TRANSIENT
        fresh_input = true;
      } else if (phase == Phase::cancelling && now >= deadline_ms) {
        abandon_all();
        break;
      }
    }

    // 3. A round now, or a wait.
    const bool work_now = fresh_input || pools->has_ready() || canisters_have_input();
    // Not rt->idle(): a job still running is no reason to tick (its completion wakes us).
    const bool time_work = !rt->impl().subnets_idle();
    if (work_now || (time_work && now >= last_tick_ms + interval_ms())) {
      fresh_input = false;
      tick();
      last_tick_ms = now;
      continue;
    }
    uint64_t wait_ms = time_work ? last_tick_ms + interval_ms() - now : opt.idle_wait_ms_max;
    if (phase != Phase::running) wait_ms = std::min(wait_ms, deadline_ms - now);
    std::unique_lock<std::mutex> lock(box->mu);
    box->cv.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
      return box->woken || !box->inbox.empty() || !box->commands.empty() ||
             (box->stop_requested && phase == Phase::running);
    });
  }
  // Stopped: nothing accepted is left unanswered. The pools stop taking work; jobs still
  // running finish on their own (the runtime's destruction waits for them, bounded).
  pools->shutdown(PoolShutdown::drain, 0);
  pools->set_notify(nullptr);
  std::vector<std::function<void(Runtime&)>> dropped;
  {
    std::lock_guard<std::mutex> lock(box->mu);
    box->stopped = true;
    dropped.swap(box->commands);  // their futures get broken_promise
  }
  box->cv.notify_all();
}

RealtimeDriver::RealtimeDriver(std::unique_ptr<Runtime> rt, RealtimeOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!rt) throw std::invalid_argument("RealtimeDriver: null runtime");
  impl_->rt = std::move(rt);
  impl_->opt = options;
  impl_->pools = &attach_pools(*impl_->rt);  // attached already if the Config has pools
  impl_->pools->set_delivery(Delivery::when_ready);
  impl_->pools->set_notify([box = impl_->box] { box->wake(); });
  impl_->wall0_ms = impl_->wall_ms();
  impl_->virt0_ms = impl_->rt->time_ms();
  impl_->thread = std::thread([this] { impl_->loop(); });
}

RealtimeDriver::~RealtimeDriver() {
  shutdown();
}

std::future<Result<Bytes>> RealtimeDriver::submit(CanisterId id, std::string method,
                                                  Bytes payload) {
  auto promise = std::make_shared<std::promise<Result<Bytes>>>();
  auto future = promise->get_future();
  submit(id, std::move(method), std::move(payload),
         [promise](Result<Bytes> r) { promise->set_value(std::move(r)); });
  return future;
}

void RealtimeDriver::submit(CanisterId id, std::string method, Bytes payload, Done done) {
  Mailbox& box = *impl_->box;
  std::optional<Reject> refuse;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    if (box.stop_requested || box.stopped) {
      refuse = Reject{RejectCode::sys_transient, "the real-time driver is shutting down"};
    } else if (box.outstanding >= impl_->opt.pending_ingress_max) {
      refuse = Reject{RejectCode::sys_transient,
                      fmt::format("the real-time driver has {} ingress messages pending "
                                  "(pending_ingress_max); retry later",
                                  box.outstanding)};
    }
    if (refuse) {
      ++box.stats.ingress_refused;
    } else {
      ++box.outstanding;
      ++box.stats.ingress_submitted;
      box.stats.pending = box.outstanding;
      box.inbox.push_back(Submission{id, std::move(method), std::move(payload), std::move(done)});
    }
  }
  if (refuse) {
    call_done(done, tl::unexpected<Reject>(std::move(*refuse)));
    return;
  }
  box.cv.notify_all();
}

void RealtimeDriver::enqueue_command(std::function<void(Runtime&)> fn) {
  Mailbox& box = *impl_->box;
  {
    std::lock_guard<std::mutex> lock(box.mu);
    if (box.stopped) return;  // dropped: the future reports broken_promise
    if (box.commands.size() >= impl_->opt.pending_commands_max)
      throw std::length_error("RealtimeDriver::run: pending_commands_max reached");
    box.commands.push_back(std::move(fn));
  }
  box.cv.notify_all();
}

void RealtimeDriver::shutdown() {
  std::lock_guard<std::mutex> serial(impl_->shutdown_mu);
  CANOPY_ASSERT(!impl_->thread.joinable() || impl_->thread.get_id() != std::this_thread::get_id(),
                "RealtimeDriver::shutdown called from the driver thread");
  {
    std::lock_guard<std::mutex> lock(impl_->box->mu);
    impl_->box->stop_requested = true;
  }
  impl_->box->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool RealtimeDriver::stopping() const {
  std::lock_guard<std::mutex> lock(impl_->box->mu);
  return impl_->box->stop_requested;
}

bool RealtimeDriver::stopped() const {
  std::lock_guard<std::mutex> lock(impl_->box->mu);
  return impl_->box->stopped;
}

RealtimeStats RealtimeDriver::stats() const {
  std::lock_guard<std::mutex> lock(impl_->box->mu);
  return impl_->box->stats;
}

Runtime& RealtimeDriver::runtime() {
  CANOPY_ASSERT(stopped(), "RealtimeDriver::runtime() while the driver runs");
  return *impl_->rt;
}

}  // namespace canopy
