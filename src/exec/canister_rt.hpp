// The execution layer: one canister's system state and the execution of one message at a time.
//
// A CanisterRt owns the canister's code+state, its per-peer queues (R2), its call contexts (R6)
// and its pending-call slot table (DESIGN §2: slot array + generation, O(1) per call). It
// executes messages from its input queues (R12) with trap rollback (R7) and buffers everything an
// execution sends until the execution commits. It never touches another canister: the scheduler
// (src/sched) moves messages between canisters between parallel phases. Not thread-safe: one
// thread at a time (the scheduler guarantees it).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "canopy/canister.hpp"
#include "canopy/config.hpp"
#include "canopy/ctx.hpp"
#include "canopy/trace.hpp"
#include "core/messages.hpp"
#include "core/ring.hpp"
#include "core/small_vec.hpp"
#include "core/trace_hash.hpp"

namespace canopy {
class Pools;
}  // namespace canopy

namespace canopy::detail {

class CanisterRt;

// Read-only view of the topology, consulted by synchronous call checks (R5) during execution.
class Routing {
 public:
  virtual ~Routing() = default;
  // The subnet hosting `id`, or nullopt if no such canister exists.
  virtual std::optional<SubnetId> subnet_of(CanisterId id) const = 0;
  // Changes whenever the routing table changes (lets the scheduler cache lookups).
  virtual uint64_t version() const = 0;
  // R22: the runtime's worker pools (nullptr if none are attached). Stable once attached.
  virtual Pools* pools() const { return nullptr; }
};

// The subnet's clock as canisters see it (R15).
struct SubnetClock {
  uint64_t round = 0;
  uint64_t time_ms = 0;
  uint32_t iteration = 0;
};

enum class CanisterStatus : uint8_t { running, stopping, stopped };

struct Queue {
  Ring<Message> msgs;
  uint32_t reserved = 0;  // slots promised to messages not yet enqueued (R2)
  size_t used() const { return msgs.size() + reserved; }
};

struct PeerQueues {
  CanisterId peer;
  Queue in;
  Queue out;
  uint32_t exec_pushed = 0;   // messages of the executing message at the end of out.msgs
  bool in_scheduled = false;  // on the canister's ready list
  bool out_dirty = false;     // on the canister's list of output queues to route
  // During routing, `out`'s messages move here (CanisterRt::stage_outputs) and leave from here,
  // so that the thread routing them to `peer` never touches `out`, which the thread inducting a
  // request from `peer` reads for the capacity check (R2).
  Ring<Message> transit;
  // Scheduler's cache of where `peer` lives (valid while Routing::version() == route_version).
  uint64_t route_version = 0;
  CanisterRt* route_local = nullptr;  // same subnet
  uint32_t route_ordinal = 0;         // route_local->ordinal(), without touching it
  bool route_remote = false;          // another subnet
  // The canister's own cache of the subnet hosting `peer`, for the call checks of issue_call
  // (valid while Routing::version() == subnet_version; written only by the owning canister).
  uint64_t subnet_version = 0;
  SubnetId subnet_cached;
  // The scheduler's cache of `peer`'s PeerQueues for this canister (where our messages to it
  // are inducted), so that induction needs no lookup in the destination's peer map. Written
  // only by the routing shard that owns `peer`; reset with the route cache.
  PeerQueues* route_mirror = nullptr;
};

// Two cache lines (fields ordered without padding holes): a canister touches its call contexts
// on every request and response.
struct alignas(64) CallContext {
  explicit CallContext(CanisterRt* owner) : ctx(this), rt(owner) {}
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  Ctx ctx;
  CanisterRt* rt;
  uint32_t index = 0;
  uint32_t generation = 0;
  // Origin.
  IngressId ingress;
  CanisterId caller;
  SlotRef caller_slot;
  uint64_t caller_call_seq = 0;
  PeerQueues* reply_pq = nullptr;  // the queue pair with the calling canister (its response's way)
  std::string_view method;         // MethodEntry::name of the method it runs (empty: refused)
  // R6/R8.
  uint64_t cycles_available = 0;
  RootTask root;
  uint32_t outstanding = 0;  // callbacks not yet delivered (including abandoned ones)
  uint32_t next_free = UINT32_MAX;
  MethodKind kind = MethodKind::update;
  bool live = false;
  bool from_ingress = false;
  bool from_system = false;  // timer or heartbeat (R19)
  bool replied = false;
  bool root_live = false;
  bool woken = false;  // a wake-up was posted for it in the current execution (ready queue)
};
static_assert(sizeof(CallContext) == 128, "a call context is two cache lines");

struct Slot {
  enum class State : uint8_t { free, pending, ready, abandoned };
  State state = State::free;
  bool response_inducted = false;  // the response sits in an input queue
  bool timed_out = false;          // R10: SYS_UNKNOWN was produced; the real response is dropped
  bool system = false;             // completed by the system (timer, offload), not by a canister
  uint32_t generation = 1;
  uint32_t next_free = UINT32_MAX;
  CallContext* cc = nullptr;
  CanisterId callee;
  uint64_t call_seq = 0;
  uint64_t deadline_ms = 0;
  Waiter waiter;
  Result<Payload> result;
  uint64_t refund = 0;
  // complete_lazily: produces the result at slot_take. Out of line: rare, and a pending call's
  // slot should stay small (a million calls in flight are a million slots).
  std::unique_ptr<std::function<Result<Bytes>()>> lazy;
};

struct IngressReply {
  IngressId id;
  Result<Bytes> result;
};

// Counters for the invariant checker and statistics.
struct CanisterCounters {
  uint64_t calls_accepted = 0;       // committed requests (R1: each gets exactly one response)
  uint64_t calls_failed_sync = 0;    // synchronous failures (no callback)
  uint64_t responses_delivered = 0;  // responses executed at this canister (incl. discarded)
  uint64_t duplicate_responses = 0;  // must stay 0
  uint64_t messages_executed = 0;
  uint64_t traps = 0;
  uint64_t late_responses_dropped = 0;
  uint64_t cycles_minted = 0;
  uint64_t system_completions = 0;  // timers and offloads delivered (not calls)
};

class CanisterRt {
 public:
  CanisterRt(CanisterId id, SubnetId subnet, const Config& cfg, const Routing& routing,
             const SubnetClock& clock, std::unique_ptr<CanisterBase> code, uint64_t cycles);
  ~CanisterRt();
  CanisterRt(const CanisterRt&) = delete;
  CanisterRt& operator=(const CanisterRt&) = delete;

