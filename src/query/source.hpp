// Where query evaluation reads canisters from (R16, R17): the live runtime between rounds (the
// driver thread; the live state is then the committed state) or a snapshot of the committed
// state published between rounds (any thread).
//
// A source only hands out const canister code+state; the evaluator copies it (clone()) for every
// execution, so nothing a query does reaches committed state. Thread-safety: a Snapshot is
// immutable once published and may be read by any number of threads; LiveSource must only be
// used on the driver thread between rounds.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "canopy/pmap.hpp"
#include "exec/canister_rt.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy::detail {

// What evaluation needs to run a method of one canister.
struct QueryTarget {
  SubnetId subnet;
  const CanisterBase* code = nullptr;  // nullptr: the canister is empty
  uint64_t balance = 0;
  CanisterStatus status = CanisterStatus::running;
  const SubnetClock* clock = nullptr;
};

class QuerySource : public Routing {
 public:
  // nullopt if no such canister exists.
  virtual std::optional<QueryTarget> target(CanisterId id) const = 0;
  std::optional<SubnetId> subnet_of(CanisterId id) const override {
    auto t = target(id);
    if (!t) return std::nullopt;
    return t->subnet;
  }
};

// The live runtime. Driver thread only, between rounds.
class LiveSource final : public QuerySource {
 public:
  explicit LiveSource(Runtime::Impl& impl) : impl_(impl) {}
  std::optional<QueryTarget> target(CanisterId id) const override;
  uint64_t version() const override { return impl_.version(); }

 private:
  Runtime::Impl& impl_;
};

// One canister in a snapshot: an immutable copy of its code+state taken between rounds.
struct SnapshotEntry {
  SubnetId subnet;
  std::shared_ptr<const CanisterBase> code;  // nullptr: empty canister
  uint64_t balance = 0;
  CanisterStatus status = CanisterStatus::running;
  // Change detection (publish copies a canister again only when one of these changed).
  const CanisterBase* live_code = nullptr;
  uint64_t messages_executed = 0;
};

// The committed state of the whole runtime after round `round`. Immutable once published.
class Snapshot final : public QuerySource {
 public:
  // Builds the snapshot of `impl`'s current state, sharing unchanged canisters with `prev`
  // (may be null). Driver thread, between rounds. `copies` counts canisters copied.
  static std::shared_ptr<const Snapshot> build(Runtime::Impl& impl, const Snapshot* prev,
                                               uint64_t* copies);
  std::optional<QueryTarget> target(CanisterId id) const override;
  uint64_t version() const override { return routing_version_; }
  uint64_t round() const { return round_; }

 private:
  uint64_t round_ = 0;
  uint64_t routing_version_ = 0;
  uint64_t lifecycle_hash_ = 0;
  std::vector<SubnetClock> clocks_;  // by subnet index; never resized after build
  PMap<CanisterId, SnapshotEntry> canisters_;
};

}  // namespace canopy::detail
