// tests/flow/flow_support.hpp — canisters and helpers shared by the flow tests (R18, R19).
//
// Peer::act(Behavior) answers after `latency_ms` of virtual time in the way the behavior says:
// reply (with `value`), reject (CANISTER_REJECT), trap (CANISTER_ERROR), no_reply (CANISTER_ERROR
// "did not reply", R6) or silent (never answers: its root waits on a Stream nobody writes).
// Frames of test coroutines are counted with a Counted member (created/destroyed), so that leak
// tests can check that every frame is destroyed exactly once.
#pragma once

#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace flow_test {

using namespace canopy;

// ---- frame counting ----
struct FrameCount {
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> destroyed{0};
  int64_t live() const {
    return static_cast<int64_t>(created.load()) - static_cast<int64_t>(destroyed.load());
  }
};
inline FrameCount& frames() {
  static FrameCount c;
  return c;
}
// Frames of the callee side (Peer::act), counted apart: silent peers keep theirs until the
// runtime is destroyed.
inline FrameCount& peer_frames() {
  static FrameCount c;
  return c;
}
// Put one in a coroutine frame (a local) to count the frame.
template <FrameCount& (*Counter)()>
struct CountedIn {
  CountedIn() { Counter().created.fetch_add(1); }
  CountedIn(const CountedIn&) = delete;
  CountedIn& operator=(const CountedIn&) = delete;
  ~CountedIn() { Counter().destroyed.fetch_add(1); }
};
using Counted = CountedIn<&frames>;
using PeerCounted = CountedIn<&peer_frames>;

// ---- seeds ----
inline std::vector<uint64_t> test_seeds(uint64_t first, uint64_t count) {
  if (const char* forced = std::getenv("CANOPY_TEST_SEED")) {
    return {std::strtoull(forced, nullptr, 10)};
  }
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < count; ++i)
    out.push_back(first + i);
  return out;
}

// ---- the peer ----
enum class Kind : uint8_t { reply, reject, trap, no_reply, silent };

struct Behavior {
  Kind kind = Kind::reply;
  uint64_t latency_ms = 0;
  uint64_t value = 0;
  template <class A>
  void serialize(A& ar) {
    ar(kind, latency_ms, value);
  }
};

struct PeerState {
  uint64_t served = 0;
  template <class A>
  void serialize(A& ar) {
    ar(served);
  }
};

struct Peer : Canister<PeerState> {
  static void methods(Methods<Peer>& m) {
    m.update("act", &Peer::act);
    m.update("echo", &Peer::echo);
    m.query("served", &Peer::served);
  }
  Task<NoReply> act(Ctx& ctx, Behavior b) {
    PeerCounted counted;
    ++state().served;
    if (b.kind == Kind::silent) {
      Stream<int> never(1);
      (void)co_await never.at(0);  // never resumes; destroyed with the runtime
      co_return NoReply{};
    }
    if (b.latency_ms > 0) (void)co_await ctx.sleep_ms(b.latency_ms);
    switch (b.kind) {
      case Kind::reply:
        ctx.reply(b.value);
        break;
      case Kind::reject:
        ctx.reject("rejected on purpose");
        break;
      case Kind::trap:
        throw Trap("peer trapped on purpose");
      case Kind::no_reply:
      case Kind::silent:
        break;
    }
    co_return NoReply{};
  }
  uint64_t echo(Ctx&, uint64_t v) { return v; }
  uint64_t served(Ctx&) { return state().served; }
};