  CanisterId id() const { return id_; }
  SubnetId subnet() const { return subnet_; }
  const Config& config() const { return cfg_; }
  const Routing& routing() const { return routing_; }
  const SubnetClock& clock() const { return clock_; }
  CanisterStatus status() const { return status_; }
  bool has_code() const { return code_ != nullptr; }
  CanisterBase* code() { return code_.get(); }
  uint64_t balance() const { return balance_; }
  void add_cycles(uint64_t n) {
    balance_ += n;
    counters_.cycles_minted += n;
  }
  const CanisterCounters& counters() const { return counters_; }
  size_t open_call_contexts() const { return open_contexts_; }
  size_t outstanding_calls() const { return live_slots_; }

  // ---- execution (parallel phase) ----
  bool has_input() const { return !ready_.empty(); }
  // Executes messages from the input queues round-robin until none is left or the canister's
  // round budget is spent. Returns the cost used.
  uint64_t run_iteration(uint64_t budget);
  void begin_round() { round_cost_ = 0; }
  uint64_t round_cost() const { return round_cost_; }

  // ---- scheduler side (sequential phase) ----
  // Routing (src/sched), on this canister's thread right after it executed: every output queue
  // written since the last routing moves its messages to its `transit` ring, from which the
  // routing phase takes them, and joins the staged list (commit order); `visit(pq)` is called
  // for each. The output queues are empty afterwards: routing delivers everything they held at
  // once (inducted into the destination's input queue, handed to a stream, or bounced), so a
  // capacity check (R2) made while routing runs sees only the reservations, whatever the order
  // of the shards.
  template <class Visit>
  void stage_outputs(Visit&& visit) {
    // The two lists trade roles: the dirty list becomes the staged one, the old staged list
    // (routed by now) is emptied to collect the next writes.
    dirty_ ^= 1;
    dirty_out().clear();
    for (PeerQueues* pq : staged_outputs()) {
      CANOPY_ASSERT(pq->transit.empty(), "messages left in transit");
      pq->out.msgs.swap(pq->transit);
      pq->out_dirty = false;
      visit(*pq);
    }
  }
  // The queues staged by the last stage_outputs, in commit order. Read-only while the routing
  // phase runs (each routing shard drains the transit rings of the queues it owns).
  using QueueList = SmallVec<PeerQueues*, 2>;
  const QueueList& staged_outputs() const { return queue_lists_[dirty_ ^ 1]; }
  // Prefetch hint for the routing phase's walk: the queue pairs on the staged list. Prefetch
  // instructions only, and no load of anything but the staged list (read-only while routing
  // runs): a queue pair's transit ring and route cache are written by the shard that owns its
  // destination, which may be another thread's.
  void prefetch_staged() const {
    for (const PeerQueues* pq : staged_outputs())
      __builtin_prefetch(&pq->transit);
  }
  // Position in the subnet's canister-id order (the scheduler's dense per-canister arrays).
  uint32_t ordinal() const { return ordinal_; }
  void set_ordinal(uint32_t o) { ordinal_ = o; }
  bool has_ingress_replies() const { return !ingress_replies_.empty(); }
  bool has_outputs() const { return !queue_lists_[dirty_].empty() || !ingress_replies_.empty(); }
  std::vector<IngressReply> take_ingress_replies();
  std::vector<TraceEvent> take_trace();
  uint64_t trace_hash() const { return trace_hash_; }
  PeerQueues& peer(CanisterId peer);
  const std::map<CanisterId, PeerQueues>& peers() const { return peers_; }
  // Induction of a request from `from` (R2): needs a slot in in[from] and reserves one in
  // out[from]. Returns a reject when the canister cannot take it.
  // `msg` holds a Request; it is moved into the input queue if accepted, left as is if not.
  // `via`, if given, is this canister's PeerQueues for the sender (saves the lookup).
  // Returns true if accepted; otherwise fills `refusal` and leaves the request in `msg`.
  bool try_induct_request(Message& msg, PeerQueues* via, Reject& refusal);
  // Induction of a response to one of our calls; always succeeds (reserved), except that a late
  // response of a timed-out call is dropped (R10). Returns false if dropped.
  // `msg` holds a Response; it is moved into the input queue unless dropped.
  bool induct_response(Message& msg, PeerQueues* via = nullptr);
  // Induction of a whole batch from one sender, in order (`via`: this canister's PeerQueues for
  // it), when every message would be accepted as it is and the input queue from the sender is
  // empty: the ring itself becomes the input queue (no message moves). Same checks, reservations
  // and trace events as inducting each message with try_induct_request / induct_response.
  // Returns false, changing nothing, when the batch needs the message-by-message path (a refusal,
  // a dropped or duplicate response, a non-empty input queue).
  bool try_induct_all(Ring<Message>& batch, PeerQueues& via);
  bool induct_one(Ring<Message>& batch, PeerQueues& via);
  bool induct_batch(Ring<Message>& batch, PeerQueues& via);  // try_induct_all of 0 or >= 2
  // Why execute_request refuses a request before its method runs (R5, R9, R16, R17), if it does.
  std::optional<Reject> request_refusal(const MethodEntry* m, std::string_view name) const;
  bool may_refuse(const MethodEntry* m) const;  // false: request_refusal would return nullopt
  // Enqueue an ingress message (R11). Returns a reject if the ingress queue is full.
  std::optional<Reject> induct_ingress(Request&& req);
  // R10: produce SYS_UNKNOWN for bounded-wait calls whose deadline has passed.
  void expire_deadlines(uint64_t now_ms);
  // R9 lifecycle.
  void set_status(CanisterStatus s) { status_ = s; }
  // Reject all open contexts ("callback lost") and drop their coroutine frames; the pending
  // calls' responses will be discarded when they arrive (R9, R21).
  void drop_all_contexts(const std::string& reason);
  void replace_code(std::unique_ptr<CanisterBase> code) {
    code_ = std::move(code);
    method_cache_ = nullptr;
    snapshots_ = code_ != nullptr && !code_->stateless();
  }
  // Record a trace event produced outside an execution (scheduler side).
  void trace(TraceEvent e, std::string_view label = {});

