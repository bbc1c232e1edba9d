// tests/support/invariants.hpp — a Runtime wrapped for scenario tests: every round is followed by
// the system invariant checks, and quiescence by the stronger ones.
//
// What is checked (R1, R2, R8, R11):
//   after every round   rt.check_invariants() is empty; the counters of rt.stats() never go
//                       down; no canister has more responses than accepted calls (R1); the sum
//                       of all balances never exceeds the cycles minted (R8: nothing is created,
//                       no balance underflows); an answered ingress message never changes its
//                       answer (answered exactly once).
//   at quiescence       rt.check_quiescent_invariants() is empty; every ingress submitted
//                       through the harness is answered; no canister has an open call context
//                       or an outstanding call (R1, R6); cycles are conserved: the sum of the
//                       balances equals the cycles minted (install + deposit_cycles), except
//                       that a dropped late response of a bounded-wait call may burn the cycles
//                       it refunded (R10), in which case the sum may only be lower.
//
// Usage:
//   canopy_test::Harness h(Config{...});
//   auto a = h.install<A>(0, {}, 1'000);
//   auto r = h.update<uint64_t>(a, "m", uint64_t{1});   // ticks (with checks) until answered
//   h.settle();                                          // run until idle, then quiescent checks
// Failures are reported with ADD_FAILURE (gtest) and name the round; the harness keeps going so
// that one test run shows every violation.
#pragma once

#include <gtest/gtest.h>

#include <canopy/canopy.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace canopy_test {

using canopy::Bytes;
using canopy::CanisterId;
using canopy::Config;
using canopy::IngressId;
using canopy::Reject;
using canopy::RejectCode;
using canopy::Result;
using canopy::Runtime;

// Decodes a raw reply as R (like Runtime::update does); a decoding failure is a SYS_FATAL reject.
template <class R>
Result<R> decode_as(const Result<Bytes>& raw) {
  if (!raw) return tl::unexpected<Reject>(raw.error());
  try {
    if constexpr (std::is_void_v<R>) {
      canopy::decode<void>(*raw);
      return {};
    } else {
      return canopy::decode<R>(*raw);
    }
  } catch (const canopy::MalformedPayload& e) {
    return canopy::make_reject(RejectCode::sys_fatal, e.what());
  }
}

