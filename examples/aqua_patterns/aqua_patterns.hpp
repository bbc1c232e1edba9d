// Seed 001 — Aqua's parallel patterns with canisters as peers (R18, R19).
//
// `Peer` is a service on some subnet: long_task() / some_function() answer after the peer's
// delay, or after a long time (slow: past any deadline of the scenarios), or never (silent).
// `Client` runs the seed's scripts, each a direct transcription of the Aqua code:
//
//   traverse_peers(peers)   for peer <- peers par: on peer: acks <- Service.long_task()
//                           maybeAck <<- acks!10  par  Peer.timeout(1000)
//                           -> returns as soon as 10 acks arrived or 1 s of virtual time passed
//   get_or_not(other)       on other: res <- Srv.someFunction()  par  Peer.timeout(1000)
//                           -> fails over to a local value on timeout
//   race_peers(a, b)        results!0 over a, b and a timeout: the first result wins
//   parallel_calls(n)       seed 000: n pings at once from one message -> 500 succeed (R2)
//   capped_parallel_calls   the same through for_each_par(..., 500) -> all succeed
//   parallel_calls_retry    the uncapped version, SYS_TRANSIENT failures retried from a timer
//                           with backoff (R19) -> all succeed
//
// Calls to peers are bounded-wait (R10, 10 s): a silent peer's call is eventually answered by
// the system with SYS_UNKNOWN, so even the calls abandoned by a race are accounted for and the
// client's call contexts close (R1, R6).
#pragma once

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples::aqua {

using canopy::CanisterId;
using canopy::Ctx;
using canopy::Task;

enum class PeerMode : uint8_t { fast, slow, silent };

inline const char* to_string(PeerMode m) {
  switch (m) {
    case PeerMode::fast:
      return "fast";
    case PeerMode::slow:
      return "slow";
    case PeerMode::silent:
      return "silent";
  }
  return "?";
}

// The wire timeout of every call the client makes to a peer (R10).
inline constexpr uint64_t peer_call_timeout_ms = 10'000;
// What a slow peer takes: longer than every deadline of the scenarios.
inline constexpr uint64_t slow_peer_delay_ms = 3'000;

struct PeerState {
  PeerMode mode = PeerMode::fast;
  uint64_t delay_ms = 0;
  std::string name;
  uint64_t served = 0;
  template <class A>
  void serialize(A& ar) {
    ar(mode, delay_ms, name, served);
  }
};

struct Peer : canopy::Canister<PeerState> {
  static void methods(canopy::Methods<Peer>& m) {
    m.update("configure", &Peer::configure);
    m.update("long_task", &Peer::long_task);
    m.update("some_function", &Peer::some_function);
    m.update("ping", &Peer::ping);
    m.query("served", &Peer::served);
  }
  void configure(Ctx&, PeerMode mode, uint64_t delay_ms, std::string name) {
    state().mode = mode;
    state().delay_ms = mode == PeerMode::slow ? std::max(delay_ms, slow_peer_delay_ms) : delay_ms;
    state().name = std::move(name);
  }
  Task<std::string> long_task(Ctx& ctx) { return answer(ctx, "ack from "); }
  Task<std::string> some_function(Ctx& ctx) { return answer(ctx, "result from "); }
  void ping(Ctx&) {}
  uint64_t served(Ctx&) { return state().served; }

 private:
  Task<std::string> answer(Ctx& ctx, std::string prefix) {
    ++state().served;
    if (state().mode == PeerMode::silent) {
      canopy::Stream<int> never(1);
      (void)co_await never.at(0);  // no one ever writes it: the caller never hears back
    }
    if (state().delay_ms > 0) (void)co_await ctx.sleep_ms(state().delay_ms);
    co_return prefix + state().name;
  }
};

// ---- reports (what each scenario did) ----

struct TraverseReport {
  std::vector<std::string> acks;
  bool timed_out = false;
  uint64_t cancelled = 0;  // arms still running when the join was satisfied (calls abandoned)
  uint64_t started_ms = 0;
  uint64_t finished_ms = 0;
  template <class A>
  void serialize(A& ar) {
    ar(acks, timed_out, cancelled, started_ms, finished_ms);
  }
};

struct GetOrNotReport {
  std::string status;  // "ok", "timeout" or "error: ..."
  std::string value;
  bool failover = false;
  uint64_t started_ms = 0;
  uint64_t finished_ms = 0;
  template <class A>
  void serialize(A& ar) {
    ar(status, value, failover, started_ms, finished_ms);
  }
};

struct RaceReport {
  std::string winner;  // "a", "b" or "timeout"
  std::string value;
  uint64_t started_ms = 0;
  uint64_t finished_ms = 0;
  template <class A>
  void serialize(A& ar) {
    ar(winner, value, started_ms, finished_ms);
  }
};

struct ParallelReport {
  uint64_t n = 0;
  uint64_t ok = 0;
  uint64_t failed = 0;
  uint64_t attempts = 0;
  uint64_t retries = 0;
  uint64_t started_ms = 0;
  uint64_t finished_ms = 0;
  template <class A>
  void serialize(A& ar) {
    ar(n, ok, failed, attempts, retries, started_ms, finished_ms);
  }
};

inline constexpr const char* failover_value = "providing a local failover value";

struct Client : canopy::Canister<canopy::Unit> {
  static void methods(canopy::Methods<Client>& m) {
    m.update("traverse_peers", &Client::traverse_peers);
    m.update("get_or_not", &Client::get_or_not);
    m.update("race_peers", &Client::race_peers);
    m.update("parallel_calls", &Client::parallel_calls);
    m.update("capped_parallel_calls", &Client::capped_parallel_calls);
    m.update("parallel_calls_retry", &Client::parallel_calls_retry);
  }

  // Aqua:
  //   acks: *string
  //   for peer <- peers par:
  //     on peer:
  //       acks <- Service.long_task()
  //   maybeAck: *string
  //   maybeAck <<- acks!10
  //   par Peer.timeout(1000, "timeout")
  //   <- acks
  Task<TraverseReport> traverse_peers(Ctx& ctx, std::vector<CanisterId> peers, uint64_t want,
                                      uint64_t timeout_ms) {
    TraverseReport rep;
    rep.started_ms = ctx.time_ms();
    canopy::Stream<std::string> acks(peers.size());
    canopy::Scope scope;
    for (CanisterId peer : peers)
      scope.spawn(long_task_on(ctx, peer, acks));
    auto enough = co_await canopy::with_timeout(ctx, std::chrono::milliseconds(timeout_ms),
                                                acks.size_at_least(want));
    scope.cancel();  // the arms still waiting lose: their responses will be discarded (R18)
    co_await scope.join();
    rep.acks = acks.snapshot();
    rep.timed_out = !enough.has_value();
    rep.cancelled = scope.cancelled();
    rep.finished_ms = ctx.time_ms();
    co_return rep;
  }

  // Aqua:
  //   on "other peer":
  //     res <- Srv.someFunction()
  //     status <<- "ok"
  //   par status <- Peer.timeout(1000, "timeout")
  //   if status! == "timeout":
  //     res <<- "providing a local failover value"
  //   <- res!
  Task<GetOrNotReport> get_or_not(Ctx& ctx, CanisterId other, uint64_t timeout_ms) {
    GetOrNotReport rep;
    rep.started_ms = ctx.time_ms();
    auto res = co_await canopy::with_timeout(
        ctx, std::chrono::milliseconds(timeout_ms),
        ctx.call_with<std::string>(peer_call(), other, "some_function"));
    if (res) {
      rep.status = "ok";
      rep.value = *res;
    } else {
      rep.status = res.error().code == canopy::RejectCode::sys_unknown
                       ? "timeout"
                       : "error: " + res.error().to_string();
      rep.value = failover_value;
      rep.failover = true;
    }
    rep.finished_ms = ctx.time_ms();
    co_return rep;
  }

  // Aqua:
  //   results: *string
  //   on a: results <- Srv.someFunction()
  //   par on b: results <- Srv.someFunction()
  //   par results <- Peer.timeout(1000, "timeout")
  //   <- results!0
  Task<RaceReport> race_peers(Ctx& ctx, CanisterId a, CanisterId b, uint64_t timeout_ms) {
    RaceReport rep;
    rep.started_ms = ctx.time_ms();
    auto r = co_await canopy::with_timeout(
        ctx, std::chrono::milliseconds(timeout_ms),
        canopy::race(ctx.call_with<std::string>(peer_call(), a, "some_function"),
                     ctx.call_with<std::string>(peer_call(), b, "some_function")));
    if (!r) {
      rep.winner = "timeout";
    } else if (!*r) {
      rep.winner = r->error().index == 0 ? "a" : "b";
      rep.value = "error: " + r->error().reject.to_string();
    } else {
      rep.winner = (*r)->index == 0 ? "a" : "b";
      rep.value = (*r)->value;
    }
    rep.finished_ms = ctx.time_ms();
    co_return rep;
  }

  // Seed 000: n pings at once from one message; the per-pair queue (500, R2) rejects the rest
  // synchronously with SYS_TRANSIENT.
  Task<ParallelReport> parallel_calls(Ctx& ctx, CanisterId callee, uint64_t n) {
    ParallelReport rep = start_report(ctx, n);
    std::vector<canopy::Call<void>> calls;
    calls.reserve(n);
    for (uint64_t i = 0; i < n; ++i)
      calls.push_back(ctx.call<void>(callee, "ping"));
    auto rs = co_await canopy::when_all_settled(std::move(calls));
    co_return finish_report(ctx, rep, rs);
  }

  // The same through for_each_par: at most `cap` in flight, the next issued when one returns.
  Task<ParallelReport> capped_parallel_calls(Ctx& ctx, CanisterId callee, uint64_t n,
                                             uint64_t cap) {
    ParallelReport rep = start_report(ctx, n);
    std::vector<uint64_t> items(n);
    auto rs = co_await canopy::for_each_par(
        std::move(items), [&](const uint64_t&) { return ctx.call<void>(callee, "ping"); }, cap);
    co_return finish_report(ctx, rep, rs);
  }

  // The uncapped version with retries from a timer (R19): SYS_TRANSIENT -> wait, retry.
  Task<ParallelReport> parallel_calls_retry(Ctx& ctx, CanisterId callee, uint64_t n) {
    ParallelReport rep = start_report(ctx, n);
    canopy::RetryPolicy policy;
    policy.attempts_max = 16;
    policy.backoff_initial_ms = 100;
    policy.backoff_max_ms = 1'600;
    canopy::RetryStats stats;
    std::vector<Task<canopy::Result<void>>> tasks;
    tasks.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      tasks.push_back(canopy::retry(
          ctx, policy, [&ctx, callee] { return ctx.call<void>(callee, "ping"); }, &stats));
    }
    auto rs = co_await canopy::when_all_settled(std::move(tasks));
    rep.attempts = stats.attempts;
    rep.retries = stats.retries;
    co_return finish_report(ctx, rep, rs);
  }

 private:
  static canopy::CallOptions peer_call() {
    canopy::CallOptions o;
    o.timeout_ms = peer_call_timeout_ms;
    return o;
  }
  // Aqua: on peer: acks <- Service.long_task()
  static Task<void> long_task_on(Ctx& ctx, CanisterId peer, canopy::Stream<std::string>& acks) {
    auto ack = co_await ctx.call_with<std::string>(peer_call(), peer, "long_task");
    if (ack) co_await acks.push(std::move(*ack));
  }
  static ParallelReport start_report(Ctx& ctx, uint64_t n) {
    ParallelReport rep;
    rep.n = n;
    rep.started_ms = ctx.time_ms();
    return rep;
  }
  template <class R>
  static ParallelReport finish_report(Ctx& ctx, ParallelReport rep, const std::vector<R>& rs) {
    rep.ok = static_cast<uint64_t>(
        std::count_if(rs.begin(), rs.end(), [](const auto& r) { return r.has_value(); }));
    rep.failed = rep.n - rep.ok;
    rep.finished_ms = ctx.time_ms();
    return rep;
  }
};

