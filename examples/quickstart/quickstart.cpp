// The README's ten-line example, compiled and run as a test (ctest: quickstart).
#include <canopy/canopy.hpp>

#include <cstdio>

struct Callee : canopy::Canister<canopy::Unit> {
  static void methods(canopy::Methods<Callee>& m) { m.update("ping", &Callee::ping); }
  uint64_t ping(canopy::Ctx&, uint64_t x) { return x + 1; }
};
struct Caller : canopy::Canister<canopy::CanisterId> {
  static void methods(canopy::Methods<Caller>& m) { m.update("twice", &Caller::twice); }
  canopy::Task<uint64_t> twice(canopy::Ctx& ctx, uint64_t x) {
    auto a = ctx.call<uint64_t>(state(), "ping", x), b = ctx.call<uint64_t>(state(), "ping", x);
    co_return (co_await a).value() + (co_await b).value();  // two calls in flight at once
  }
};

int main() {
  canopy::Runtime rt({.subnets = 2});
  auto callee = rt.install<Callee>(rt.subnet(1));
  auto caller = rt.install<Caller>(rt.subnet(0), callee);
  auto r = rt.update<uint64_t>(caller, "twice", uint64_t{20});
  std::printf("twice(20) = %llu after %llu rounds\n",
              static_cast<unsigned long long>(r.value()),
              static_cast<unsigned long long>(rt.round()));
  return r.value() == 42 ? 0 : 1;
}
