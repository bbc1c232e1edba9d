// Seed 000 — parallel inter-canister calls.
//
// `Callee::ping()` does nothing. `Caller` has `setup_callee(id)`, then `sequential_calls(n)` and
// `parallel_calls(n)`, each issuing n pings and returning how many succeeded. With the default
// queue capacity of 500 (R2), parallel_calls(2000) issued from one message returns exactly 500:
// the other 1500 fail synchronously with SYS_TRANSIENT because the output queue is full.
#pragma once

#include <canopy/canopy.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace examples {

struct Callee : canopy::Canister<canopy::Unit> {
  static void methods(canopy::Methods<Callee>& m) { m.update("ping", &Callee::ping); }
  void ping(canopy::Ctx&) {}
};

struct CallerState {
  canopy::CanisterId callee;
  template <class Archive>
  void serialize(Archive& ar) { ar(callee); }
};

struct Caller : canopy::Canister<CallerState> {
  static void methods(canopy::Methods<Caller>& m) {
    m.update("setup_callee", &Caller::setup_callee);
    m.update("sequential_calls", &Caller::sequential_calls);
    m.update("parallel_calls", &Caller::parallel_calls);
  }

  void setup_callee(canopy::Ctx&, canopy::CanisterId callee) { state().callee = callee; }

  canopy::Task<uint64_t> sequential_calls(canopy::Ctx& ctx, uint64_t n) {
    uint64_t ok = 0;
    for (uint64_t i = 0; i < n; ++i) {
      auto r = co_await ctx.call<void>(state().callee, "ping");
      if (r) ++ok;
    }
    co_return ok;
  }

  canopy::Task<uint64_t> parallel_calls(canopy::Ctx& ctx, uint64_t n) {
    std::vector<canopy::Call<void>> calls;
    calls.reserve(n);
    for (uint64_t i = 0; i < n; ++i) calls.push_back(ctx.call<void>(state().callee, "ping"));
    auto results = co_await canopy::when_all_settled(std::move(calls));
    co_return static_cast<uint64_t>(
        std::count_if(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }));
  }
};

}  // namespace examples
