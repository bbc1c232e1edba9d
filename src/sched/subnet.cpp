#include "sched/subnet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "canopy/assert.hpp"

namespace canopy::detail {

Subnet::Subnet(SubnetId id, const Config& cfg, const Routing& routing)
    : id_(id), cfg_(cfg), routing_(routing) {}

CanisterRt& Subnet::add(CanisterId id, std::unique_ptr<CanisterBase> code, uint64_t cycles) {
  auto rt = std::make_unique<CanisterRt>(id, id_, cfg_, routing_, clock_, std::move(code), cycles);
  auto& ref = *rt;
  auto [it, inserted] = canisters_.emplace(id, std::move(rt));
  CANOPY_ASSERT(inserted, "canister id installed twice");
  if (std::next(it) == canisters_.end()) {
    // The usual case: ids grow, the new canister goes last (O(1), not a renumbering).
    ref.set_ordinal(static_cast<uint32_t>(ordered_.size()));
    ordered_.push_back(&ref);
  } else {
    ordered_.clear();
    for (auto& [cid, c] : canisters_) {
      c->set_ordinal(static_cast<uint32_t>(ordered_.size()));
      ordered_.push_back(c.get());
    }
  }
  has_input_.resize(ordered_.size(), 0);
  spent_.resize(ordered_.size(), 0);
  return ref;
}

CanisterRt* Subnet::find(CanisterId id) {
  auto it = canisters_.find(id);
  return it == canisters_.end() ? nullptr : it->second.get();
}
const CanisterRt* Subnet::find(CanisterId id) const {
  auto it = canisters_.find(id);
  return it == canisters_.end() ? nullptr : it->second.get();
}

void Subnet::receive_xnet(uint64_t arrival_round, Message&& msg) {
  CANOPY_ASSERT(incoming_.empty() || incoming_.back().arrival_round <= arrival_round,
                "stream messages must arrive in order (R3)");
  incoming_.push_back(XnetMessage{arrival_round, std::move(msg)});
}

bool Subnet::idle() const {
  if (!ingress_pending_.empty() || !incoming_.empty() || !xnet_out_.empty()) return false;
  for (const auto& [id, c] : canisters_) {
    if (c->has_input() || c->waiting_on_time()) return false;
  }
  return true;
}

uint64_t Subnet::trace_hash() const {
  uint64_t h = routing_hash_;
  for (const auto& [id, c] : canisters_) {
    const uint64_t ch = c->trace_hash();
    h = trace_fold_bytes(h, &id.value, sizeof id.value);
    h = trace_fold_bytes(h, &ch, sizeof ch);
  }
  return h;
}

void Subnet::bounce(Request&& req, Reject reject) {
  Response r;
  r.from = req.to;
  r.to = req.from;
  r.callback = req.callback;
  r.call_seq = req.call_seq;
  r.result = tl::unexpected<Reject>(std::move(reject));
  r.refund = req.cycles;  // R8: nothing was accepted
  route(Message{std::move(r)});
}

bool Subnet::induct(CanisterRt& to, uint32_t ordinal, Message& msg, PeerQueues* via,
                    Reject& refusal) {
  if (auto* req = std::get_if<Request>(&msg)) {
    if (to.try_induct_request(msg, via, refusal)) [[likely]] {
      has_input_[ordinal] = 1;
      return true;
    }
    TraceEvent e;
    e.kind = TraceKind::request_rejected;
    e.from = req->from;
    e.to = to.id();
    e.call_seq = req->call_seq;
    e.reject_code = static_cast<uint8_t>(refusal.code);
    to.trace(e, refusal.message);
    return false;
  }
  if (to.induct_response(msg, via)) has_input_[ordinal] = 1;
  return true;
}

void Subnet::deliver(CanisterRt& to, Message&& msg) {
  Reject refusal;
  if (!induct(to, to.ordinal(), msg, nullptr, refusal))
    bounce(std::move(std::get<Request>(msg)), std::move(refusal));
}

void Subnet::route(Message&& msg) {
  const CanisterId dest = destination(msg);
  const auto sub = routing_.subnet_of(dest);
  if (!sub) {
    if (auto* req = std::get_if<Request>(&msg)) {
      bounce(std::move(*req), Reject{RejectCode::destination_invalid,
                                     fmt::format("canister {} does not exist", dest.to_string())});
    }
    // A response to a canister that no longer exists has nobody to go to.
    return;
  }
  if (*sub != id_) {
    xnet_out_.push_back(std::move(msg));
    return;
  }
  CanisterRt* to = find(dest);
  CANOPY_ASSERT(to != nullptr, "routing table and subnet disagree");
  deliver(*to, std::move(msg));
}

void Subnet::route_cached(PeerQueues& via, Message&& msg) {
  refresh_route(via);
  if (via.route_local != nullptr) {
    deliver(*via.route_local, std::move(msg));
  } else if (via.route_remote) {
    xnet_out_.push_back(std::move(msg));
  } else {
    route(std::move(msg));  // unknown destination: bounce or drop
  }
}

// Routing shard of a destination canister: contiguous blocks of canister-id order, like the
// execution phase's split (Executor::Split::blocks), so that a shard mostly touches canisters
// its thread has just executed. Any choice gives the same outcome (see route_local_phase).
size_t Subnet::shard_of(uint32_t ordinal, size_t shards) const {
  return static_cast<size_t>(uint64_t{ordinal} * shards / ordered_.size());
}

void Subnet::update_route(PeerQueues& via) {
  via.route_version = routing_version_;
  via.route_local = nullptr;
  via.route_mirror = nullptr;
  via.route_remote = false;
  const auto sub = routing_.subnet_of(via.peer);
  if (sub && *sub == id_) {
    via.route_local = find(via.peer);
    if (via.route_local != nullptr) via.route_ordinal = via.route_local->ordinal();
  } else if (sub) {
    via.route_remote = true;
  }
}

// Routing after an iteration, in phases. Only canisters that executed have outputs; `executed`
// is in canister-id order (R20).
//
// prepare_routes (parallel, on each canister's own thread right after it executed): the
// canister's written output queues hand their messages to their `transit` rings
// (stage_outputs), each queue's route is looked up, and a dense mask records which routing
// shards (destination blocks) its queues go to.
//
// Local phase (parallel): messages to canisters of this subnet, split by destination. A shard
// owns its destinations: their input queues and the reservations in their output queues. It
// walks the executed canisters whose mask names it, in canister order, and their staged queues
// in commit order, so each destination receives in commit order (R3). A request the destination
// refuses is not bounced here (the bounce goes to the caller, owned by another shard): it is
// kept with its position and bounced afterwards in commit order.
//
// Sequential phase: streams to other subnets in commit order (R3), unknown destinations,
// ingress replies -- only for the canisters that have any. Then the bounces. The outcome does
// not depend on the number of shards, so 1 and N threads give the same trace (R20).
size_t Subnet::routing_shards(size_t executed, const Executor& executor) const {
  return executor.threads() > 1 && executed >= cfg_.parallel_routing_min_canisters
             ? executor.threads()
             : 1;
}

// Always inlined into the execution phase's loop, its only caller (an out-of-line call per
// executed canister, measured 2026-12-06).
[[gnu::always_inline]] inline bool Subnet::prepare_routes(CanisterRt& c, size_t shards,
                                                          uint64_t& shard_mask) {
  bool remote = false;
  c.stage_outputs([&](PeerQueues& pq) {
    refresh_route(pq);
    if (pq.route_local == nullptr) {
      remote = true;  // another subnet or unknown: the sequential phase
    } else {
      shard_mask |= shard_bit(shards > 1 ? shard_of(pq.route_ordinal, shards) : 0);
    }
  });
  return remote || c.has_ingress_replies();
}

void Subnet::route_local_phase(const std::vector<CanisterRt*>& executed, size_t shards,
                               Executor& executor) {
  if (deferred_.size() < shards) deferred_.resize(shards);
  auto run_shard = [&](size_t k) {
    std::vector<DeferredBounce>& out = deferred_[k];
    Reject refusal;
    // Only the executed canisters with messages for this shard, from the dense masks: the shard
    // never touches the others (their memory is in the other threads' caches).
    const uint64_t bit = shard_bit(k);
    const size_t n = executed.size();
    for (size_t i = 0; i < n; ++i) {
      if (!(route_mask_[i] & bit)) continue;
      // Prefetch the next canister's staged queues if it has messages for this shard (the
      // common case: a shard's canisters are a contiguous block of the executed ones).
      if (i + 1 < n && (route_mask_[i + 1] & bit)) executed[i + 1]->prefetch_staged();
      const CanisterRt& src = *executed[i];
      const CanisterRt::QueueList& staged = src.staged_outputs();
      for (size_t q = 0; q < staged.size(); ++q) {
        PeerQueues& pq = *staged[q];
        if (pq.route_local == nullptr) continue;  // the sequential phase's
        if (shards > 1 && shard_of(pq.route_ordinal, shards) != k) continue;
        // The destination's queues for this source: this shard owns the destination.
        if (pq.route_mirror == nullptr) pq.route_mirror = &pq.route_local->peer(src.id());
        if (pq.route_local->try_induct_all(pq.transit, *pq.route_mirror)) {
          has_input_[pq.route_ordinal] = 1;  // the whole batch, without moving a message
          continue;
        }
        for (uint64_t m = 0; !pq.transit.empty(); ++m) {
          Message& msg = pq.transit.front();  // moved out by induct if accepted
          if (!induct(*pq.route_local, pq.route_ordinal, msg, pq.route_mirror, refusal)) {
            out.push_back(
                DeferredBounce{i, q, m, std::move(std::get<Request>(msg)), std::move(refusal)});
          }
          pq.transit.pop_front();
        }
      }
    }
  };
  if (shards == 1) {
    run_shard(0);
  } else {
    executor.for_each(shards, run_shard, Executor::Split::blocks);
  }
}

void Subnet::route_sequential_phase(const std::vector<CanisterRt*>& executed) {
  for (size_t i = 0; i < executed.size(); ++i) {
    if (!sequential_[i]) continue;
    CanisterRt* c = executed[i];
    for (PeerQueues* pq : c->staged_outputs()) {
      if (pq->route_local != nullptr) continue;  // routed by the local phase
      while (!pq->transit.empty()) {
        Message m = std::move(pq->transit.front());
        pq->transit.pop_front();
        route_cached(*pq, std::move(m));
      }
    }
    if (c->has_ingress_replies()) {
      for (auto& r : c->take_ingress_replies())
        ingress_replies_.push_back(std::move(r));
    }
  }
}

void Subnet::bounce_phase(size_t shards) {
  // The refused requests' rejects, in commit order. A reject is a response: its slot is
  // reserved, so inducting it needs no capacity check and routing need not have ended.
  bounces_.clear();
  for (size_t k = 0; k < shards; ++k) {
    for (auto& b : deferred_[k])
      bounces_.push_back(std::move(b));
    deferred_[k].clear();
  }
  if (bounces_.empty()) return;
  std::sort(bounces_.begin(), bounces_.end(), [](const DeferredBounce& a, const DeferredBounce& b) {
    return std::tie(a.canister, a.queue, a.message) < std::tie(b.canister, b.queue, b.message);
  });
  for (auto& b : bounces_)
    bounce(std::move(b.request), std::move(b.reject));
  bounces_.clear();
}

void Subnet::route_outputs(const std::vector<CanisterRt*>& executed, Executor& executor) {
  sequential_.assign(executed.size(), 0);
  route_mask_.assign(executed.size(), 0);
  for (size_t i = 0; i < executed.size(); ++i)
    sequential_[i] = prepare_routes(*executed[i], 1, route_mask_[i]);
  route_local_phase(executed, 1, executor);
  route_sequential_phase(executed);
  bounce_phase(1);
}

void Subnet::collect_traces() {
  if (!cfg_.record_trace) return;
  for (CanisterRt* c : ordered_) {
    auto t = c->take_trace();
    for (auto& e : t) {
      if (trace_.size() >= cfg_.trace_events_max) break;
      trace_.push_back(std::move(e));
    }
  }
}

uint64_t Subnet::run_round(uint64_t round, uint64_t time_ms, Executor& executor) {
  CANOPY_ASSERT(time_ms >= clock_.time_ms, "virtual time never goes back (R15)");
  clock_.round = round;
  clock_.time_ms = time_ms;
  routing_version_ = routing_.version();
  clock_.iteration = 0;

  // Induct what the streams delivered by now (R13), in stream order (R3).
  while (!incoming_.empty() && incoming_.front().arrival_round <= round) {
    Message m = std::move(incoming_.front().msg);
    incoming_.pop_front();
    const CanisterId dest = destination(m);
    CanisterRt* to = find(dest);
    if (to == nullptr) {
      if (auto* req = std::get_if<Request>(&m)) {
        bounce(std::move(*req), Reject{RejectCode::destination_invalid,
                                       fmt::format("canister {} does not exist on {}",
                                                   dest.to_string(), id_.to_string())});
      }
      continue;
    }
    deliver(*to, std::move(m));
  }
  // R10: bounded-wait calls past their deadline.
  for (auto& [id, c] : canisters_)
    c->expire_deadlines(clock_.time_ms);
  // R19: timers and heartbeats.
  for (auto& [id, c] : canisters_)
    c->fire_timers(clock_.time_ms);
  // R11: ingress.
  for (auto& req : ingress_pending_) {
    CanisterRt* to = find(req.to);
    std::optional<Reject> rej;
    if (to == nullptr) {
      rej = Reject{RejectCode::destination_invalid,
                   fmt::format("canister {} does not exist", req.to.to_string())};
    } else if (!to->has_code()) {
      rej = Reject{RejectCode::canister_error,
                   fmt::format("canister {} is empty (no code installed)", req.to.to_string())};
    } else if (to->status() != CanisterStatus::running) {
      rej = Reject{RejectCode::canister_error,
                   fmt::format("canister {} is {} (R9)", req.to.to_string(),
                               to->status() == CanisterStatus::stopping ? "stopping" : "stopped")};
    } else {
      TraceEvent e;
      e.kind = TraceKind::ingress_submitted;
      e.to = req.to;
      e.call_seq = req.ingress.value;
      to->trace(e, req.method);
      const IngressId iid = req.ingress;
      rej = to->induct_ingress(std::move(req));
      if (rej) ingress_replies_.push_back(IngressReply{iid, tl::unexpected<Reject>(*rej)});
      continue;
    }
    ingress_replies_.push_back(IngressReply{req.ingress, tl::unexpected<Reject>(*rej)});
  }
  ingress_pending_.clear();

  // Outputs produced between rounds (rejects of contexts dropped by an upgrade/uninstall, R9).
  active_.clear();
  for (CanisterRt* c : ordered_)
    if (c->has_outputs()) active_.push_back(c);
  route_outputs(active_, executor);

  // Inner iterations (R12, R14). One parallel phase per iteration runs, on each canister's
  // thread, its execution and the preparation of its routing; then the routing phases. The next
  // iteration's canisters come from dense flags (has_input_: set by induction and after
  // executing; spent_: budget), not from a scan of every canister.
  for (CanisterRt* c : ordered_)
    c->begin_round();
  for (size_t o = 0; o < ordered_.size(); ++o) {
    has_input_[o] = ordered_[o]->has_input() ? 1 : 0;
    spent_[o] = 0;
  }
  const uint64_t budget = cfg_.canister_round_cost_max;
  uint64_t round_cost = 0;
  for (uint32_t it = 0; it < cfg_.round_iterations_max; ++it) {
    clock_.iteration = it;
    active_.clear();
    for (size_t o = 0; o < ordered_.size(); ++o) {
      if (has_input_[o] && !spent_[o]) active_.push_back(ordered_[o]);
    }
    if (active_.empty()) break;
    const size_t shards = routing_shards(active_.size(), executor);
    // Every entry is written by its canister's iteration below.
    costs_.resize(active_.size());
    sequential_.resize(active_.size());
    route_mask_.resize(active_.size());
    executor.for_each_block(active_.size(), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        // No prefetch hints: measured on 2026-12-06, a three-stage pipeline of them (ready list,
        // queue pair, first message, one canister apart each) cost 74 instructions per round
        // trip and gained nothing at 1,000 pairs; at 10,000 pairs it was 9 % slower.
        CanisterRt& c = *active_[i];
        CANOPY_ASSERT(c.has_input(), "a canister picked to execute has no input");
        costs_[i] = c.run_iteration(budget);
        has_input_[c.ordinal()] = c.has_input() ? 1 : 0;
        spent_[c.ordinal()] = c.round_cost() >= budget ? 1 : 0;
        route_mask_[i] = 0;
        sequential_[i] = prepare_routes(c, shards, route_mask_[i]) ? 1 : 0;
      }
    });
    uint8_t any_sequential = 0;
    for (size_t i = 0; i < active_.size(); ++i) {
      round_cost += costs_[i];
      any_sequential |= sequential_[i];
    }
    route_local_phase(active_, shards, executor);
    if (any_sequential) route_sequential_phase(active_);  // most iterations have no remote output
    bounce_phase(shards);
    collect_traces();
    if (round_cost >= cfg_.round_cost_max) break;
  }
  collect_traces();

  // R9: Stopping -> Stopped once no call context is open.
  for (auto& [id, c] : canisters_) {
    if (c->status() == CanisterStatus::stopping && c->open_call_contexts() == 0)
      c->set_status(CanisterStatus::stopped);
  }
  return round_cost;
}

}  // namespace canopy::detail