  // ---- hooks used by Ctx/Call (canister thread) ----
  IssueResult issue_call(CallContext& cc, CanisterId to, std::string_view method, Payload&& payload,
                         const CallOptions& options);
  bool slot_ready(SlotRef ref) const;
  void slot_wait(SlotRef ref, Waiter waiter);
  bool slot_wait_if_pending(SlotRef ref, Waiter waiter);
  Result<Payload> slot_take(SlotRef ref, uint64_t* refund);
  void slot_abandon(SlotRef ref);
  // The ready queue (canopy/detail/hooks.hpp): wake-ups run from a clean stack.
  ReadyTicket post_ready(CallContext& cc, Waiter w);
  void cancel_ready(uint64_t seq);
  void trap_later(std::string_view message);
  void reply(CallContext& cc, Result<Payload> result);
  void charge(uint64_t cost);
  uint64_t accept_cycles(CallContext& cc, uint64_t max_amount);
  uint64_t next_random();

  // Used by query evaluation (src/query): run a method on this canister outside the round
  // machinery, synchronously. Requires a code instance. In composite mode, calls go to
  // `caller`, which evaluates the callee at once (depth-first, R17) and returns a settled call
  // made with complete_immediately().
  using QueryCaller =
      std::function<IssueResult(CallContext&, CanisterId, std::string_view, Bytes&&)>;
  Result<Bytes> run_query(std::string_view method, const Bytes& payload, MethodKind as_kind);
  void set_query_caller(QueryCaller caller) { query_caller_ = std::move(caller); }
  IssueResult complete_immediately(CallContext& cc, CanisterId callee, Result<Bytes> result);
  // Like complete_immediately, but the result is produced by `resolve` when the call is taken
  // (slot_take), on this canister's thread: the slot is ready at once, so awaiting never
  // suspends (R17 parallel evaluation: the callee is evaluated on another thread meanwhile).
  using LazyResult = std::function<Result<Bytes>()>;
  IssueResult complete_lazily(CallContext& cc, CanisterId callee, LazyResult resolve);
  // Cost (base + ctx.charge()) of the execution in progress (R14, R17 cost budget).
  uint64_t execution_cost() const { return exec_.cost; }

