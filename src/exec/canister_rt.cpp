#include "exec/canister_rt.hpp"

#include "core/trace_hash.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cstring>

#include "canopy/assert.hpp"

namespace canopy::detail {

namespace {
tl::unexpected<Reject> reject_result(RejectCode code, std::string msg) {
  return tl::unexpected<Reject>(Reject{code, std::move(msg)});
}
// Method names are short: compare up to 16 bytes as two overlapping words, no memcmp call.
template <class Word>
bool same_edges(const char* a, const char* b, size_t n) {  // requires sizeof(Word) <= n
  Word a0, a1, b0, b1;
  std::memcpy(&a0, a, sizeof(Word));
  std::memcpy(&b0, b, sizeof(Word));
  std::memcpy(&a1, a + n - sizeof(Word), sizeof(Word));
  std::memcpy(&b1, b + n - sizeof(Word), sizeof(Word));
  return a0 == b0 && a1 == b1;
}
bool same_name(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  if (n >= 8 && n <= 16) return same_edges<uint64_t>(a.data(), b.data(), n);
  if (n >= 4 && n < 8) return same_edges<uint32_t>(a.data(), b.data(), n);
  return a == b;
}
template <class T>
uint8_t code_of(const Result<T>& r) {
  return r ? 0 : static_cast<uint8_t>(r.error().code);
}
// current_context(): the call context whose code runs on this thread (nullptr: none).
thread_local CallContext* tl_current = nullptr;
}  // namespace

CanisterRt::CanisterRt(CanisterId id, SubnetId subnet, const Config& cfg, const Routing& routing,
                       const SubnetClock& clock, std::unique_ptr<CanisterBase> code,
                       uint64_t cycles)
    : id_(id),
      subnet_(subnet),
      cfg_(cfg),
      routing_(routing),
      clock_(clock),
      code_(std::move(code)),
      balance_(cycles),
      rng_state_(cfg.seed ^ (id.value * 0x9e3779b97f4a7c15ULL)) {
  snapshots_ = code_ != nullptr && !code_->stateless();
  ingress_.peer = CanisterId{0};
  system_.peer = CanisterId{0};
  counters_.cycles_minted = cycles;
}

CanisterRt::~CanisterRt() {
  for (auto& cc : contexts_) {
    if (cc.live && cc.root_live) {
      cc.root_live = false;
      cc.root.handle.destroy();
    }
  }
}

PeerQueues& CanisterRt::peer(CanisterId p) {
  auto [it, inserted] = peers_.try_emplace(p);
  if (inserted) it->second.peer = p;
  return it->second;
}

// ---------------------------------------------------------------- tracing

void CanisterRt::keep_event(TraceKind kind, CanisterId from, CanisterId to, uint64_t call_seq,
                            uint8_t code, std::string_view label) {
  if (trace_.size() >= cfg_.trace_events_max) return;
  TraceEvent e;
  e.kind = kind;
  e.subnet = subnet_.value;
  e.iteration = clock_.iteration;
  e.round = clock_.round;
  e.time_ms = clock_.time_ms;
  e.from = from;
  e.to = to;
  e.call_seq = call_seq;
  e.reject_code = code;
  e.label = std::string(label);
  trace_.push_back(std::move(e));
}

void CanisterRt::trace(TraceEvent e, std::string_view label) {
  record(e.kind, e.from, e.to, e.call_seq, e.reject_code, label);
}

std::vector<TraceEvent> CanisterRt::take_trace() {
  return std::exchange(trace_, {});
}
std::vector<IngressReply> CanisterRt::take_ingress_replies() {
  return std::exchange(ingress_replies_, {});
}

// ---------------------------------------------------------------- slots

[[gnu::always_inline]] inline uint32_t CanisterRt::alloc_slot() {
  uint32_t idx;
  if (free_slot_ != UINT32_MAX) {
    idx = free_slot_;
    free_slot_ = slots_[idx].next_free;
  } else {
    CANOPY_ASSERT(slots_.size() < UINT32_MAX - 1, "slot table overflow");
    idx = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  ++live_slots_;
  return idx;
}

[[gnu::always_inline]] inline void CanisterRt::free_slot(uint32_t idx, bool result_taken) {
  Slot& s = slots_[idx];
  CANOPY_ASSERT(s.state != Slot::State::free, "double free of a call slot");
  s.state = Slot::State::free;
  ++s.generation;
  // A taken result was moved out (an empty payload or reject is left, owning no memory); any
  // other is released now. The next call in this slot assigns its own.
  if (!result_taken) s.result = Result<Payload>{};
  s.lazy = nullptr;
  s.waiter = {};
  s.cc = nullptr;
  s.next_free = free_slot_;
  free_slot_ = idx;
  --live_slots_;
}

[[gnu::always_inline]] inline Slot* CanisterRt::find_slot(SlotRef ref) {
  if (ref.index >= slots_.size()) return nullptr;
  Slot& s = slots_[ref.index];
  if (s.generation != ref.generation || s.state == Slot::State::free) return nullptr;
  return &s;
}
const Slot* CanisterRt::find_slot(SlotRef ref) const {
  return const_cast<CanisterRt*>(this)->find_slot(ref);
}

bool CanisterRt::slot_ready(SlotRef ref) const {
  const Slot* s = find_slot(ref);
  return s != nullptr && s->state == Slot::State::ready;
}

[[gnu::always_inline]] inline bool CanisterRt::slot_wait_if_pending(SlotRef ref, Waiter waiter) {
  Slot* s = find_slot(ref);
  CANOPY_ASSERT(s != nullptr, "waiting on a call that is gone");
  if (s->state == Slot::State::ready) return false;
  CANOPY_ASSERT(s->state == Slot::State::pending, "waiting on an abandoned call");
  s->waiter = waiter;
  return true;
}

void CanisterRt::slot_wait(SlotRef ref, Waiter waiter) {
  Slot* s = find_slot(ref);
  CANOPY_ASSERT(s != nullptr && s->state == Slot::State::pending, "waiting on a settled call");
  s->waiter = waiter;
}

[[gnu::always_inline]] inline Result<Payload> CanisterRt::slot_take(SlotRef ref, uint64_t* refund) {
  Slot* s = find_slot(ref);
  CANOPY_ASSERT(s != nullptr && s->state == Slot::State::ready, "taking a call that is not ready");
  if (s->lazy) {
    auto lazy = std::exchange(s->lazy, nullptr);
    s->result = to_payload_result((*lazy)());
    s = find_slot(ref);
    CANOPY_ASSERT(s != nullptr, "slot vanished while resolving a lazy result");
  }
  Result<Payload> r = std::move(s->result);
  if (refund != nullptr) *refund = s->refund;
  free_slot(ref.index, /*result_taken=*/true);
  return r;
}

void CanisterRt::slot_abandon(SlotRef ref) {
  Slot* s = find_slot(ref);
  if (s == nullptr) return;
  if (s->state == Slot::State::ready) {
    free_slot(ref.index);  // response already delivered and counted
  } else if (s->state == Slot::State::pending) {
    if (s->system && s->deadline_ms != 0 && !s->response_inducted && !query_mode_) {
      // R19: a timer (ctx.sleep) nobody awaits any more. Nothing can arrive for it on the wire
      // (R1 concerns calls, a timer is local): release it now, so that it keeps no call
      // context open until its deadline. Its deadlines_ entry goes stale (generation).
      CallContext* cc = s->cc;
      CANOPY_ASSERT(cc != nullptr && cc->outstanding > 0, "outstanding accounting (timer)");
      --cc->outstanding;
      free_slot(ref.index);
      if (!executing_) maybe_close(cc);
      return;
    }
    s->state = Slot::State::abandoned;
    s->waiter = {};
  }
}

// ---------------------------------------------------------------- contexts

// A call context for `req`, which arrived through `from` (nullptr: ingress or system). Every
// field is set here, once.
[[gnu::always_inline]] inline CallContext* CanisterRt::new_context(const Request& req,
                                                                   PeerQueues* from) {
  CallContext* cc;
  if (free_context_ != UINT32_MAX) {
    cc = &contexts_[free_context_];
    free_context_ = cc->next_free;
  } else {
    cc = &contexts_.emplace_back(this);
    cc->index = static_cast<uint32_t>(contexts_.size() - 1);
  }
  const bool ingress = !req.from.valid();
  cc->live = true;
  cc->from_ingress = ingress && !req.system;
  cc->from_system = req.system;
  cc->ingress = req.ingress;
  cc->caller = req.from;
  cc->caller_slot = req.callback;
  cc->caller_call_seq = req.call_seq;
  cc->reply_pq = ingress ? nullptr : from;
  cc->method = {};
  cc->kind = MethodKind::update;  // until the method is known (a refusal replies as an update)
  cc->cycles_available = req.cycles;
  cc->replied = false;
  cc->outstanding = 0;
  cc->root = {};
  cc->root_live = false;
  cc->next_free = UINT32_MAX;
  ++open_contexts_;
  return cc;
}

[[gnu::always_inline]] inline void CanisterRt::free_context(CallContext* cc) {
  CANOPY_ASSERT(cc->live, "double free of a call context");
  cc->live = false;
  ++cc->generation;
  cc->method = {};
  cc->next_free = free_context_;
  free_context_ = cc->index;
  --open_contexts_;
}

[[gnu::always_inline]] inline void CanisterRt::maybe_close(CallContext* cc) {
  if (cc->live && cc->replied && !cc->root_live && cc->outstanding == 0) free_context(cc);
}

[[gnu::always_inline]] inline void CanisterRt::touch(CallContext& cc) {
  for (const auto& u : exec_.touched)
    if (u.cc == &cc) return;
  exec_.touched.push_back(ContextUndo{&cc, cc.replied, cc.cycles_available});
}

// ---------------------------------------------------------------- execution

uint64_t CanisterRt::run_iteration(uint64_t budget) {
  const uint64_t start = round_cost_;
  while (!ready_.empty() && round_cost_ < budget) {
    PeerQueues* pq = ready_.front();
    ready_.pop_front();
    pq->in_scheduled = false;
    // Executed in place: the message leaves the queue (its slot is free for the execution's own
    // capacity checks, R2) but stays where it lies until it is destroyed below. Nothing pushes
    // to an input queue while its canister executes (inductions, timers, deadlines and pool
    // completions all happen between the parallel phases), so its storage is not reused.
    struct Consumed {
      Message* m;
      ~Consumed() { std::destroy_at(m); }
    } consumed{pq->in.msgs.detach_front()};
    schedule_input(*pq);  // round-robin: back of the line if it has more
    const size_t queued = pq->in.msgs.size();
    ++counters_.messages_executed;
    if (auto* req = std::get_if<Request>(consumed.m)) {
      execute_request(std::move(*req), pq);
    } else {
      execute_response(std::move(std::get<Response>(*consumed.m)));
    }
    CANOPY_ASSERT(pq->in.msgs.size() == queued, "an input queue changed during an execution");
  }
  return round_cost_ - start;
}

[[gnu::always_inline]] inline void CanisterRt::begin_execution(CallContext* cc) {
  CANOPY_ASSERT(!executing_, "nested execution");
  executing_ = true;
  exec_.cc = cc;
  exec_.cost = cfg_.message_base_cost;
  exec_.balance_before = balance_;
  exec_.wake_ups = 0;
  // commit_execution and trap_execution leave the per-execution lists empty.
  CANOPY_ASSERT(exec_.sent.empty() && exec_.new_slots.empty() && exec_.touched.empty() &&
                    exec_.on_commit.empty() && ingress_out_.empty() && !exec_.forced_trap,
                "state of an earlier execution left over");
  CANOPY_ASSERT(exec_.woken.empty() && posted_.empty(), "ready queue left over");
  exec_.saved_current = std::exchange(tl_current, cc);
  if (snapshots_) code_->save_state();
}

// Whether request_refusal can refuse a request for method `m`: false only in the common case (a
// known update or query method of a running canister, replicated mode, under the context
// limit). Every condition request_refusal tests must make this true; the two stay together.
[[gnu::always_inline]] inline bool CanisterRt::may_refuse(const MethodEntry* m) const {
  return m == nullptr || query_mode_ || status_ != CanisterStatus::running ||
         open_contexts_ > cfg_.call_contexts_max_per_canister ||
         m->kind == MethodKind::composite_query;
}

// Why a request is refused before its method runs (execute_request), or nullopt.
[[gnu::noinline]] std::optional<Reject> CanisterRt::request_refusal(const MethodEntry* m,
                                                                    std::string_view name) const {
  if (!code_) {
    return Reject{RejectCode::canister_error, fmt::format("canister {} is empty", id_.to_string())};
  } else if (!query_mode_ && status_ != CanisterStatus::running) {
    // R9: requests queued before stop() are rejected at execution, not run.
    return Reject{RejectCode::canister_error,
                  fmt::format("canister {} is {} (R9)", id_.to_string(),
                              status_ == CanisterStatus::stopping ? "stopping" : "stopped")};
  } else if (!query_mode_ && open_contexts_ > cfg_.call_contexts_max_per_canister) {
    return Reject{RejectCode::sys_transient, fmt::format("canister {} has {} open call contexts "
                                                         "(call_contexts_max_per_canister, R5)",
                                                         id_.to_string(), open_contexts_ - 1)};
  } else if (m == nullptr) {
    return Reject{RejectCode::canister_error,
                  fmt::format("canister {} has no method '{}'", id_.to_string(), name)};
  } else if (query_mode_) {
    if (m->kind == MethodKind::update) {
      return Reject{RejectCode::canister_error,
                    fmt::format("'{}' is an update method; a query cannot call it (R16)", name)};
    } else if (m->kind == MethodKind::composite_query &&
               *query_mode_ != MethodKind::composite_query) {
      return Reject{RejectCode::canister_error,
                    fmt::format("'{}' is a composite query; only a composite query may call it "
                                "(R17)",
                                name)};
    }
  } else if (m->kind == MethodKind::composite_query) {
    return Reject{RejectCode::canister_error,
                  fmt::format("'{}' is a composite query and cannot be executed in replicated "
                              "mode (R17): an update cannot call it",
                              name)};
  }
  return std::nullopt;
}

void CanisterRt::execute_request(Request&& req, PeerQueues* from) {
  record(TraceKind::execute_request, req.from, id_, req.call_seq, 0, req.method);
  CallContext* cc = new_context(req, from);
  begin_execution(cc);

  const std::string_view name = req.method;
  const MethodEntry* m = nullptr;
  if (code_) {
    if (method_cache_ != nullptr && same_name(method_cache_->name, name)) {
      m = method_cache_;
    } else {
      m = code_->method_table().find(name);
      if (m != nullptr) method_cache_ = m;
    }
  }
  // The common case in one test; the checks that can refuse (R5, R9, R16, R17) out of line.
  std::optional<Reject> refuse;
  if (may_refuse(m)) [[unlikely]]
    refuse = request_refusal(m, name);
  if (refuse) {
    reply(*cc, tl::unexpected<Reject>(std::move(*refuse)));
    finish_execution(cc);
    return;
  }
  cc->method = m->name;
  cc->kind = query_mode_ ? m->kind
                         : (m->kind == MethodKind::query ? MethodKind::query : MethodKind::update);
  try {
    Invocation inv = m->invoke(*code_, cc->ctx, req.payload);
    switch (inv.kind) {
      case Invocation::Kind::reply:
        if (inv.finish == Finish::value || !cc->replied) reply(*cc, std::move(inv.reply));
        break;
      case Invocation::Kind::no_reply:
        break;
      case Invocation::Kind::task:
        cc->root = inv.task;
        cc->root_live = true;
        cc->root.handle.resume();
        break;
    }
  } catch (const std::exception& e) {
    trap_execution(cc, e.what());
    return;
  } catch (...) {
    trap_execution(cc, "unknown exception");
    return;
  }
  req.payload.recycle();  // decoded: the bytes are not needed any more
  if (auto trap = run_ready(cc)) {
    trap_execution(cc, *trap);
    return;
  }
  finish_execution(cc);
}

void CanisterRt::execute_response(Response&& resp) {
  Slot* s = find_slot(resp.callback);
  if (s == nullptr || s->state == Slot::State::ready) {
    ++counters_.duplicate_responses;  // invariant violation: reported by the checker
    return;
  }
  if (s->system) {
    ++counters_.system_completions;
  } else {
    ++counters_.responses_delivered;
  }
  s->response_inducted = false;
  balance_ += resp.refund;
  CallContext* cc = s->cc;
  CANOPY_ASSERT(cc != nullptr && cc->outstanding > 0, "response without an outstanding callback");
  --cc->outstanding;
  record(TraceKind::execute_response, resp.from, id_, resp.call_seq, code_of(resp.result), {});
  begin_execution(cc);
  if (s->state == Slot::State::abandoned) {
    free_slot(resp.callback.index);  // R18: discarded without running user code
    finish_execution(cc);
    return;
  }
  s->state = Slot::State::ready;
  s->result = std::move(resp.result);
  s->refund = resp.refund;
  const Waiter w = s->waiter;  // the slot may be freed by the code we resume
  if (w.fn != nullptr) w.fn(w.obj, w.tag);
  if (auto trap = run_ready(cc)) {
    trap_execution(cc, *trap);
    return;
  }
  finish_execution(cc);
}

std::optional<std::string> CanisterRt::finish_root(CallContext* cc) {
  Payload out;
  Finish how = Finish::void_return;
  std::optional<std::string> trap;
  try {
    how = cc->root.finish(cc->root.handle, out);
  } catch (const std::exception& e) {
    trap = e.what();
  } catch (...) {
    trap = "unknown exception";
  }
  cc->root_live = false;
  destroy_frame(cc->root.handle);
  if (trap) return trap;
  try {
    if (how == Finish::value) {
      if (cc->replied) return std::string("reply called twice (R6)");
      reply(*cc, std::move(out));
    } else if (how == Finish::void_return && !cc->replied) {
      reply(*cc, Payload{});
    }
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

// R6: a call context whose code returned, with nothing outstanding, and that never replied.
static bool returned_without_reply(const CallContext* c) {
  return c->live && !c->root_live && !c->replied && c->outstanding == 0;
}

void CanisterRt::finish_execution(CallContext* cc) {
  if (exec_.forced_trap) [[unlikely]] {
    finish_forced_trap(cc);
    return;
  }
  // A query executed in replicated mode keeps no state changes (R16).
  if (cc->kind == MethodKind::query && snapshots_ && !query_mode_) [[unlikely]]
    code_->restore_state();
  if (returned_without_reply(cc)) [[unlikely]]
    reply_did_not_reply(cc);
  if (!exec_.woken.empty()) [[unlikely]] {
    finish_with_woken(cc);
    return;
  }
  commit_execution();  // the common case: no other call context ran
  maybe_close(cc);
}

[[gnu::noinline]] void CanisterRt::finish_forced_trap(CallContext* cc) {
  std::string msg = *exec_.forced_trap;
  trap_execution(cc, msg);
}

[[gnu::noinline]] void CanisterRt::reply_did_not_reply(CallContext* cc) {
  reply(*cc,
        reject_result(RejectCode::canister_error,
                      fmt::format("canister {} did not reply to the call (R6)", id_.to_string())));
}

[[gnu::noinline]] void CanisterRt::finish_with_woken(CallContext* cc) {
  const std::vector<CallContext*> woken = take_woken(cc);
  for (CallContext* w : woken)
    if (returned_without_reply(w)) reply_did_not_reply(w);
  commit_execution();
  maybe_close(cc);
  for (CallContext* w : woken)
    maybe_close(w);
}

void CanisterRt::trap_execution(CallContext* cc, const std::string& message) {
  ++counters_.traps;
  // R7: state, cycles and the calls this execution made are rolled back.
  if (snapshots_) code_->restore_state();
  balance_ = exec_.balance_before;
  // The messages it sent leave their queues again; a response gets its reserved slot back.
  for (auto it = exec_.sent.rbegin(); it != exec_.sent.rend(); ++it) {
    PeerQueues& pq = **it;
    CANOPY_ASSERT(pq.exec_pushed > 0, "send accounting");
    if (std::holds_alternative<Response>(pq.out.msgs.back())) ++pq.out.reserved;
    pq.out.msgs.pop_back();
    --pq.exec_pushed;
  }
  exec_.sent.clear();
  for (uint32_t idx : exec_.new_slots) {
    Slot& s = slots_[idx];
    if (s.state == Slot::State::free) continue;
    if (!s.system) {
      PeerQueues& pq = peer(s.callee);
      CANOPY_ASSERT(pq.in.reserved > 0, "reservation accounting");
      --pq.in.reserved;
    }
    CANOPY_ASSERT(s.cc->outstanding > 0, "outstanding accounting");
    --s.cc->outstanding;
    free_slot(idx);
  }
  for (auto it = exec_.touched.rbegin(); it != exec_.touched.rend(); ++it) {
    it->cc->replied = it->replied;
    it->cc->cycles_available = it->cycles_available;
  }
  exec_.new_slots.clear();
  exec_.touched.clear();
  exec_.on_commit.clear();
  ingress_out_.clear();
  exec_.forced_trap.reset();
  // Other call contexts woken in this execution ran, or were due to run, on state the trap
  // rolls back: they trap too (their frames go, their callers are rejected). Destructors may
  // wake more contexts while frames go: those too. Bounded: each context is taken once.
  std::vector<CallContext*> woken;
  auto absorb_woken = [&] {
    for (CallContext* x : take_woken(cc))
      if (std::find(woken.begin(), woken.end(), x) == woken.end()) woken.push_back(x);
  };
  auto destroy_root = [](CallContext* c) {
    if (c->root_live) {
      c->root_live = false;
      destroy_frame(c->root.handle);  // its pending calls are abandoned
    }
  };
  absorb_woken();
  destroy_root(cc);
  absorb_woken();
  for (size_t i = 0; i < woken.size(); ++i) {
    destroy_root(woken[i]);
    absorb_woken();
  }
  posted_base_ += posted_.size();  // wake-ups not run yet: their frames are gone
  posted_.clear();
  posted_head_ = 0;
  record(TraceKind::trap, cc->caller, id_, cc->caller_call_seq, 0, message);
  if (!cc->replied) {
    reply(*cc, reject_result(RejectCode::canister_error,
                             fmt::format("canister {} trapped: {}", id_.to_string(), message)));
  }
  for (CallContext* w : woken) {
    if (w->live && !w->replied) {
      record(TraceKind::trap, w->caller, id_, w->caller_call_seq, 0, message);
      reply(*w, reject_result(RejectCode::canister_error,
                              fmt::format("canister {} trapped: {} (in an execution that woke "
                                          "this call context, R7)",
                                          id_.to_string(), message)));
    }
  }
  commit_execution();
  maybe_close(cc);
  for (CallContext* w : woken)
    maybe_close(w);
}

[[gnu::always_inline]] inline void CanisterRt::commit_execution() {
  for (PeerQueues* pq : exec_.sent) {
    // This execution's first message not yet committed in pq.
    const Message& msg = pq->out.msgs[pq->out.msgs.size() - pq->exec_pushed];
    --pq->exec_pushed;
    if (const auto* req = std::get_if<Request>(&msg)) {
      ++counters_.calls_accepted;
      record(TraceKind::request_sent, id_, req->to, req->call_seq, 0, req->method);
    } else {
      const auto& resp = std::get<Response>(msg);
      record(TraceKind::response_sent, id_, resp.to, resp.call_seq, code_of(resp.result), {});
    }
    if (!pq->out_dirty) {
      pq->out_dirty = true;
      dirty_out().push_back(pq);
    }
  }
  exec_.sent.clear();
  if (!ingress_out_.empty()) [[unlikely]] {
    for (auto& r : ingress_out_) {
      record(TraceKind::ingress_completed, id_, CanisterId{0}, r.id.value, code_of(r.result), {});
      ingress_replies_.push_back(std::move(r));
    }
    ingress_out_.clear();
  }
  if (!exec_.on_commit.empty()) [[unlikely]] {
    for (auto& fn : exec_.on_commit)
      fn();
    exec_.on_commit.clear();
  }
  round_cost_ += exec_.cost;
  exec_.new_slots.clear();
  exec_.touched.clear();
  exec_.cc = nullptr;
  tl_current = std::exchange(exec_.saved_current, nullptr);
  executing_ = false;
}

void CanisterRt::reply(CallContext& cc, Result<Payload> result) {
  CANOPY_ASSERT(executing_, "reply outside an execution");
  if (cc.replied) throw Trap("reply called twice (R6)");
  if (cc.kind == MethodKind::query && !cc.from_ingress && !query_mode_) {
    // fine: replicated query replies like an update
  }
  if (result && !cc.from_system && result->size() > cfg_.payload_max_bytes_xnet) {
    // R5: replies obey the payload limits of the edge they travel (ingress: the xnet limit).
    const bool xnet = cc.from_ingress || routing_.subnet_of(cc.caller) != subnet_;
    const uint64_t limit = xnet ? cfg_.payload_max_bytes_xnet : cfg_.payload_max_bytes_local;
    if (result->size() > limit) {
      throw Trap(fmt::format("reply of {} bytes exceeds the {} limit of {} bytes (R5)",
                             result->size(), xnet ? "cross-subnet" : "same-subnet", limit));
    }
  }
  touch(cc);
  cc.replied = true;
  const uint64_t refund = std::exchange(cc.cycles_available, 0);
  if (cc.from_system) return;  // timers and heartbeats have nobody to answer
  if (cc.from_ingress) {
    ingress_out_.push_back(IngressReply{cc.ingress, to_bytes_result(std::move(result))});
    return;
  }
  PeerQueues& pq = cc.reply_pq != nullptr ? *cc.reply_pq : peer(cc.caller);
  CANOPY_ASSERT(pq.peer == cc.caller, "reply queue of another peer");
  CANOPY_ASSERT(pq.out.reserved > 0, "a response without its reserved slot (R2)");
  --pq.out.reserved;
  send<Response>(pq, id_, cc.caller, cc.caller_slot, cc.caller_call_seq, std::move(result), refund);
}

template <class M, class... Args>
[[gnu::always_inline]] inline void CanisterRt::send(PeerQueues& pq, Args&&... args) {
  // Room first, so that once the message is appended nothing can fail before it is recorded.
  if (exec_.sent.size() == exec_.sent.capacity()) exec_.sent.reserve(2 * exec_.sent.size() + 8);
  pq.out.msgs.emplace_back(std::in_place_type<M>, std::forward<Args>(args)...);
  exec_.sent.push_back(&pq);
  ++pq.exec_pushed;
}

void CanisterRt::charge(uint64_t cost) {
  CANOPY_ASSERT(executing_, "charge outside an execution");
  exec_.cost += cost;
  if (exec_.cost > cfg_.message_cost_max && !exec_.forced_trap) {
    exec_.forced_trap = std::make_unique<std::string>(
        fmt::format("cost limit of {} units per message exceeded (R14)", cfg_.message_cost_max));
    throw Trap(*exec_.forced_trap);
  }
}

uint64_t CanisterRt::accept_cycles(CallContext& cc, uint64_t max_amount) {
  CANOPY_ASSERT(executing_, "accept_cycles outside an execution");
  touch(cc);
  const uint64_t n = std::min(max_amount, cc.cycles_available);
  cc.cycles_available -= n;
  balance_ += n;
  return n;
}

uint64_t CanisterRt::next_random() {
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

[[gnu::always_inline]] inline IssueResult CanisterRt::issue_call(CallContext& cc, CanisterId to,
                                                                 std::string_view method,
                                                                 Payload&& payload,
                                                                 const CallOptions& options) {
  CANOPY_ASSERT(executing_, "calls can only be made while the canister executes a message");
  if (query_mode_ && *query_mode_ == MethodKind::composite_query && query_caller_) {
    return query_caller_(cc, to, method, std::move(payload).to_bytes());
  }
  if (cc.kind != MethodKind::update) throw Trap("a query cannot make calls (R16)");
  auto fail = [&](RejectCode code, std::string msg) {
    ++counters_.calls_failed_sync;
    record(TraceKind::request_rejected, id_, to, 0, static_cast<uint8_t>(code), msg);
    return IssueResult::failed(Reject{code, std::move(msg)});
  };
  // The subnet of `to`: from this canister's cache of its peers when the routing table has not
  // changed since (a hash lookup in the shared table costs cache misses on every call).
  // The queue pair of the last call's callee first (a canister often calls one peer many
  // times), then the peer map.
  PeerQueues* known = last_called_;
  if (known == nullptr || known->peer != to) {
    auto it = peers_.find(to);
    known = it != peers_.end() ? &it->second : nullptr;
  }
  const uint64_t routing_version = routing_.version();
  std::optional<SubnetId> dest;
  if (known != nullptr && known->subnet_version == routing_version) {
    dest = known->subnet_cached;
  } else {
    dest = routing_.subnet_of(to);
  }
  if (!dest) {
    return fail(RejectCode::destination_invalid,
                fmt::format("canister {} does not exist", to.to_string()));
  }
  const bool xnet = *dest != subnet_;
  const uint64_t limit = xnet ? cfg_.payload_max_bytes_xnet : cfg_.payload_max_bytes_local;
  if (payload.size() > limit) {
    return fail(RejectCode::sys_fatal,
                fmt::format("payload of {} bytes exceeds the {} limit of {} bytes (R5)",
                            payload.size(), xnet ? "cross-subnet" : "same-subnet", limit));
  }
  if (options.timeout_ms > cfg_.call_timeout_max_ms) {
    return fail(RejectCode::sys_fatal,
                fmt::format("timeout of {} ms exceeds call_timeout_max_ms = {} (R10)",
                            options.timeout_ms, cfg_.call_timeout_max_ms));
  }
  if (live_slots_ >= cfg_.callbacks_max_per_canister) {
    return fail(RejectCode::sys_transient,
                fmt::format("callback quota exhausted: {} calls outstanding (R5)", live_slots_));
  }
  if (options.cycles > balance_) {
    return fail(RejectCode::sys_transient,
                fmt::format("insufficient cycles: attaching {} with a balance of {} (R8)",
                            options.cycles, balance_));
  }
  PeerQueues& pq = known != nullptr ? *known : peer(to);
  last_called_ = &pq;
  pq.subnet_version = routing_version;
  pq.subnet_cached = *dest;
  if (pq.out.used() >= cfg_.queue_capacity) {
    return fail(RejectCode::sys_transient,
                fmt::format("output queue to {} is full ({} messages, R2)", to.to_string(),
                            cfg_.queue_capacity));
  }
  if (pq.in.used() >= cfg_.queue_capacity) {
    return fail(RejectCode::sys_transient,
                fmt::format("no free slot in the input queue from {} to reserve for the "
                            "response ({} messages, R2)",
                            to.to_string(), cfg_.queue_capacity));
  }
  ++pq.in.reserved;  // the response's slot; the request takes its output slot when sent below
  balance_ -= options.cycles;
  const uint32_t idx = alloc_slot();
  Slot& s = slots_[idx];
  s.state = Slot::State::pending;
  s.response_inducted = false;
  s.timed_out = false;
  s.system = false;
  s.cc = &cc;
  s.callee = to;
  s.call_seq = ++call_seq_;
  s.deadline_ms = options.timeout_ms ? clock_.time_ms + options.timeout_ms : 0;
  s.waiter = {};
  s.refund = 0;
  ++cc.outstanding;
  exec_.new_slots.push_back(idx);
  if (s.deadline_ms != 0) deadlines_.emplace(s.deadline_ms, idx, s.generation);
  send<Request>(pq, id_, to, method, std::move(payload), options.cycles, SlotRef{idx, s.generation},
                s.call_seq, s.deadline_ms);
  return IssueResult{SlotRef{idx, s.generation}, nullptr};
}

// ---------------------------------------------------------------- induction (scheduler side)

bool CanisterRt::try_induct_request(Message& msg, PeerQueues* via, Reject& refusal) {
  Request& req = std::get<Request>(msg);
  if (!code_) {
    refusal = Reject{RejectCode::canister_error,
                     fmt::format("canister {} is empty (no code installed)", id_.to_string())};
    return false;
  }
  if (status_ != CanisterStatus::running) {
    refusal = Reject{RejectCode::canister_error,
                     fmt::format("canister {} is {} (R9)", id_.to_string(),
                                 status_ == CanisterStatus::stopping ? "stopping" : "stopped")};
    return false;
  }
  PeerQueues& pq = via != nullptr ? *via : peer(req.from);
  CANOPY_ASSERT(pq.peer == req.from, "induction through another peer's queues");
  if (pq.in.used() >= cfg_.queue_capacity) {
    refusal =
        Reject{RejectCode::sys_transient, fmt::format("input queue of {} from {} is full (R2)",
                                                      id_.to_string(), req.from.to_string())};
    return false;
  }
  if (pq.out.used() >= cfg_.queue_capacity) {
    refusal = Reject{RejectCode::sys_transient,
                     fmt::format("{} cannot reserve a response slot towards {} (R2)",
                                 id_.to_string(), req.from.to_string())};
    return false;
  }
  ++pq.out.reserved;
  record(TraceKind::request_inducted, req.from, id_, req.call_seq, 0, req.method);
  pq.in.msgs.emplace_back(std::move(msg));
  schedule_input(pq);
  return true;
}

bool CanisterRt::try_induct_all(Ring<Message>& batch, PeerQueues& via) {
  // One message (one call in flight per pair): inlined here, so that routing it is one call.
  if (batch.size() == 1) return induct_one(batch, via);
  return induct_batch(batch, via);
}

[[gnu::noinline]] bool CanisterRt::induct_batch(Ring<Message>& batch, PeerQueues& via) {
  if (!via.in.msgs.empty() || batch.empty()) return false;
  // Check everything first: on any doubt, nothing is changed and the caller takes the slow path.
  size_t requests = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (const auto* resp = std::get_if<Response>(&batch[i])) {
      const Slot* s = find_slot(resp->callback);
      if (s == nullptr || s->timed_out || s->response_inducted || s->state == Slot::State::ready)
        return false;  // dropped (R10) or a duplicate: counted by induct_response
    } else {
      ++requests;
    }
  }
  if (requests > 0) {
    // try_induct_request refuses the k-th request when used() + k - 1 reaches the capacity, so
    // all are accepted exactly when used() + requests fits (a response takes its reserved slot
    // and leaves in.used() unchanged; it does not touch `out`).
    if (!code_ || status_ != CanisterStatus::running) return false;
    if (via.in.used() + requests > cfg_.queue_capacity) return false;
    if (via.out.used() + requests > cfg_.queue_capacity) return false;
  }
  CANOPY_ASSERT(via.peer == source(batch.front()), "induction through another peer's queues");
  for (size_t i = 0; i < batch.size(); ++i) {
    Message& m = batch[i];
    if (const auto* req = std::get_if<Request>(&m)) {
      ++via.out.reserved;
      record(TraceKind::request_inducted, req->from, id_, req->call_seq, 0, req->method);
    } else {
      Slot* s = find_slot(std::get<Response>(m).callback);
      CANOPY_ASSERT(s != nullptr && !s->response_inducted, "two responses to one call (R1)");
      CANOPY_ASSERT(via.in.reserved > 0, "response without a reserved slot (R2)");
      --via.in.reserved;
      s->response_inducted = true;
    }
  }
  via.in.msgs.swap(batch);
  schedule_input(via);
  return true;
}

[[gnu::always_inline]] inline bool CanisterRt::induct_one(Ring<Message>& batch, PeerQueues& via) {
  // One message: checked and applied in one pass (a refusal has nothing to undo).
  Message& m = batch.front();
  if (auto* req = std::get_if<Request>(&m)) {
    CANOPY_ASSERT(via.peer == req->from, "induction through another peer's queues");
    if (!code_ || status_ != CanisterStatus::running || via.in.used() >= cfg_.queue_capacity ||
        via.out.used() >= cfg_.queue_capacity)
      return false;  // try_induct_request refuses it, with its reason
    ++via.out.reserved;
    record(TraceKind::request_inducted, req->from, id_, req->call_seq, 0, req->method);
  } else {
    const Response& resp = std::get<Response>(m);
    CANOPY_ASSERT(via.peer == resp.from, "induction through another peer's queues");
    Slot* s = find_slot(resp.callback);
    if (s == nullptr || s->timed_out || s->response_inducted || s->state == Slot::State::ready)
      return false;  // dropped (R10) or a duplicate: counted by induct_response
    CANOPY_ASSERT(via.in.reserved > 0, "response without a reserved slot (R2)");
    --via.in.reserved;
    s->response_inducted = true;
  }
  if (via.in.msgs.empty()) {
    via.in.msgs.swap(batch);
  } else {
    via.in.msgs.emplace_back(std::move(m));
    batch.pop_front();
  }
  schedule_input(via);
  return true;
}

bool CanisterRt::induct_response(Message& msg, PeerQueues* via) {
  const Response& resp = std::get<Response>(msg);
  Slot* s = find_slot(resp.callback);
  if (s == nullptr || s->timed_out) {
    ++counters_.late_responses_dropped;  // R10: a late response is dropped
    record(TraceKind::response_dropped, resp.from, id_, resp.call_seq, code_of(resp.result), {});
    return false;
  }
  if (s->response_inducted || s->state == Slot::State::ready) {
    ++counters_.duplicate_responses;
    return false;
  }
  PeerQueues& pq = via != nullptr ? *via : peer(resp.from);
  CANOPY_ASSERT(pq.peer == resp.from, "induction through another peer's queues");
  CANOPY_ASSERT(pq.in.reserved > 0, "response without a reserved slot (R2)");
  --pq.in.reserved;
  s->response_inducted = true;
  pq.in.msgs.emplace_back(std::move(msg));
  schedule_input(pq);
  return true;
}

std::optional<Reject> CanisterRt::induct_ingress(Request&& req) {
  if (ingress_.in.msgs.size() >= cfg_.ingress_queue_capacity) {
    return Reject{RejectCode::sys_transient,
                  fmt::format("ingress queue of {} is full ({} messages)", id_.to_string(),
                              cfg_.ingress_queue_capacity)};
  }
  ingress_.in.msgs.push_back(Message{std::move(req)});
  schedule_input(ingress_);
  return std::nullopt;
}

void CanisterRt::expire_deadlines(uint64_t now_ms) {
  while (!deadlines_.empty() && std::get<0>(deadlines_.top()) <= now_ms) {
    const auto [deadline, idx, gen] = deadlines_.top();
    deadlines_.pop();
    Slot* s = find_slot(SlotRef{idx, gen});
    if (s == nullptr || s->response_inducted || s->timed_out || s->state == Slot::State::ready)
      continue;
    if (s->system) {
      complete_system(SlotRef{idx, gen}, Result<Bytes>{});  // R19: the timer fired
      continue;
    }
    s->timed_out = true;
    PeerQueues& pq = peer(s->callee);
    CANOPY_ASSERT(pq.in.reserved > 0, "timeout without a reserved slot");
    --pq.in.reserved;  // the SYS_UNKNOWN reject takes the response's reserved slot
    Response r;
    r.from = s->callee;
    r.to = id_;
    r.callback = SlotRef{idx, gen};
    r.call_seq = s->call_seq;
    r.result = reject_result(RejectCode::sys_unknown,
                             fmt::format("no response from {} by the deadline; the outcome is "
                                         "unknown (R10)",
                                         s->callee.to_string()));
    record(TraceKind::call_timed_out, s->callee, id_, s->call_seq,
           static_cast<uint8_t>(RejectCode::sys_unknown), {});
    pq.in.msgs.push_back(Message{std::move(r)});
    schedule_input(pq);
  }
}

void CanisterRt::drop_all_contexts(const std::string& reason) {
  for (auto& cc : contexts_) {
    if (!cc.live) continue;
    if (cc.root_live) {
      cc.root_live = false;
      cc.root.handle.destroy();  // pending calls become abandoned: responses discarded
    }
    if (!cc.replied) {
      begin_execution(&cc);
      reply(cc, reject_result(RejectCode::canister_error,
                              fmt::format("canister {}: {}", id_.to_string(), reason)));
      commit_execution();
    }
    maybe_close(&cc);
  }
}

Result<Bytes> CanisterRt::run_query(std::string_view method, const Bytes& payload,
                                    MethodKind as_kind) {
  CANOPY_ASSERT(code_ != nullptr, "query on an empty canister");
  query_mode_ = as_kind;
  Request req;
  req.to = id_;
  req.method = std::string(method);
  req.payload = Payload::copy_of(payload);
  execute_request(std::move(req), nullptr);
  auto replies = take_ingress_replies();
  query_mode_.reset();
  if (replies.empty()) {
    return reject_result(
        RejectCode::canister_error,
        fmt::format("query '{}' on {} did not complete synchronously", method, id_.to_string()));
  }
  return std::move(replies.front().result);
}

}  // namespace canopy::detail

namespace canopy::detail {

IssueResult CanisterRt::complete_immediately(CallContext& cc, CanisterId callee,
                                             Result<Bytes> result) {
  const uint32_t idx = alloc_slot();
  Slot& s = slots_[idx];
  s.state = Slot::State::ready;
  s.response_inducted = false;
  s.timed_out = false;
  s.system = true;
  s.cc = &cc;
  s.callee = callee;
  s.call_seq = ++call_seq_;
  s.deadline_ms = 0;
  s.waiter = {};
  s.refund = 0;
  s.result = to_payload_result(std::move(result));
  return IssueResult{SlotRef{idx, s.generation}, nullptr};
}

IssueResult CanisterRt::issue_system(CallContext& cc, uint64_t deadline_ms) {
  CANOPY_ASSERT(executing_, "system slots are created while executing");
  if (live_slots_ >= cfg_.callbacks_max_per_canister) {
    return IssueResult::failed(
        Reject{RejectCode::sys_transient,
               fmt::format("callback quota exhausted: {} calls outstanding (R5)", live_slots_)});
  }
  const uint32_t idx = alloc_slot();
  Slot& s = slots_[idx];
  s.state = Slot::State::pending;
  s.response_inducted = false;
  s.timed_out = false;
  s.system = true;
  s.cc = &cc;
  s.callee = id_;
  s.call_seq = ++call_seq_;
  s.deadline_ms = deadline_ms;
  s.waiter = {};
  s.refund = 0;
  ++cc.outstanding;
  exec_.new_slots.push_back(idx);
  if (deadline_ms != 0) deadlines_.emplace(deadline_ms, idx, s.generation);
  return IssueResult{SlotRef{idx, s.generation}, nullptr};
}

bool CanisterRt::complete_system(SlotRef ref, Result<Bytes> result) {
  Slot* s = find_slot(ref);
  if (s == nullptr || !s->system || s->response_inducted) return false;
  s->response_inducted = true;
  Response r;
  r.from = id_;
  r.to = id_;
  r.callback = ref;
  r.call_seq = s->call_seq;
  r.result = to_payload_result(std::move(result));
  system_.in.msgs.push_back(Message{std::move(r)});
  schedule_input(system_);
  return true;
}

void CanisterRt::on_commit(std::function<void()> fn) {
  CANOPY_ASSERT(executing_, "on_commit outside an execution");
  exec_.on_commit.push_back(std::move(fn));
}

uint64_t CanisterRt::set_timer(uint64_t delay_ms, uint64_t period_ms, std::string method,
                               Bytes args) {
  CANOPY_ASSERT(executing_, "timers are set while executing");
  if (timers_.size() >= cfg_.timers_max_per_canister)
    throw Trap(
        fmt::format("timer limit of {} per canister reached (R19)", cfg_.timers_max_per_canister));
  const uint64_t id = next_timer_id_++;
  Timer t;
  t.due_ms = clock_.time_ms + std::max<uint64_t>(delay_ms, 1);
  t.period_ms = period_ms;
  t.method = std::move(method);
  t.args = std::move(args);
  on_commit([this, id, t = std::move(t)]() mutable { timers_.emplace(id, std::move(t)); });
  return id;
}

void CanisterRt::cancel_timer(uint64_t timer_id) {
  CANOPY_ASSERT(executing_, "timers are cancelled while executing");
  on_commit([this, timer_id] { timers_.erase(timer_id); });
}

bool CanisterRt::waiting_on_time() const {
  if (code_ && status_ == CanisterStatus::running) {
    if (!timers_.empty()) return true;
    if (code_->method_table().find(heartbeat_method) != nullptr) return true;
  }
  while (!deadlines_.empty()) {
    const auto [d, idx, gen] = deadlines_.top();
    const Slot* s = find_slot(SlotRef{idx, gen});
    if (s != nullptr && !s->response_inducted && !s->timed_out && s->state != Slot::State::ready)
      return true;
    deadlines_.pop();
  }
  return false;
}

void CanisterRt::fire_timers(uint64_t now_ms) {
  if (!code_ || status_ != CanisterStatus::running) return;
  auto enqueue = [&](const std::string& method, const Bytes& args) {
    Request r;
    r.to = id_;
    r.method = method;
    r.payload = Payload::copy_of(args);
    r.system = true;
    system_.in.msgs.push_back(Message{std::move(r)});
  };
  for (auto it = timers_.begin(); it != timers_.end();) {
    Timer& t = it->second;
    if (t.due_ms > now_ms) {
      ++it;
      continue;
    }
    enqueue(t.method, t.args);
    if (t.period_ms == 0) {
      it = timers_.erase(it);
    } else {
      t.due_ms = std::max(t.due_ms + t.period_ms, now_ms + 1);
      ++it;
    }
  }
  if (code_->method_table().find(heartbeat_method) != nullptr)
    enqueue(std::string(heartbeat_method), Bytes{});
  schedule_input(system_);
}

IssueResult CanisterRt::complete_lazily(CallContext& cc, CanisterId callee, LazyResult resolve) {
  IssueResult r = complete_immediately(cc, callee, Result<Bytes>{});
  slots_[r.ref.index].lazy = std::make_unique<std::function<Result<Bytes>()>>(std::move(resolve));
  return r;
}

// ---------------------------------------------------------------- ready queue (R18)

ReadyTicket CanisterRt::post_ready(CallContext& cc, Waiter w) {
  CANOPY_ASSERT(executing_, "post_ready outside a message execution");
  CANOPY_ASSERT(cc.rt == this && cc.live, "post_ready for a call context of another canister");
  if (!cc.woken) {
    cc.woken = true;
    exec_.woken.push_back(&cc);  // marked even when refused below: the trap takes it down (R7)
  }
  if (exec_.wake_ups >= cfg_.wake_ups_max_per_message) {
    if (!exec_.forced_trap) {
      exec_.forced_trap = std::make_unique<std::string>(fmt::format(
          "more than {} wake-ups in one message execution (wake_ups_max_per_message, R18)",
          cfg_.wake_ups_max_per_message));
    }
    return ReadyTicket{};  // never runs: the execution traps
  }
  ++exec_.wake_ups;
  posted_.push_back(Posted{&cc, w});
  return ReadyTicket{this, posted_base_ + posted_.size() - 1};
}

void CanisterRt::cancel_ready(uint64_t seq) {
  if (seq < posted_base_ + posted_head_ || seq >= posted_base_ + posted_.size()) return;  // ran
  posted_[seq - posted_base_].w = Waiter{};
}

void CanisterRt::trap_later(std::string_view message) {
  if (executing_ && !exec_.forced_trap) exec_.forced_trap = std::make_unique<std::string>(message);
}

void CanisterRt::drain_ready() {
  for (uint64_t steps = 0; posted_head_ < posted_.size(); ++steps) {
    CANOPY_ASSERT(steps <= cfg_.wake_ups_max_per_message, "wake-ups beyond their limit ran");
    if (exec_.forced_trap) break;              // the execution traps: the rest is discarded
    const Posted p = posted_[posted_head_++];  // a copy: fn may post (and reallocate)
    if (p.w.fn == nullptr) continue;           // withdrawn: its frame went away
    tl_current = p.cc;
    p.w.fn(p.w.obj, p.w.tag);
  }
  if (posted_head_ == posted_.size()) {
    posted_base_ += posted_.size();
    posted_.clear();
    posted_head_ = 0;
  }
  tl_current = exec_.cc;
}

std::optional<std::string> CanisterRt::run_ready_slow(CallContext* cc) {
  // Destroying a finished root may wake more (a destructor closing a Stream): repeat until
  // nothing is posted. Bounded: each pass runs at least one wake-up (drain_ready asserts).
  for (uint64_t pass = 0;; ++pass) {
    CANOPY_ASSERT(pass <= cfg_.wake_ups_max_per_message, "wake-ups beyond their limit ran");
    drain_ready();
    if (auto trap = check_roots(cc)) return trap;
    if (posted_.empty() || exec_.forced_trap) return std::nullopt;
  }
}

std::optional<std::string> CanisterRt::check_roots(CallContext* cc) {
  if (auto trap = check_root(cc)) return trap;
  for (size_t i = 0; i < exec_.woken.size(); ++i) {  // a destructor may post (and append)
    CallContext* w = exec_.woken[i];
    if (w == cc) continue;
    if (auto trap = check_root(w)) return trap;
  }
  return std::nullopt;
}

std::vector<CallContext*> CanisterRt::take_woken(CallContext* cc) {
  std::vector<CallContext*> out;
  for (CallContext* w : exec_.woken) {
    w->woken = false;
    if (w != cc) out.push_back(w);
  }
  exec_.woken.clear();
  return out;
}

// ---------------------------------------------------------------- hooks for Ctx / Call

IssueResult issue_call(CallContext& cc, CanisterId to, std::string_view method, Payload&& payload,
                       const CallOptions& options) {
  return cc.rt->issue_call(cc, to, method, std::move(payload), options);
}
bool slot_ready(CanisterRt* rt, SlotRef ref) noexcept {
  return rt->slot_ready(ref);
}
void slot_wait(CanisterRt* rt, SlotRef ref, Waiter waiter) noexcept {
  rt->slot_wait(ref, waiter);
}
bool slot_wait_if_pending(CanisterRt* rt, SlotRef ref, Waiter waiter) noexcept {
  return rt->slot_wait_if_pending(ref, waiter);
}
Result<Payload> slot_take(CanisterRt* rt, SlotRef ref, uint64_t* refund) {
  return rt->slot_take(ref, refund);
}
void slot_abandon(CanisterRt* rt, SlotRef ref) noexcept {
  rt->slot_abandon(ref);
}
ReadyTicket post_ready(CallContext& cc, Waiter w) noexcept {
  return cc.rt->post_ready(cc, w);
}
void cancel_ready(ReadyTicket t) noexcept {
  if (t.rt != nullptr) t.rt->cancel_ready(t.seq);
}
CallContext* current_context() noexcept {
  return tl_current;
}
void trap_later(std::string_view message) noexcept {
  if (tl_current != nullptr) tl_current->rt->trap_later(message);
}

}  // namespace canopy::detail

namespace canopy {

using detail::CallContext;

CanisterId Ctx::self() const {
  return cc_->rt->id();
}
CanisterId Ctx::caller() const {
  return cc_->caller;
}
bool Ctx::from_ingress() const {
  return cc_->from_ingress;
}
SubnetId Ctx::subnet() const {
  return cc_->rt->subnet();
}
MethodKind Ctx::kind() const {
  return cc_->kind;
}
std::string_view Ctx::method() const {
  return cc_->method;
}
uint64_t Ctx::time_ms() const {
  return cc_->rt->clock().time_ms;
}
uint64_t Ctx::round() const {
  return cc_->rt->clock().round;
}
uint64_t Ctx::balance() const {
  return cc_->rt->balance();
}
uint64_t Ctx::cycles_available() const {
  return cc_->cycles_available;
}
uint64_t Ctx::accept_cycles(uint64_t max_amount) {
  return cc_->rt->accept_cycles(*cc_, max_amount);
}
void Ctx::charge(uint64_t cost) {
  cc_->rt->charge(cost);
}
void Ctx::reply_raw(Bytes payload) {
  cc_->rt->reply(*cc_, detail::Payload(std::move(payload)));
}
void Ctx::reject(std::string message) {
  cc_->rt->reply(*cc_,
                 tl::unexpected<Reject>(Reject{RejectCode::canister_reject, std::move(message)}));
}
bool Ctx::replied() const {
  return cc_->replied;
}
uint64_t Ctx::random() {
  return cc_->rt->next_random();
}
uint64_t Ctx::set_timer(uint64_t delay_ms, std::string method, Bytes args) {
  return cc_->rt->set_timer(delay_ms, 0, std::move(method), std::move(args));
}
uint64_t Ctx::set_timer_interval(uint64_t period_ms, std::string method, Bytes args) {
  if (period_ms == 0) throw Trap("set_timer_interval: the period must be positive (R19)");
  return cc_->rt->set_timer(period_ms, period_ms, std::move(method), std::move(args));
}
void Ctx::cancel_timer(uint64_t timer_id) {
  cc_->rt->cancel_timer(timer_id);
}
Call<void> Ctx::sleep_ms(uint64_t ms) {
  auto& rt = *cc_->rt;
  return Call<void>(&rt, rt.issue_system(*cc_, rt.clock().time_ms + (ms == 0 ? 1 : ms)));
}
Call<void> Ctx::sleep(std::chrono::milliseconds d) {
  if (d.count() < 0) {
    throw Trap(fmt::format("R19: sleep needs a duration >= 0, got {} ms", d.count()));
  }
  return sleep_ms(static_cast<uint64_t>(d.count()));
}
detail::CanisterRt* Ctx::rt() const {
  return cc_->rt;
}

}  // namespace canopy
