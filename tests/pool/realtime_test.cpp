// R22 with the real-time driver (canopy/realtime.hpp): ingress from many threads as futures,
// completions delivered when ready, exceptions, and shutdown with work in flight (completes, is
// rejected, or is answered SYS_UNKNOWN — never hangs).
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/pool.hpp>
#include <canopy/realtime.hpp>

#include <future>
#include <thread>
#include <vector>

#include "pool/pool_support.hpp"

using namespace canopy;
using namespace pool_test;

namespace {

std::unique_ptr<Runtime> make_runtime(uint32_t pool_threads, uint32_t queue, CanisterId* w) {
  auto rt = std::make_unique<Runtime>(pool_config(pool_threads, queue));
  *w = rt->install<Worker>(rt->subnet(0));
  return rt;
}

uint64_t admitted(RealtimeDriver& d) {
  return d.run([](Runtime& rt) { return find_pools(rt)->stats("p")->admitted; }).get();
}

std::string text(const Reject& r) {
  return std::string(to_string(r.code)) + ": " + r.message;
}

// R11/R22: clients on several threads submit concurrently; every future gets its answer.
TEST(R22Realtime, ConcurrentClientsGetTheirAnswers) {
  CanisterId w;
  RealtimeDriver driver(make_runtime(2, 256, &w));
  constexpr int clients = 4;
  constexpr uint64_t per_client = 50;
  std::vector<std::thread> threads;
  std::vector<int> wrong(clients, 0);
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::vector<std::pair<uint64_t, std::future<Result<uint64_t>>>> fs;
      for (uint64_t i = 0; i < per_client; ++i) {
        const uint64_t x = c * 1000 + i;
        fs.emplace_back(x, driver.update<uint64_t>(w, "square", x, uint64_t{1}));
      }
      for (auto& [x, f] : fs) {
        auto r = f.get();
        if (!r || *r != x * x) ++wrong[c];
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (int c = 0; c < clients; ++c)
    EXPECT_EQ(wrong[c], 0) << "client " << c;
  // Queries and inspection run on the driver thread.
  auto n = driver.run([w](Runtime& rt) { return rt.info(w)->messages_executed; }).get();
  EXPECT_GE(n, clients * per_client * 2);  // each call: the request and the completion
  driver.shutdown();
  EXPECT_TRUE(driver.stopped());
  const auto st = driver.stats();
  EXPECT_EQ(st.ingress_submitted, clients * per_client);
  EXPECT_EQ(st.ingress_answered, clients * per_client);
  EXPECT_EQ(st.pending, 0u);
  EXPECT_TRUE(driver.runtime().check_invariants().empty());
  auto ps = find_pools(driver.runtime())->stats("p");
  EXPECT_EQ(ps->completed, clients * per_client);
  EXPECT_LE(ps->running_max, 2u);
}

TEST(R22Realtime, ExceptionInTheJobComesBackAsAnError) {
  CanisterId w;
  RealtimeDriver driver(make_runtime(1, 8, &w));
  auto r = driver.update<Out>(w, "fail").get();
  ASSERT_TRUE(r) << text(r.error());
  EXPECT_EQ(r->code, static_cast<uint8_t>(RejectCode::canister_error));
  EXPECT_NE(r->message.find("boom"), std::string::npos);
  auto t = driver.update<void>(w, "trap_after").get();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, RejectCode::canister_error);
  // R7: the callback's changes were rolled back.
  auto c = driver.run([w](Runtime& rt) { return rt.query<uint64_t>(w, "counter"); }).get();
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, 1u);
}

// R22: while a job runs (blocked), the canister answers other calls in real time.
TEST(R22Realtime, CheapCallsProceedWhileAJobRuns) {
  Gate g;
  gate() = &g;
  CanisterId w;
  RealtimeDriver driver(make_runtime(1, 8, &w));
  auto slow = driver.update<Out>(w, "gated", uint64_t{1});
  g.wait_started(1);
  for (uint64_t i = 1; i <= 20; ++i) {
    auto p = driver.update<uint64_t>(w, "ping").get();
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, i);
  }
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  g.release();
  auto r = slow.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, 42u);
  gate() = nullptr;
}