  // ---- system completions: timers (R19) and worker-pool offloads (R22) ----
  // A slot that no canister answers: the system completes it, either at `deadline_ms` of
  // virtual time with an empty success (a timer), or through complete_system (an offload).
  // Rolled back like a call if the execution traps.
  IssueResult issue_system(CallContext& cc, uint64_t deadline_ms);
  // Scheduler side, between parallel phases: deliver the outcome of a system slot as a
  // message. Returns false if the slot no longer exists (the canister was upgraded, R21).
  bool complete_system(SlotRef ref, Result<Bytes> result);
  // Runs `fn` when the current execution commits; dropped if it traps (R7). Used to hand work
  // to pools only once the execution that asked for it is final.
  void on_commit(std::function<void()> fn);
  bool executing() const { return executing_; }

  // ---- timers and heartbeat (R19) ----
  // Timers call a method of this canister with no caller at a virtual time (once or
  // periodically); set/cancel take effect when the execution commits (rolled back on trap).
  uint64_t set_timer(uint64_t delay_ms, uint64_t period_ms, std::string method, Bytes args);
  void cancel_timer(uint64_t timer_id);
  // Scheduler side, at the start of a round: enqueue due timers and the heartbeat.
  void fire_timers(uint64_t now_ms);
  void clear_timers() { timers_.clear(); }
  size_t timer_count() const { return timers_.size(); }
  // True if something will happen here with the passage of virtual time alone: a timer, a
  // heartbeat, a sleep or a bounded-wait deadline (prunes stale deadline entries).
  bool waiting_on_time() const;

