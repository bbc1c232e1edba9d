#include "query/source.hpp"

namespace canopy::detail {

std::optional<QueryTarget> LiveSource::target(CanisterId id) const {
  CanisterRt* c = impl_.find(id);
  if (c == nullptr) return std::nullopt;
  QueryTarget t;
  t.subnet = c->subnet();
  t.code = c->code();
  t.balance = c->balance();
  t.status = c->status();
  t.clock = &impl_.subnets[c->subnet().value]->clock();
  return t;
}

std::shared_ptr<const Snapshot> Snapshot::build(Runtime::Impl& impl, const Snapshot* prev,
                                                uint64_t* copies) {
  auto next = std::make_shared<Snapshot>();
  next->round_ = impl.round;
  next->routing_version_ = impl.version();
  next->lifecycle_hash_ = impl.lifecycle_hash;
  next->clocks_.reserve(impl.subnets.size());
  for (auto& s : impl.subnets)
    next->clocks_.push_back(s->clock());
  // An install or upgrade anywhere (lifecycle hash) makes every canister suspect: copy all.
  const bool reuse = prev != nullptr && prev->lifecycle_hash_ == impl.lifecycle_hash;
  if (reuse) next->canisters_ = prev->canisters_;  // O(1): shares every entry
  uint64_t copied = 0;
  for (auto& s : impl.subnets) {
    for (auto& [id, c] : s->canisters()) {
      const SnapshotEntry* old = reuse ? next->canisters_.find(id) : nullptr;
      if (old != nullptr && old->live_code == c->code() &&
          old->messages_executed == c->counters().messages_executed &&
          old->balance == c->balance() && old->status == c->status()) {
        continue;  // nothing executed here since the last snapshot
      }
      SnapshotEntry e;
      e.subnet = s->id();
      if (c->has_code()) e.code = std::shared_ptr<const CanisterBase>(c->code()->clone());
      e.balance = c->balance();
      e.status = c->status();
      e.live_code = c->code();
      e.messages_executed = c->counters().messages_executed;
      next->canisters_.set(id, std::move(e));
      ++copied;
    }
  }
  if (copies != nullptr) *copies = copied;
  return next;
}

std::optional<QueryTarget> Snapshot::target(CanisterId id) const {
  const SnapshotEntry* e = canisters_.find(id);
  if (e == nullptr) return std::nullopt;
  QueryTarget t;
  t.subnet = e->subnet;
  t.code = e->code.get();
  t.balance = e->balance;
  t.status = e->status;
  t.clock = &clocks_[e->subnet.value];
  return t;
}

}  // namespace canopy::detail
