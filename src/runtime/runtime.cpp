#include "canopy/runtime.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "canopy/assert.hpp"
#include "canopy/pool.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

using detail::CanisterRt;
using detail::CanisterStatus;

const char* to_string(Status s) {
  switch (s) {
    case Status::running: return "running";
    case Status::stopping: return "stopping";
    case Status::stopped: return "stopped";
  }
  return "?";
}

namespace {
Status public_status(CanisterStatus s) {
  switch (s) {
    case CanisterStatus::running: return Status::running;
    case CanisterStatus::stopping: return Status::stopping;
    case CanisterStatus::stopped: return Status::stopped;
  }
  return Status::running;
}
tl::unexpected<Reject> no_such(CanisterId id) {
  return make_reject(RejectCode::destination_invalid,
                     fmt::format("canister {} does not exist", id.to_string()));
}
}  // namespace

Runtime::Impl::Impl(Config c, std::unique_ptr<Env> e) : cfg(std::move(c)), env(std::move(e)) {
  if (!env) env = std::make_unique<SimEnv>(cfg.seed);
  executor = std::make_unique<detail::Executor>(cfg.threads);
  for (uint32_t i = 0; i < cfg.subnets; ++i)
    subnets.push_back(std::make_unique<detail::Subnet>(SubnetId{i}, cfg, *this));
}

CanisterRt* Runtime::Impl::find(CanisterId id) {
  auto s = subnet_of(id);
  return s ? subnets[s->value]->find(id) : nullptr;
}
const CanisterRt* Runtime::Impl::find(CanisterId id) const {
  auto s = subnet_of(id);
  return s ? subnets[s->value]->find(id) : nullptr;
}

void Runtime::Impl::collect_ingress() {
  for (auto& s : subnets) {
    for (auto& r : s->take_ingress_replies()) {
      auto it = ingress.find(r.id.value);
      if (it == ingress.end()) {
        // Only answered entries are ever forgotten (take_ingress_result): a second answer.
        CANOPY_ASSERT(r.id.value < next_ingress, "reply to unknown ingress");
        ++ingress_duplicates;
        continue;
      }
      if (it->second.has_value()) {
        ++ingress_duplicates;
        continue;
      }
      it->second = std::move(r.result);
    }
  }
}

void Runtime::Impl::tick(std::optional<uint64_t> now_ms) {
  ++round;
  time_ms = now_ms ? std::max(*now_ms, time_ms + 1) : time_ms + cfg.round_duration_ms;
  for (auto& hook : before_round) hook(round);
  for (auto& s : subnets) s->run_round(round, time_ms, *executor);
  // Streams (R13): what a subnet sent this round is inducted `xnet_latency_rounds` later.
  for (auto& s : subnets) {
    for (auto& m : s->take_xnet_outbox()) {
      const CanisterId dest = detail::destination(m);
      auto sub = subnet_of(dest);
      if (!sub) continue;  // requests to unknown canisters bounce inside the subnet
      ++xnet_messages;
      subnets[sub->value]->receive_xnet(round + cfg.xnet_latency_rounds, std::move(m));
    }
  }
  collect_ingress();
  if (cfg.record_trace) {
    for (auto& s : subnets) {
      for (auto& e : s->take_trace()) {
        if (trace.size() >= cfg.trace_events_max) break;
        trace.push_back(std::move(e));
      }
    }
  }
  for (auto& hook : after_round) hook(round);
}

Runtime::Runtime(Config config, std::unique_ptr<Env> env) {
  if (auto err = config.validate()) throw std::invalid_argument("invalid canopy config: " + *err);
  impl_ = std::make_unique<Impl>(std::move(config), std::move(env));
  if (!impl_->cfg.pools.empty()) attach_pools(*this);  // R22
}
Runtime::~Runtime() {
  // The pools first: queued jobs are cancelled and running ones waited for (bounded by
  // Config::pool_shutdown_wait_ms_max) while the rest of the runtime still exists.
  impl_->attached_pools.reset();
}