// ---- a caller that runs one combinator over arms described as data ----
// each: for_each_par(arms, k = max_in_flight); stream_k: every arm in a Scope writes its success
// into a Stream, the root awaits size_at_least(k) (a closer closes the stream once all are done).
enum class Comb : uint8_t { all, settled, any, n, race, timeout, each, stream_k };
enum class Form : uint8_t { call, task };
enum class ArmKind : uint8_t {
  reply,           // peer replies `value` after time_ms
  reject,          // peer rejects after time_ms (CANISTER_REJECT)
  trap,            // peer traps after time_ms (CANISTER_ERROR)
  no_reply,        // peer ends without replying after time_ms (CANISTER_ERROR, R6)
  silent,          // peer never answers
  unknown,         // bounded-wait call (timeout time_ms) to a silent peer: SYS_UNKNOWN (R10)
  sync_invalid,    // call to a canister that does not exist: DESTINATION_INVALID at once (R1)
  sync_transient,  // attaches more cycles than the balance: SYS_TRANSIENT at once (R8)
  sync_fatal,      // asks for a timeout above the limit: SYS_FATAL at once (R10)
  throws,          // (task form only) the arm throws after time_ms
};
inline const char* kind_name(ArmKind k) {
  static const char* names[] = {"reply",      "reject",  "trap",         "no_reply",
                                "silent",     "unknown", "sync_invalid", "sync_transient",
                                "sync_fatal", "throws"};
  return names[static_cast<int>(k)];
}
inline bool is_sync(ArmKind k) {
  return k == ArmKind::sync_invalid || k == ArmKind::sync_transient || k == ArmKind::sync_fatal;
}
inline uint8_t code_of(ArmKind k) {
  switch (k) {
    case ArmKind::reject:
      return static_cast<uint8_t>(RejectCode::canister_reject);
    case ArmKind::trap:
    case ArmKind::no_reply:
      return static_cast<uint8_t>(RejectCode::canister_error);
    case ArmKind::unknown:
      return static_cast<uint8_t>(RejectCode::sys_unknown);
    case ArmKind::sync_invalid:
      return static_cast<uint8_t>(RejectCode::destination_invalid);
    case ArmKind::sync_transient:
      return static_cast<uint8_t>(RejectCode::sys_transient);
    case ArmKind::sync_fatal:
      return static_cast<uint8_t>(RejectCode::sys_fatal);
    default:
      return 0;
  }
}

struct ArmSpec {
  ArmKind kind = ArmKind::reply;
  uint64_t time_ms = 0;
  uint64_t value = 0;
  uint32_t peer = 0;
  template <class A>
  void serialize(A& ar) {
    ar(kind, time_ms, value, peer);
  }
};

struct Spec {
  Comb comb = Comb::all;
  Form form = Form::call;
  uint64_t k = 1;
  uint64_t timeout_ms = 0;
  std::vector<ArmSpec> arms;
  template <class A>
  void serialize(A& ar) {
    ar(comb, form, k, timeout_ms, arms);
  }
};

// What the combinator yielded, as data. values/errors: (arm index, value or reject code).
struct Report {
  bool ok = false;
  std::vector<std::pair<uint64_t, uint64_t>> values;
  std::vector<std::pair<uint64_t, uint8_t>> errors;
  template <class A>
  void serialize(A& ar) {
    ar(ok, values, errors);
  }
  bool operator==(const Report&) const = default;
};
inline std::string to_string(const Report& r) {
  std::string s = r.ok ? "ok" : "failed";
  s += " values[";
  for (auto& [i, v] : r.values)
    s += " " + std::to_string(i) + ":" + std::to_string(v);
  s += " ] errors[";
  for (auto& [i, c] : r.errors)
    s += " " + std::to_string(i) + ":" + std::to_string(c);
  return s + " ]";
}

struct CallerState {
  std::vector<CanisterId> peers;
  uint64_t resumed = 0;    // task arms that ran past their await (winners and finished arms only)
  uint64_t in_flight = 0;  // task arms started and not finished
  uint64_t in_flight_max = 0;  // the most at once
  template <class A>
  void serialize(A& ar) {
    ar(peers, resumed, in_flight, in_flight_max);
  }
};