// ---- topology helpers (for the demo and the tests) ----

struct PeerSpec {
  PeerMode mode = PeerMode::fast;
  uint64_t delay_ms = 0;
};

// Installs one peer per spec, round-robin over the runtime's subnets, configured.
inline std::vector<CanisterId> install_peers(canopy::Runtime& rt,
                                             const std::vector<PeerSpec>& specs) {
  std::vector<CanisterId> out;
  for (size_t i = 0; i < specs.size(); ++i) {
    CanisterId id = rt.install<Peer>(rt.subnet(static_cast<uint32_t>(i % rt.subnet_count())));
    auto r = rt.update<void>(id, "configure", specs[i].mode, specs[i].delay_ms,
                             std::string("peer") + std::to_string(i));
    if (!r) throw std::runtime_error("configure failed: " + r.error().to_string());
    out.push_back(id);
  }
  return out;
}

// `fast` peers answering within 0..300 ms, then `silent` that never answer, then `slow` that
// answer after the deadline; interleaved deterministically so that every subnet gets some.
inline std::vector<PeerSpec> peer_mix(size_t fast, size_t silent, size_t slow) {
  std::vector<PeerSpec> out;
  size_t f = 0, s = 0, l = 0;
  while (f < fast || s < silent || l < slow) {
    if (f < fast) {
      out.push_back(PeerSpec{PeerMode::fast, (f * 37) % 300});
      ++f;
    }
    if (s < silent) {
      out.push_back(PeerSpec{PeerMode::silent, 0});
      ++s;
    }
    if (l < slow) {
      out.push_back(PeerSpec{PeerMode::slow, slow_peer_delay_ms});
      ++l;
    }
  }
  return out;
}

}  // namespace examples::aqua
