// The scheduler of one subnet: rounds, induction, routing, streams, virtual time (R12-R15).
//
// A round: advance the clock; induct cross-subnet messages that have arrived; expire bounded-
// wait calls (R10); induct ingress; then inner iterations — every canister with input executes
// (in parallel, each on one thread), then the routing phase moves their outputs into the
// destination input queues (same subnet; split by destination canister over the threads) or the
// outgoing stream (other subnets; sequential) — until no canister has input, the round budget is
// spent, or round_iterations_max is reached. Every destination receives in canister-id order,
// refused requests bounce in that order afterwards, and trace merging goes in canister-id order,
// so results do not depend on the number of threads or their timing (R20).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "exec/canister_rt.hpp"
#include "sched/executor.hpp"

namespace canopy::detail {

struct XnetMessage {
  uint64_t arrival_round = 0;
  Message msg;
};

class Subnet {
 public:
  Subnet(SubnetId id, const Config& cfg, const Routing& routing);
  SubnetId id() const { return id_; }
  const SubnetClock& clock() const { return clock_; }

  CanisterRt& add(CanisterId id, std::unique_ptr<CanisterBase> code, uint64_t cycles);
  CanisterRt* find(CanisterId id);
  const CanisterRt* find(CanisterId id) const;
  const std::map<CanisterId, std::unique_ptr<CanisterRt>>& canisters() const { return canisters_; }

  void submit_ingress(Request&& req) { ingress_pending_.push_back(std::move(req)); }
  void receive_xnet(uint64_t arrival_round, Message&& msg);
  std::vector<Message> take_xnet_outbox() { return std::exchange(xnet_out_, {}); }
  std::vector<IngressReply> take_ingress_replies() { return std::exchange(ingress_replies_, {}); }
  std::vector<TraceEvent> take_trace() { return std::exchange(trace_, {}); }

  // Runs round `round` at virtual time `time_ms` (R12, R15). Returns the cost spent.
  uint64_t run_round(uint64_t round, uint64_t time_ms, Executor& executor);
  // True if nothing is queued here (inputs, outputs, ingress, incoming streams).
  bool idle() const;
  // Folds the per-canister trace hashes in canister order.
  uint64_t trace_hash() const;

 private:
  void route(Message&& msg);
  void route_cached(PeerQueues& via, Message&& msg);
  // Brings via's route cache up to date (routing_version_: the table does not change in a round).
  void refresh_route(PeerQueues& via) {
    if (via.route_version != routing_version_) [[unlikely]]
      update_route(via);
  }
  void update_route(PeerQueues& via);
  // Inducts `msg` into `to`. Returns false if a request was refused: then `refusal` holds the
  // reject and the request stays in `msg`. `via`: `to`'s PeerQueues for the sender, if known
  // (PeerQueues::route_mirror).
  bool induct(CanisterRt& to, uint32_t ordinal, Message& msg, PeerQueues* via, Reject& refusal);
  void deliver(CanisterRt& to, Message&& msg);
  void bounce(Request&& req, Reject reject);
  // Routing in phases (see subnet.cpp). prepare_routes runs on the canister's own thread.
  size_t routing_shards(size_t executed, const Executor& executor) const;
  size_t shard_of(uint32_t ordinal, size_t shards) const;
  bool prepare_routes(CanisterRt& c, size_t shards, uint64_t& shard_mask);
  // Bit of shard k in a routing mask (shards beyond 63 share the last bit).
  static uint64_t shard_bit(size_t k) { return uint64_t{1} << (k < 63 ? k : 63); }
  void route_local_phase(const std::vector<CanisterRt*>& executed, size_t shards,
                         Executor& executor);
  void route_sequential_phase(const std::vector<CanisterRt*>& executed);
  void bounce_phase(size_t shards);
  // All of it, sequentially, for outputs produced between rounds.
  void route_outputs(const std::vector<CanisterRt*>& executed, Executor& executor);
  void collect_traces();

  SubnetId id_;
  const Config& cfg_;
  const Routing& routing_;
  SubnetClock clock_;
  std::map<CanisterId, std::unique_ptr<CanisterRt>> canisters_;
  std::vector<CanisterRt*> ordered_;  // canisters_ in id order, for the hot loops
  std::vector<CanisterRt*> active_;
  std::vector<uint64_t> costs_;  // by position in active_
  // Dense per-canister flags by ordinal (no pointer chasing when picking the next iteration's
  // canisters). Bytes, so that threads writing flags of different canisters never race.
  std::vector<uint8_t> has_input_;    // has input (set by induction and after executing)
  std::vector<uint8_t> spent_;        // round budget spent (R14)
  std::vector<uint8_t> sequential_;   // by position in active_: needs the sequential phase
  std::vector<uint64_t> route_mask_;  // by position in active_: shards it has messages for
  std::vector<Request> ingress_pending_;
  std::deque<XnetMessage> incoming_;
  std::vector<Message> xnet_out_;
  std::vector<IngressReply> ingress_replies_;
  std::vector<TraceEvent> trace_;
  // A request refused during parallel routing, bounced afterwards in commit order.
  struct DeferredBounce {
    size_t canister;   // index in the executed list
    size_t queue;      // index in that canister's dirty output list
    uint64_t message;  // position in that queue
    Request request;
    Reject reject;
  };
  std::vector<std::vector<DeferredBounce>> deferred_;  // one per routing shard
  std::vector<DeferredBounce> bounces_;
  uint64_t routing_hash_ = trace_hash_seed;
  uint64_t routing_version_ = 0;  // Routing::version() at the start of the current round
};

}  // namespace canopy::detail
