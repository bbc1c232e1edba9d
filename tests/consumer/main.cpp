#include <canopy/canopy.hpp>

#include <cstdio>

struct Echo : canopy::Canister<canopy::Unit> {
  static void methods(canopy::Methods<Echo>& m) { m.update("echo", &Echo::echo); }
  uint64_t echo(canopy::Ctx&, uint64_t x) { return x + 1; }
};

int main() {
  canopy::Runtime rt(canopy::Config{});
  auto id = rt.install<Echo>(rt.subnet(0));
  auto r = rt.update<uint64_t>(id, "echo", uint64_t{41});
  if (!r || *r != 42) {
    std::fprintf(stderr, "consumer: unexpected result\n");
    return 1;
  }
  std::printf("consumer: find_package(canopy) works, echo(41) = %llu\n",
              static_cast<unsigned long long>(*r));
  return 0;
}