struct Caller : Canister<CallerState> {
  static void methods(Methods<Caller>& m) {
    m.update("set_peers", &Caller::set_peers);
    m.update("run", &Caller::run);
    m.query("resumed", &Caller::resumed);
    m.query("in_flight_max", &Caller::in_flight_max);
  }
  void set_peers(Ctx&, std::vector<CanisterId> peers) { state().peers = std::move(peers); }
  uint64_t resumed(Ctx&) { return state().resumed; }
  uint64_t in_flight_max(Ctx&) { return state().in_flight_max; }

  Call<uint64_t> make_call(Ctx& ctx, const ArmSpec& a) {
    const CanisterId peer = state().peers[a.peer % state().peers.size()];
    switch (a.kind) {
      case ArmKind::unknown:
        return ctx.call_with<uint64_t>(CallOptions{.cycles = 0, .timeout_ms = a.time_ms}, peer,
                                       "act", Behavior{Kind::silent, 0, 0});
      case ArmKind::sync_invalid:
        return ctx.call<uint64_t>(CanisterId{999'999}, "act", Behavior{});
      case ArmKind::sync_transient:
        return ctx.call_with<uint64_t>(CallOptions{.cycles = ctx.balance() + 1, .timeout_ms = 0},
                                       peer, "act", Behavior{});
      case ArmKind::sync_fatal:
        return ctx.call_with<uint64_t>(CallOptions{.cycles = 0, .timeout_ms = 10'000'000}, peer,
                                       "act", Behavior{});
      default: {
        Kind k = Kind::reply;
        if (a.kind == ArmKind::reject) k = Kind::reject;
        if (a.kind == ArmKind::trap) k = Kind::trap;
        if (a.kind == ArmKind::no_reply) k = Kind::no_reply;
        if (a.kind == ArmKind::silent) k = Kind::silent;
        return ctx.call<uint64_t>(peer, "act", Behavior{k, a.time_ms, a.value});
      }
    }
  }
  Task<Result<uint64_t>> make_task(Ctx& ctx, ArmSpec a) {
    Counted counted;
    ++state().in_flight;
    state().in_flight_max = std::max(state().in_flight_max, state().in_flight);
    if (a.kind == ArmKind::throws) {
      (void)co_await ctx.sleep_ms(a.time_ms);
      throw Trap("arm threw on purpose");
    }
    Result<uint64_t> r = co_await make_call(ctx, a);
    ++state().resumed;
    --state().in_flight;
    co_return r;
  }
  // stream_k: awaits one arm and writes its value, if it succeeded, into `out`.
  template <class A>
  static Task<void> relay(A arm, size_t index, Stream<std::pair<uint64_t, uint64_t>>& out) {
    Counted counted;
    Result<uint64_t> r = co_await std::move(arm);
    if (r) co_await out.push({index, *r});
  }
  static Task<void> closer(Scope& arms, Stream<std::pair<uint64_t, uint64_t>>& out) {
    Counted counted;
    try {
      co_await arms.join();
    } catch (...) {
      out.close();
      throw;
    }
    out.close();
  }

  template <class A>
  Task<Report> run_with(Ctx& ctx, const Spec& spec, std::vector<A> arms) {
    Report out;
    switch (spec.comb) {
      case Comb::all: {
        auto r = co_await when_all(std::move(arms));
        out.ok = r.has_value();
        if (r) {
          for (size_t i = 0; i < r->size(); ++i)
            out.values.emplace_back(i, (*r)[i]);
        } else {
          out.errors.emplace_back(r.error().index, static_cast<uint8_t>(r.error().reject.code));
        }
        break;
      }
      case Comb::settled: {
        std::vector<Result<uint64_t>> rs;
        if constexpr (std::is_same_v<A, Call<uint64_t>>) {
          rs = co_await when_all_settled(std::move(arms));
        } else {
          rs = co_await when_all_settled(std::move(arms));
        }
        out.ok = true;
        for (size_t i = 0; i < rs.size(); ++i) {
          if (rs[i]) {
            out.values.emplace_back(i, *rs[i]);
          } else {
            out.errors.emplace_back(i, static_cast<uint8_t>(rs[i].error().code));
          }
        }
        break;
      }
      case Comb::any: {
        auto r = co_await when_any(std::move(arms));
        out.ok = r.has_value();
        if (r) {
          out.values.emplace_back(r->index, r->value);
        } else {
          for (auto& e : r.error())
            out.errors.emplace_back(e.index, static_cast<uint8_t>(e.reject.code));
        }
        break;
      }
      case Comb::n: {
        auto r = co_await when_n(spec.k, std::move(arms));
        out.ok = r.has_value();
        if (r) {
          for (auto& w : *r)
            out.values.emplace_back(w.index, w.value);
        } else {
          for (auto& e : r.error())
            out.errors.emplace_back(e.index, static_cast<uint8_t>(e.reject.code));
        }
        break;
      }
      case Comb::race: {
        auto r = co_await race(std::move(arms));
        out.ok = r.has_value();
        if (r) {
          out.values.emplace_back(r->index, r->value);
        } else {
          out.errors.emplace_back(r.error().index, static_cast<uint8_t>(r.error().reject.code));
        }
        break;
      }
      case Comb::each: {
        std::vector<size_t> order;
        for (size_t i = 0; i < arms.size(); ++i)
          order.push_back(i);
        auto rs = co_await for_each_par(
            std::move(order), [&](const size_t& i) { return std::move(arms[i]); }, spec.k);
        out.ok = true;
        for (size_t i = 0; i < rs.size(); ++i) {
          if (rs[i]) {
            out.values.emplace_back(i, *rs[i]);
          } else {
            out.errors.emplace_back(i, static_cast<uint8_t>(rs[i].error().code));
          }
        }
        break;
      }
      case Comb::stream_k: {
        Stream<std::pair<uint64_t, uint64_t>> results(arms.size());
        Scope scope;
        Scope closing;
        for (size_t i = 0; i < arms.size(); ++i)
          scope.spawn(relay(std::move(arms[i]), i, results));
        closing.spawn(closer(scope, results));
        auto r = co_await results.size_at_least(spec.k);
        scope.cancel();
        co_await scope.join();
        co_await closing.join();
        out.ok = r.has_value();
        if (r) {
          for (size_t i = 0; i < spec.k; ++i)
            out.values.push_back(results[i]);
        } else {
          out.errors.emplace_back(spec.k, static_cast<uint8_t>(r.error().code));
        }
        break;
      }
      case Comb::timeout: {
        auto r = co_await with_timeout(ctx, static_cast<int64_t>(spec.timeout_ms),
                                       std::move(arms.at(0)));
        out.ok = r.has_value();
        if (r) {
          out.values.emplace_back(0, *r);
        } else {
          out.errors.emplace_back(0, static_cast<uint8_t>(r.error().code));
        }
        break;
      }
    }
    co_return out;
  }

  Task<Report> run(Ctx& ctx, Spec spec) {
    Counted counted;
    if (spec.form == Form::call) {
      std::vector<Call<uint64_t>> arms;
      for (const auto& a : spec.arms)
        arms.push_back(make_call(ctx, a));
      co_return co_await run_with(ctx, spec, std::move(arms));
    }
    std::vector<Task<Result<uint64_t>>> arms;
    for (const auto& a : spec.arms)
      arms.push_back(make_task(ctx, a));
    co_return co_await run_with(ctx, spec, std::move(arms));
  }
};

inline Config test_config(uint32_t subnets = 2) {
  Config cfg;
  cfg.subnets = subnets;
  cfg.xnet_latency_rounds = 2;
  cfg.round_duration_ms = 100;
  return cfg;
}

// Ticks until the ingress is answered or `rounds_max` rounds have run.
inline std::optional<Result<Bytes>> run_for(Runtime& rt, IngressId id, uint64_t rounds_max) {
  for (uint64_t i = 0; i < rounds_max && !rt.ingress_result(id); ++i)
    rt.tick();
  return rt.ingress_result(id);
}

}  // namespace flow_test