const Config& Runtime::config() const { return impl_->cfg; }
Env& Runtime::env() { return *impl_->env; }
Runtime::Impl& Runtime::impl() { return *impl_; }
uint32_t Runtime::subnet_count() const { return static_cast<uint32_t>(impl_->subnets.size()); }
SubnetId Runtime::subnet(uint32_t index) const {
  if (index >= impl_->subnets.size())
    throw std::invalid_argument(fmt::format("subnet index {} out of range (have {})", index,
                                            impl_->subnets.size()));
  return SubnetId{index};
}

CanisterId Runtime::install_code(SubnetId subnet, std::unique_ptr<CanisterBase> code,
                                 uint64_t cycles) {
  if (subnet.value >= impl_->subnets.size())
    throw std::invalid_argument(fmt::format("no subnet {}", subnet.value));
  if (!code) throw std::invalid_argument("install_code: null code");
  const CanisterId id{impl_->next_canister++};
  impl_->subnets[subnet.value]->add(id, std::move(code), cycles);
  impl_->routing.emplace(id, subnet);
  ++impl_->routing_version;
  impl_->lifecycle_hash = trace_fold_bytes(impl_->lifecycle_hash, &id.value, sizeof id.value);
  return id;
}

Result<void> Runtime::upgrade_code(CanisterId id, std::unique_ptr<CanisterBase> code) {
  CanisterRt* c = impl_->find(id);
  if (c == nullptr) return no_such(id);
  if (!code) throw std::invalid_argument("upgrade_code: null code");
  Bytes stable;
  if (c->has_code()) {
    try {
      stable = c->code()->pre_upgrade();
    } catch (const std::exception& e) {
      return make_reject(RejectCode::canister_error,
                         fmt::format("pre_upgrade of {} trapped: {}", id.to_string(), e.what()));
    }
  }
  try {
    if (!stable.empty() || c->has_code()) code->post_upgrade(stable);
  } catch (const std::exception& e) {
    return make_reject(RejectCode::canister_error,
                       fmt::format("post_upgrade of {} trapped: {}; the old code stays",
                                   id.to_string(), e.what()));
  }
  // R21: volatile coroutine frames cannot survive an upgrade.
  c->drop_all_contexts("callback lost: the canister was upgraded while the call was pending");
  c->clear_timers();
  c->replace_code(std::move(code));
  impl_->lifecycle_hash = trace_fold_bytes(impl_->lifecycle_hash, &id.value, sizeof id.value);
  return {};
}

Result<void> Runtime::uninstall(CanisterId id) {
  CanisterRt* c = impl_->find(id);
  if (c == nullptr) return no_such(id);
  c->drop_all_contexts("the canister was uninstalled (R9)");
  c->clear_timers();
  c->replace_code(nullptr);
  return {};
}

Result<void> Runtime::stop(CanisterId id) {
  CanisterRt* c = impl_->find(id);
  if (c == nullptr) return no_such(id);
  if (c->status() == CanisterStatus::running) {
    c->set_status(c->open_call_contexts() == 0 ? CanisterStatus::stopped : CanisterStatus::stopping);
  }
  return {};
}

Result<void> Runtime::start(CanisterId id) {
  CanisterRt* c = impl_->find(id);
  if (c == nullptr) return no_such(id);
  c->set_status(CanisterStatus::running);
  return {};
}

Result<void> Runtime::deposit_cycles(CanisterId id, uint64_t amount) {
  CanisterRt* c = impl_->find(id);
  if (c == nullptr) return no_such(id);
  c->add_cycles(amount);
  return {};
}