// "CODE: message" for failure output.
inline std::string describe(const Reject& r) {
  return std::string(canopy::to_string(r.code)) + " (" + std::to_string(static_cast<int>(r.code)) +
         "): " + r.message;
}
template <class T>
std::string describe(const Result<T>& r) {
  return r ? std::string("ok") : describe(r.error());
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A call outcome as plain data, for canisters that report what their calls returned:
// code 0 = success, else the reject code (R4) and its message.
struct Outcome {
  uint8_t code = 0;
  std::string message;
  template <class Archive>
  void serialize(Archive& ar) { ar(code, message); }
  bool ok() const { return code == 0; }
  RejectCode reject_code() const { return static_cast<RejectCode>(code); }
};
template <class T>
Outcome outcome_of(const Result<T>& r) {
  if (r) return Outcome{};
  return Outcome{static_cast<uint8_t>(r.error().code), r.error().message};
}

class Harness {
 public:
  explicit Harness(Config cfg) : rt_(std::move(cfg)) {}

  Runtime& rt() { return rt_; }
  const Runtime& rt() const { return rt_; }

  // ---- topology (tracks the cycles minted, R8) ----
  template <class C>
  CanisterId install(uint32_t subnet_index, typename C::state_type init = {}, uint64_t cycles = 0) {
    minted_ += cycles;
    return rt_.install<C>(rt_.subnet(subnet_index), std::move(init), cycles);
  }
  void deposit(CanisterId id, uint64_t amount) {
    auto r = rt_.deposit_cycles(id, amount);
    if (r) minted_ += amount;
  }
  uint64_t minted() const { return minted_; }
  uint64_t balance(CanisterId id) const {
    auto i = rt_.info(id);
    return i ? i->balance : 0;
  }
  uint64_t total_balance() const {
    uint64_t sum = 0;
    for (CanisterId id : rt_.canisters()) sum += balance(id);
    return sum;
  }

  // ---- ingress (R11) ----
  template <class... Args>
  IngressId submit(CanisterId id, std::string method, const Args&... args) {
    return submit_raw(id, std::move(method), canopy::encode(args...));
  }
  IngressId submit_raw(CanisterId id, std::string method, Bytes payload) {
    IngressId iid = rt_.submit(id, std::move(method), std::move(payload));
    submitted_.push_back(iid);
    return iid;
  }
  template <class R = void>
  std::optional<Result<R>> result(IngressId iid) const {
    auto raw = rt_.ingress_result(iid);
    if (!raw) return std::nullopt;
    return decode_as<R>(*raw);
  }
  // Submits and ticks (checking every round) until answered, at most rounds_max rounds.
  template <class R = void, class... Args>
  Result<R> update(CanisterId id, std::string method, const Args&... args) {
    return update_raw_as<R>(id, std::move(method), canopy::encode(args...));
  }
  template <class R = void>
  Result<R> update_raw_as(CanisterId id, std::string method, Bytes payload,
                          uint64_t rounds_max = 100'000) {
    IngressId iid = submit_raw(id, std::move(method), std::move(payload));
    for (uint64_t i = 0; i < rounds_max && !rt_.ingress_result(iid); ++i) tick();
    auto raw = rt_.ingress_result(iid);
    if (!raw) {
      ADD_FAILURE() << "ingress " << iid.value << " not answered within " << rounds_max
                    << " rounds";
      return canopy::make_reject(RejectCode::sys_unknown, "test harness: not answered");
    }
    return decode_as<R>(*raw);
  }

  // ---- rounds ----
  void tick() {
    rt_.tick();
    check_round();
  }
  void ticks(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) tick();
  }
  // Ticks (checking every round) until idle; returns the rounds run.
  uint64_t run_until_idle(uint64_t rounds_max = 100'000) {
    uint64_t n = 0;
    while (n < rounds_max && !rt_.idle()) {
      tick();
      ++n;
    }
    if (!rt_.idle()) ADD_FAILURE() << "not idle after " << rounds_max << " rounds";
    return n;
  }
  // run_until_idle, then the quiescent checks.
  uint64_t settle(uint64_t rounds_max = 100'000) {
    uint64_t n = run_until_idle(rounds_max);
    check_quiescent();
    return n;
  }

  // ---- the checks ----
  void check_round() {
    const uint64_t round = rt_.round();
    for (const auto& v : rt_.check_invariants())
      ADD_FAILURE() << "round " << round << ": invariant violated: " << v;
    const auto st = rt_.stats();
    auto monotone = [&](const char* name, uint64_t before, uint64_t now) {
      if (now < before)
        ADD_FAILURE() << "round " << round << ": stats." << name << " went down from " << before
                      << " to " << now;
    };
    monotone("messages_executed", last_.messages_executed, st.messages_executed);
    monotone("calls_accepted", last_.calls_accepted, st.calls_accepted);
    monotone("calls_failed_sync", last_.calls_failed_sync, st.calls_failed_sync);
    monotone("responses_delivered", last_.responses_delivered, st.responses_delivered);
    monotone("traps", last_.traps, st.traps);
    if (st.responses_delivered > st.calls_accepted)
      ADD_FAILURE() << "round " << round << ": " << st.responses_delivered
                    << " responses delivered for " << st.calls_accepted << " accepted calls (R1)";
    last_ = st;
    const uint64_t total = total_balance();
    if (total > minted_)
      ADD_FAILURE() << "round " << round << ": balances sum to " << total << " but only "
                    << minted_ << " cycles were minted (R8)";
    // Answered exactly once: an answer never changes.
    for (IngressId iid : submitted_) {
      auto raw = rt_.ingress_result(iid);
      auto it = answers_.find(iid.value);
      if (it == answers_.end()) {
        if (raw) answers_.emplace(iid.value, *raw);
      } else if (!raw || !(*raw == it->second)) {
        ADD_FAILURE() << "round " << round << ": the answer to ingress " << iid.value
                      << " changed (R11: answered exactly once)";
      }
    }
  }

  void check_quiescent() {
    const uint64_t round = rt_.round();
    check_round();
    for (const auto& v : rt_.check_quiescent_invariants())
      ADD_FAILURE() << "round " << round << " (quiescent): invariant violated: " << v;
    for (IngressId iid : submitted_) {
      if (!rt_.ingress_result(iid))
        ADD_FAILURE() << "quiescent at round " << round << " but ingress " << iid.value
                      << " was never answered (R1)";
    }
    for (CanisterId id : rt_.canisters()) {
      auto i = rt_.info(id);
      if (!i) continue;
      if (i->open_call_contexts != 0)
        ADD_FAILURE() << "quiescent at round " << round << " but " << id.to_string() << " has "
                      << i->open_call_contexts << " open call contexts (R6)";
      if (i->outstanding_calls != 0)
        ADD_FAILURE() << "quiescent at round " << round << " but " << id.to_string() << " has "
                      << i->outstanding_calls << " outstanding calls (R1)";
    }
    const uint64_t total = total_balance();
    if (rt_.stats().late_responses_dropped == 0) {
      if (total != minted_)
        ADD_FAILURE() << "quiescent at round " << round << ": balances sum to " << total
                      << " but " << minted_ << " cycles were minted (R8 conservation)";
    } else if (total > minted_) {
      ADD_FAILURE() << "quiescent at round " << round << ": balances sum to " << total
                    << " > minted " << minted_ << " (R8)";
    }
  }

 private:
  Runtime rt_;
  uint64_t minted_ = 0;
  canopy::RuntimeStats last_{};
  std::vector<IngressId> submitted_;
  std::map<uint64_t, Result<Bytes>> answers_;
};

}  // namespace canopy_test