 private:
  struct ContextUndo {
    CallContext* cc;
    bool replied;
    uint64_t cycles_available;
  };
  struct Execution {
    CallContext* cc = nullptr;
    uint64_t cost = 0;
    uint64_t balance_before = 0;
    uint64_t wake_ups = 0;  // posted so far (Config::wake_ups_max_per_message)
    // Inline room for the common executions (one call, one message sent, one context touched);
    // more spill to the heap once and keep that capacity. Small inline parts keep the hot
    // fields of CanisterRt on few cache lines.
    SmallVec<uint32_t, 2> new_slots;
    // The output queues this execution appended to, one entry per message in send order. The
    // messages sit at the end of their queues (PeerQueues::exec_pushed of them) and are counted
    // by the capacity checks at once; a trap pops them (R7).
    SmallVec<PeerQueues*, 2> sent;
    SmallVec<ContextUndo, 1> touched;
    std::unique_ptr<std::string> forced_trap;  // rare: a pointer keeps Execution small
    std::vector<std::function<void()>> on_commit;
    std::vector<CallContext*> woken;       // contexts with posted wake-ups (CallContext::woken)
    CallContext* saved_current = nullptr;  // current_context() of an enclosing execution
  };
  struct Posted {
    CallContext* cc;
    Waiter w;  // fn == nullptr: withdrawn
  };

  // Appends a message of type M (Request or Response), built in place from `args`, to pq's
  // output queue as a message of the current execution.
  template <class M, class... Args>
  void send(PeerQueues& pq, Args&&... args);
  // `from` is the queue pair the request came in on (nullptr: a query run outside rounds).
  void execute_request(Request&& req, PeerQueues* from);
  void execute_response(Response&& resp);
  void begin_execution(CallContext* cc);
  void finish_execution(CallContext* cc);
  // finish_execution's rare paths, out of line so that the common one stays small: a trap
  // forced by the runtime, a context that returned without replying (R6), other contexts woken.
  void finish_forced_trap(CallContext* cc);
  void reply_did_not_reply(CallContext* cc);
  void finish_with_woken(CallContext* cc);
  void trap_execution(CallContext* cc, const std::string& message);
  void commit_execution();
  // If the root task finished: answer the caller; returns a trap message if it threw.
  std::optional<std::string> check_root(CallContext* cc) {
    if (!cc->root_live || !cc->root.handle.done()) [[likely]]
      return std::nullopt;
    return finish_root(cc);
  }
  std::optional<std::string> finish_root(CallContext* cc);
  // After user code returned to the runtime: runs the posted wake-ups (FIFO) and checks the
  // roots of the contexts they woke; returns a trap message if one finished with an exception.
  // Inline: usually nothing was posted or woken and the executing root still runs.
  std::optional<std::string> run_ready(CallContext* cc) {
    if (posted_.empty() && exec_.woken.empty() && (!cc->root_live || !cc->root.handle.done()))
        [[likely]]
      return std::nullopt;
    return run_ready_slow(cc);
  }
  std::optional<std::string> run_ready_slow(CallContext* cc);
  void drain_ready();
  // check_root of the executing context and of every context woken in this execution.
  std::optional<std::string> check_roots(CallContext* cc);
  // Clears the woken marks; returns the woken contexts other than `cc`.
  std::vector<CallContext*> take_woken(CallContext* cc);
  void maybe_close(CallContext* cc);
  void touch(CallContext& cc);
  CallContext* new_context(const Request& req, PeerQueues* from);
  void free_context(CallContext* cc);
  uint32_t alloc_slot();
  void free_slot(uint32_t index, bool result_taken = false);
  Slot* find_slot(SlotRef ref);
  const Slot* find_slot(SlotRef ref) const;
  // Always inlined: GCC otherwise split it into an out-of-line part called on every induction.
  [[gnu::always_inline]] void schedule_input(PeerQueues& pq) {
    if (!pq.in_scheduled && !pq.in.msgs.empty()) {
      pq.in_scheduled = true;
      ready_.push_back(&pq);
    }
  }
  // Folds an event into trace_hash_ (R20) and, with Config::record_trace, keeps it. Inline: ~5
  // events per round trip, and the kind is a constant at every call site.
  [[gnu::always_inline]] void record(TraceKind kind, CanisterId from, CanisterId to,
                                     uint64_t call_seq, uint8_t code, std::string_view label) {
    trace_hash_ = fold_event_label(trace_hash_, static_cast<uint8_t>(kind), code, subnet_.value,
                                   clock_.iteration, clock_.round, from.value, to.value, call_seq,
                                   label.data(), label_is_hashed(kind) ? label.size() : 0);
    if (cfg_.record_trace) [[unlikely]]
      keep_event(kind, from, to, call_seq, code, label);
  }
  void keep_event(TraceKind kind, CanisterId from, CanisterId to, uint64_t call_seq, uint8_t code,
                  std::string_view label);