std::optional<CanisterInfo> Runtime::info(CanisterId id) const {
  const CanisterRt* c = impl_->find(id);
  if (c == nullptr) return std::nullopt;
  CanisterInfo i;
  i.id = id;
  i.subnet = c->subnet();
  i.status = public_status(c->status());
  i.has_code = c->has_code();
  i.balance = c->balance();
  i.open_call_contexts = c->open_call_contexts();
  i.outstanding_calls = c->outstanding_calls();
  i.messages_executed = c->counters().messages_executed;
  i.traps = c->counters().traps;
  return i;
}

std::vector<CanisterId> Runtime::canisters() const {
  std::vector<CanisterId> out;
  for (auto& s : impl_->subnets)
    for (auto& [id, c] : s->canisters()) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

IngressId Runtime::submit(CanisterId id, std::string method, Bytes payload) {
  const IngressId iid{impl_->next_ingress++};
  impl_->ingress.emplace(iid.value, std::nullopt);
  auto sub = impl_->subnet_of(id);
  if (!sub) {
    impl_->ingress[iid.value] = Result<Bytes>(no_such(id));
    return iid;
  }
  if (payload.size() > impl_->cfg.payload_max_bytes_xnet) {
    impl_->ingress[iid.value] = Result<Bytes>(make_reject(
        RejectCode::sys_fatal, fmt::format("ingress payload of {} bytes exceeds the limit of {} "
                                           "bytes (R5)",
                                           payload.size(), impl_->cfg.payload_max_bytes_xnet)));
    return iid;
  }
  detail::Request req;
  req.to = id;
  req.method = std::move(method);
  req.payload = std::move(payload);
  req.ingress = iid;
  impl_->subnets[sub->value]->submit_ingress(std::move(req));
  return iid;
}

std::optional<Result<Bytes>> Runtime::ingress_result(IngressId id) const {
  auto it = impl_->ingress.find(id.value);
  if (it == impl_->ingress.end()) return std::nullopt;
  return it->second;
}

std::optional<Result<Bytes>> Runtime::take_ingress_result(IngressId id) {
  auto it = impl_->ingress.find(id.value);
  if (it == impl_->ingress.end() || !it->second.has_value()) return std::nullopt;
  std::optional<Result<Bytes>> r = std::move(it->second);
  impl_->ingress.erase(it);
  return r;
}

Result<Bytes> Runtime::update_raw(CanisterId id, std::string method, Bytes payload) {
  const IngressId iid = submit(id, std::move(method), std::move(payload));
  for (uint64_t i = 0; i < impl_->cfg.ingress_rounds_max; ++i) {
    auto& slot = impl_->ingress[iid.value];
    if (slot.has_value()) return *slot;
    impl_->tick();
  }
  auto& slot = impl_->ingress[iid.value];
  if (slot.has_value()) return *slot;
  return make_reject(RejectCode::sys_unknown,
                     fmt::format("ingress not answered within {} rounds",
                                 impl_->cfg.ingress_rounds_max));
}

void Runtime::tick() { impl_->tick(); }

bool Runtime::Impl::subnets_idle() const {
  for (auto& s : subnets)
    if (!s->idle()) return false;
  return true;
}

bool Runtime::idle() const {
  if (!impl_->subnets_idle()) return false;
  for (auto& b : impl_->busy)
    if (b()) return false;
  return true;
}

uint64_t Runtime::run_until_idle(uint64_t rounds_max) {
  uint64_t n = 0;
  while (n < rounds_max && !idle()) {
    impl_->tick();
    ++n;
  }
  return n;
}

uint64_t Runtime::round() const { return impl_->round; }
uint64_t Runtime::time_ms() const { return impl_->time_ms; }
void Runtime::tick_at(uint64_t now_ms) { impl_->tick(now_ms); }

uint64_t Runtime::trace_hash() const {
  uint64_t h = impl_->lifecycle_hash;
  for (auto& s : impl_->subnets) {
    const uint64_t sh = s->trace_hash();
    h = trace_fold_bytes(h, &sh, sizeof sh);
  }
  return h;
}

const std::vector<TraceEvent>& Runtime::trace() const { return impl_->trace; }
void Runtime::clear_trace() { impl_->trace.clear(); }

std::vector<TraceCanister> Runtime::trace_canisters() const {
  std::vector<TraceCanister> out;
  for (auto& s : impl_->subnets) {
    for (auto& [id, c] : s->canisters()) {
      TraceCanister t;
      t.id = id;
      t.subnet = s->id().value;
      t.name = id.to_string();
      out.push_back(t);
    }
  }
  return out;
}

RuntimeStats Runtime::stats() const {
  RuntimeStats st;
  st.rounds = impl_->round;
  st.xnet_messages = impl_->xnet_messages;
  st.ingress_held = impl_->ingress.size();
  for (auto& s : impl_->subnets) {
    for (auto& [id, c] : s->canisters()) {
      const auto& k = c->counters();
      st.messages_executed += k.messages_executed;
      st.calls_accepted += k.calls_accepted;
      st.calls_failed_sync += k.calls_failed_sync;
      st.responses_delivered += k.responses_delivered;
      st.traps += k.traps;
      st.late_responses_dropped += k.late_responses_dropped;
    }
  }
  return st;
}

std::vector<std::string> Runtime::check_invariants() const {
  std::vector<std::string> v;
  const uint64_t cap = impl_->cfg.queue_capacity;
  if (impl_->ingress_duplicates != 0)
    v.push_back(fmt::format("{} ingress messages answered twice", impl_->ingress_duplicates));
  for (auto& s : impl_->subnets) {
    for (auto& [id, c] : s->canisters()) {
      const auto& k = c->counters();
      if (k.duplicate_responses != 0)
        v.push_back(fmt::format("{}: {} duplicate responses (R1)", id.to_string(),
                                k.duplicate_responses));
      // R1: accepted = answered + still outstanding (callbacks not yet run).
      if (k.calls_accepted < k.responses_delivered)
        v.push_back(fmt::format("{}: more responses ({}) than accepted calls ({}) (R1)",
                                id.to_string(), k.responses_delivered, k.calls_accepted));
      for (auto& [peer, pq] : c->peers()) {
        if (pq.in.used() > cap)
          v.push_back(fmt::format("{}: input queue from {} holds {} > {} (R2)", id.to_string(),
                                  peer.to_string(), pq.in.used(), cap));
        if (pq.out.used() > cap)
          v.push_back(fmt::format("{}: output queue to {} holds {} > {} (R2)", id.to_string(),
                                  peer.to_string(), pq.out.used(), cap));
      }
      // R8: a uint64 balance that "went negative" would wrap to a huge value.
      if (c->balance() > (uint64_t{1} << 62))
        v.push_back(fmt::format("{}: balance {} looks like an underflow (R8)", id.to_string(),
                                c->balance()));
    }
  }
  return v;
}

std::vector<std::string> Runtime::check_quiescent_invariants() const {
  auto v = check_invariants();
  for (auto& s : impl_->subnets) {
    for (auto& [id, c] : s->canisters()) {
      const auto& k = c->counters();
      // Every accepted call was answered exactly once (R1). Responses dropped because a bounded
      // wait expired (R10) were answered by the SYS_UNKNOWN reject instead.
      if (k.calls_accepted != k.responses_delivered)
        v.push_back(fmt::format("{}: {} calls accepted but {} responses delivered (R1)",
                                id.to_string(), k.calls_accepted, k.responses_delivered));
      for (auto& [peer, pq] : c->peers()) {
        if (pq.in.reserved != 0 || pq.out.reserved != 0)
          v.push_back(fmt::format("{}: reservations left towards {} at quiescence (R2)",
                                  id.to_string(), peer.to_string()));
      }
    }
  }
  for (auto& [iid, r] : impl_->ingress) {
    if (!r.has_value()) v.push_back(fmt::format("ingress {} never answered (R1)", iid));
  }
  return v;
}

}  // namespace canopy