TEST(R22Realtime, UnknownCanisterAndRefusalAfterShutdown) {
  CanisterId w;
  RealtimeDriver driver(make_runtime(1, 8, &w));
  auto r = driver.submit(CanisterId{999}, "ping", {}).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::destination_invalid);
  driver.shutdown();
  auto late = driver.submit(w, "ping", {}).get();
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, RejectCode::sys_transient);
  EXPECT_EQ(driver.stats().ingress_refused, 1u);
  // run() after the stop: broken promise, never a hang.
  auto f = driver.run([](Runtime&) { return 1; });
  EXPECT_THROW(f.get(), std::future_error);
}

// Shutdown with work in flight: accepted calls complete; new ones are refused meanwhile.
TEST(R22Realtime, ShutdownLetsWorkInFlightComplete) {
  Gate g;
  gate() = &g;
  CanisterId w;
  RealtimeDriver driver(make_runtime(1, 8, &w));
  std::vector<std::future<Result<Out>>> fs;
  for (int i = 0; i < 3; ++i)
    fs.push_back(driver.update<Out>(w, "gated", uint64_t{1}));
  g.wait_started(1);
  std::thread stopper([&] { driver.shutdown(); });
  while (!driver.stopping())
    std::this_thread::yield();
  auto refused = driver.update<uint64_t>(w, "ping").get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, RejectCode::sys_transient);
  g.release();
  stopper.join();
  for (auto& f : fs) {
    auto r = f.get();
    ASSERT_TRUE(r) << text(r.error());
    EXPECT_EQ(r->code, 0);
    EXPECT_EQ(r->value, 42u);
  }
  EXPECT_EQ(driver.stats().ingress_abandoned, 0u);
  EXPECT_EQ(driver.stats().ingress_answered, 3u);
  gate() = nullptr;
}

// Shutdown past the drain period: queued jobs are cancelled (their offloads complete with
// SYS_TRANSIENT, which the canister reports); the running one completes when it can.
TEST(R22Realtime, ShutdownCancelsQueuedJobsAfterTheDrainPeriod) {
  Gate g;
  gate() = &g;
  CanisterId w;
  RealtimeOptions opt;
  opt.shutdown_drain_ms_max = 0;
  opt.shutdown_cancel_ms_max = 120'000;  // a guard only: the test opens the gate itself
  RealtimeDriver driver(make_runtime(1, 8, &w), opt);
  std::vector<std::future<Result<Out>>> fs;
  for (int i = 0; i < 3; ++i)
    fs.push_back(driver.update<Out>(w, "gated", uint64_t{1}));
  g.wait_started(1);
  // The three jobs are admitted (one running, two queued) once the pool reports them.
  while (admitted(driver) < 3)
    std::this_thread::yield();
  std::thread stopper([&] { driver.shutdown(); });
  // The cancelled ones are answered while the first job still blocks.
  auto r1 = fs[1].get();
  auto r2 = fs[2].get();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->code, static_cast<uint8_t>(RejectCode::sys_transient)) << r1->message;
  EXPECT_NE(r1->message.find("shut down before the job started"), std::string::npos);
  EXPECT_EQ(r2->code, static_cast<uint8_t>(RejectCode::sys_transient));
  g.release();
  stopper.join();
  auto r0 = fs[0].get();
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->code, 0);
  gate() = nullptr;
}