  // Layout: the fields every message execution or induction touches come first, so that they
  // share few cache lines (about twelve); fields used rarely (ingress, timers, deadlines,
  // queries, recorded traces) come after them. (A prefetch of these lines a few canisters
  // ahead was measured on 2026-12-06: no gain at 1000 pairs, 33 instructions per round trip.)
  CanisterId id_;
  uint32_t ordinal_ = 0;
  SubnetId subnet_;
  const Config& cfg_;
  const Routing& routing_;
  const SubnetClock& clock_;
  std::unique_ptr<CanisterBase> code_;
  CanisterStatus status_ = CanisterStatus::running;
  bool executing_ = false;
  bool snapshots_ = false;                // code_ has a state to save before each message (R7)
  std::optional<MethodKind> query_mode_;  // set while run_query evaluates a (composite) query
  uint64_t balance_ = 0;
  uint64_t trace_hash_ = trace_hash_seed;
  uint64_t round_cost_ = 0;
  CanisterCounters counters_;

  std::map<CanisterId, PeerQueues> peers_;  // never erased: pointers to its values stay valid
  PeerQueues* last_called_ = nullptr;       // issue_call's cache: the last callee's queues
  Ring<PeerQueues*> ready_;
  std::vector<Slot> slots_;
  uint32_t free_slot_ = UINT32_MAX;
  uint32_t free_context_ = UINT32_MAX;
  size_t live_slots_ = 0;
  uint64_t call_seq_ = 0;
  size_t open_contexts_ = 0;
  // queue_lists_[dirty_]: output queues written since the last staging, in commit order;
  // queue_lists_[dirty_ ^ 1]: the queues staged for routing by the last stage_outputs.
  QueueList queue_lists_[2];
  uint32_t dirty_ = 0;
  QueueList& dirty_out() { return queue_lists_[dirty_]; }
  std::vector<IngressReply> ingress_replies_;
  // The last method looked up in code_'s table (most canisters serve one method at a time; a
  // string compare is cheaper than hashing the name). Reset when the code changes.
  const MethodEntry* method_cache_ = nullptr;

  std::deque<CallContext> contexts_;

  Execution exec_;
  // The ready queue: entries [posted_head_, size) are pending; empty between executions (a
  // vector: no allocation for canisters that never post).
  std::vector<Posted> posted_;
  size_t posted_head_ = 0;
  uint64_t posted_base_ = 0;               // ticket seq of posted_[0]
  std::vector<IngressReply> ingress_out_;  // replies to ingress of the current execution

  // ---- rarely used ----
  uint64_t rng_state_;
  PeerQueues ingress_;
  PeerQueues system_;  // timer and offload completions: no capacity, no reservation
  // R10 deadlines: (deadline_ms, slot index, generation), earliest first.
  using Deadline = std::tuple<uint64_t, uint32_t, uint32_t>;
  mutable std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  QueryCaller query_caller_;
  struct Timer {
    uint64_t due_ms = 0;
    uint64_t period_ms = 0;  // 0: one-shot
    std::string method;
    Bytes args;
  };
  std::map<uint64_t, Timer> timers_;  // by timer id: deterministic firing order
  uint64_t next_timer_id_ = 1;
  std::vector<TraceEvent> trace_;
};

}  // namespace canopy::detail