// Never hangs: with no drain and no cancel period, shutdown returns although a job is blocked;
// its caller gets SYS_UNKNOWN.
TEST(R22Realtime, ShutdownNeverHangs) {
  Gate g;
  gate() = &g;
  CanisterId w;
  RealtimeOptions opt;
  opt.shutdown_drain_ms_max = 0;
  opt.shutdown_cancel_ms_max = 0;
  auto driver = std::make_unique<RealtimeDriver>(make_runtime(1, 8, &w), opt);
  auto f = driver->update<Out>(w, "gated", uint64_t{1});
  g.wait_started(1);
  driver->shutdown();
  auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, RejectCode::sys_unknown);
  EXPECT_EQ(driver->stats().ingress_abandoned, 1u);
  g.release();  // let the job end, so that destroying the runtime does not wait for it
  driver.reset();
  gate() = nullptr;
}

// R11 (P7): take_ingress_result hands out an answer once and forgets it; pending and unknown
// ingress give nullopt and stay (pending) or stay unknown.
TEST(R11_TakeIngressResult, AnswersOnceThenForgets) {
  Runtime rt(pool_config(1, 8));
  auto w = rt.install<Worker>(rt.subnet(0));
  const IngressId iid = rt.submit(w, "ping", {});
  EXPECT_EQ(rt.stats().ingress_held, 1u);
  EXPECT_FALSE(rt.take_ingress_result(iid).has_value());  // pending: kept
  EXPECT_EQ(rt.stats().ingress_held, 1u);
  rt.run_until_idle(100);
  auto r = rt.take_ingress_result(iid);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(*r);
  EXPECT_EQ(decode<uint64_t>(**r), 1u);
  EXPECT_FALSE(rt.take_ingress_result(iid).has_value());
  EXPECT_FALSE(rt.ingress_result(iid).has_value());
  EXPECT_FALSE(rt.take_ingress_result(IngressId{12345}).has_value());
  EXPECT_EQ(rt.stats().ingress_held, 0u);
  EXPECT_TRUE(rt.check_quiescent_invariants().empty());
}

// P7: a long-running driver does not accumulate answered ingress: after N requests the runtime
// holds none of them (the driver takes every answer it hands out).
TEST(R22Realtime, DriverForgetsAnsweredIngress) {
  CanisterId w;
  RealtimeDriver driver(make_runtime(1, 256, &w));  // room for every offload at once
  constexpr uint64_t n = 300;
  std::vector<std::future<Result<uint64_t>>> fs;
  for (uint64_t i = 0; i < n; ++i)
    fs.push_back(i % 3 == 0 ? driver.update<uint64_t>(w, "square", i, uint64_t{1})
                            : driver.update<uint64_t>(w, "ping"));
  for (auto& f : fs) {
    auto r = f.get();
    ASSERT_TRUE(r) << text(r.error());
  }
  // Every future was set after its answer was taken; run() executes after that, on the driver.
  EXPECT_EQ(driver.run([](Runtime& rt) { return rt.stats().ingress_held; }).get(), 0u);
  driver.shutdown();
  EXPECT_EQ(driver.stats().ingress_answered, n);
  EXPECT_EQ(driver.runtime().stats().ingress_held, 0u);
  EXPECT_TRUE(driver.runtime().check_invariants().empty());
}

// decode_result: one typed decoding for Runtime, RealtimeDriver and QueryService; a reject stays
// itself, a reply of the wrong shape is SYS_FATAL (R4), never an exception.
TEST(R4_DecodeResult, RejectsStayAndMalformedRepliesAreSysFatal) {
  EXPECT_EQ(*decode_result<uint64_t>(Result<Bytes>(encode(uint64_t{7}))), 7u);
  EXPECT_TRUE(decode_result<void>(Result<Bytes>(Bytes{})));
  const Result<Bytes> rejected = make_reject(RejectCode::canister_reject, "no");
  auto r = decode_result<std::string>(rejected);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), (Reject{RejectCode::canister_reject, "no"}));
  auto bad = decode_result<uint64_t>(Result<Bytes>(encode(std::string("not a number"))));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, RejectCode::sys_fatal);
  EXPECT_NE(bad.error().message.find("reply could not be decoded"), std::string::npos);
  auto extra = decode_result<void>(Result<Bytes>(encode(uint64_t{1})));
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().code, RejectCode::sys_fatal);
}

}  // namespace
