// R18 property tests: every combinator (when_all, when_all_settled, when_any, when_n, race,
// with_timeout, for_each_par, and Stream + Scope as Aqua's `join results!k`) against a small
// reference model of its contract.
//
// Each case draws arms with random outcomes — reply, reject (CANISTER_REJECT), trap and no-reply
// (CANISTER_ERROR), silence, an expired bounded-wait call (SYS_UNKNOWN), synchronous failures
// (DESTINATION_INVALID, SYS_TRANSIENT, SYS_FATAL), an exception in a Task arm — with random
// latencies and placements on two subnets, runs the combinator in a canister, and compares what it
// yields with the model. Latencies are drawn as distinct "ranks" 2 s apart (plus jitter) so that
// the order in which outcomes happen is known to the model; synchronous failures happen while
// the arms start, in arm order; silent arms never settle, so the model may say "pending", which
// is checked by the ingress still being unanswered at the horizon (a missing value suspends).
//
// Also checked per case: the system invariants after every round; which Task arms ran past
// their await (winners and arms that finished before the combinator settled — never a loser,
// R18); every coroutine frame destroyed exactly once when the runtime goes away (test frames, the
// flow layer's own drivers, and every Task frame of the system: task_frame_counters()). Seeds:
// CANOPY_TEST_SEED=<n> reruns one case; a failure prints its seed and the arms.
#include <gtest/gtest.h>

#include <canopy/canopy.hpp>
#include <canopy/flow.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "flow/flow_support.hpp"

using namespace canopy;
using namespace flow_test;

namespace {

struct Expect {
  enum class What { report, trap, pending } what = What::report;
  Report report;
  uint64_t resumed = 0;  // task form: arms that ran past their await
  bool check_resumed = true;
};

struct Event {
  size_t index;
  bool ok;
  bool threw;
  uint8_t code;
  uint64_t value;
};

// The order in which outcomes happen: synchronous failures first (arm order), then by rank.
std::vector<Event> events_of(const Spec& s, const std::vector<int>& rank) {
  std::vector<std::pair<int, Event>> keyed;
  for (size_t i = 0; i < s.arms.size(); ++i) {
    const ArmSpec& a = s.arms[i];
    if (a.kind == ArmKind::silent) continue;
    Event e{i, a.kind == ArmKind::reply, a.kind == ArmKind::throws, code_of(a.kind), a.value};
    keyed.emplace_back(is_sync(a.kind) ? -1 : rank[i], e);
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Event> out;
  for (auto& [k, e] : keyed)
    out.push_back(e);
  return out;
}

Expect model(const Spec& s, const std::vector<int>& rank, uint64_t timer_rank_bound) {
  Expect x;
  const size_t n = s.arms.size();
  std::vector<Event> ev = events_of(s, rank);
  std::vector<std::optional<Event>> seen(n);
  uint64_t resumed = 0;
  auto count = [&](const Event& e) {
    if (!e.threw) ++resumed;
  };
  auto failures = [&] {
    std::vector<std::pair<uint64_t, uint8_t>> out;
    for (size_t i = 0; i < n; ++i)
      if (seen[i] && !seen[i]->ok) out.emplace_back(i, seen[i]->code);
    return out;
  };
  auto done = [&](Expect::What w) {
    x.what = w;
    x.resumed = resumed;
    return x;
  };

  if (s.comb == Comb::timeout) {
    const ArmSpec& a = s.arms[0];
    const bool arm_first = a.kind != ArmKind::silent &&
                           (is_sync(a.kind) || static_cast<uint64_t>(rank[0]) < timer_rank_bound);
    if (!arm_first) {
      x.report.ok = false;
      x.report.errors = {{0, static_cast<uint8_t>(RejectCode::sys_unknown)}};
      return done(Expect::What::report);
    }
    count(ev[0]);
    if (ev[0].threw) return done(Expect::What::trap);
    x.report.ok = ev[0].ok;
    if (ev[0].ok) {
      x.report.values = {{0, ev[0].value}};
    } else {
      x.report.errors = {{0, ev[0].code}};
    }
    return done(Expect::What::report);
  }

  if (s.comb == Comb::each) {
    // for_each_par(cap = k): arm i starts once fewer than k earlier arms hold a slot forever
    // (silent ones); an exception from a started arm traps; a started silent arm, or one that
    // never starts, leaves it pending; otherwise every outcome, in arm order.
    x.check_resumed = false;  // with a cap, which arms finished before a trap depends on timing
    size_t silent_before = 0;
    bool any_silent = false, any_throw = false;
    for (size_t i = 0; i < n; ++i) {
      if (silent_before >= s.k) {
        any_silent = true;  // never starts
        break;
      }
      if (s.arms[i].kind == ArmKind::throws) any_throw = true;
      if (s.arms[i].kind == ArmKind::silent) {
        ++silent_before;
        any_silent = true;
      }
    }
    if (any_throw) return done(Expect::What::trap);
    if (any_silent) return done(Expect::What::pending);
    x.report.ok = true;
    for (const Event& e : ev)
      seen[e.index] = e;
    for (size_t i = 0; i < n; ++i) {
      if (seen[i]->ok) {
        x.report.values.emplace_back(i, seen[i]->value);
      } else {
        x.report.errors.emplace_back(i, seen[i]->code);
      }
    }
    resumed = n;
    return done(Expect::What::report);
  }

  size_t ok = 0, failed = 0;
  std::vector<std::pair<uint64_t, uint64_t>> winners;
  for (const Event& e : ev) {
    seen[e.index] = e;
    count(e);
    if (e.threw) {
      return done(Expect::What::trap);
    }
    if (e.ok) {
      ++ok;
      winners.emplace_back(e.index, e.value);
    } else {
      ++failed;
    }
    switch (s.comb) {
      case Comb::all:
        if (!e.ok) {
          x.report.ok = false;
          x.report.errors = {{e.index, e.code}};
          return done(Expect::What::report);
        }
        if (ok == n) {
          x.report.ok = true;
          for (size_t i = 0; i < n; ++i)
            x.report.values.emplace_back(i, seen[i]->value);
          return done(Expect::What::report);
        }
        break;
      case Comb::settled:
        if (ok + failed == n) {
          x.report.ok = true;
          for (size_t i = 0; i < n; ++i) {
            if (seen[i]->ok) {
              x.report.values.emplace_back(i, seen[i]->value);
            } else {
              x.report.errors.emplace_back(i, seen[i]->code);
            }
          }
          return done(Expect::What::report);
        }
        break;
      case Comb::any:
        if (e.ok) {
          x.report.ok = true;
          x.report.values = {{e.index, e.value}};
          return done(Expect::What::report);
        }
        if (failed == n) {
          x.report.ok = false;
          x.report.errors = failures();
          return done(Expect::What::report);
        }
        break;
      case Comb::n:
        if (ok == s.k) {
          x.report.ok = true;
          x.report.values = winners;
          return done(Expect::What::report);
        }
        if (failed > n - s.k) {
          x.report.ok = false;
          x.report.errors = failures();
          return done(Expect::What::report);
        }
        break;
      case Comb::race:
        x.report.ok = e.ok;
        if (e.ok) {
          x.report.values = {{e.index, e.value}};
        } else {
          x.report.errors = {{e.index, e.code}};
        }
        return done(Expect::What::report);
      case Comb::stream_k:
        if (ok == s.k) {
          x.report.ok = true;
          x.report.values = winners;
          return done(Expect::What::report);
        }
        break;
      case Comb::timeout:
      case Comb::each:
        break;
    }
  }
  if (s.comb == Comb::stream_k && ev.size() == n) {  // all done, fewer than k: closed
    x.report.ok = false;
    x.report.errors = {{s.k, static_cast<uint8_t>(RejectCode::canister_error)}};
    return done(Expect::What::report);
  }
  return done(Expect::What::pending);
}

struct Case {
  Spec spec;
  std::vector<int> rank;
  uint64_t timer_rank_bound = 0;
  std::vector<uint32_t> placement;  // peer subnet per arm (encoded in ArmSpec::peer)
};

std::string describe(const Case& c) {
  static const char* combs[] = {"when_all", "when_all_settled", "when_any",     "when_n",
                                "race",     "with_timeout",     "for_each_par", "Stream+Scope"};
  std::string s = std::string(combs[static_cast<int>(c.spec.comb)]) +
                  (c.spec.form == Form::call ? " over Calls" : " over Tasks");
  if (c.spec.comb == Comb::n || c.spec.comb == Comb::stream_k)
    s += " k=" + std::to_string(c.spec.k);
  if (c.spec.comb == Comb::each) s += " max_in_flight=" + std::to_string(c.spec.k);
  if (c.spec.comb == Comb::timeout) s += " timeout=" + std::to_string(c.spec.timeout_ms) + "ms";
  s += ":";
  for (size_t i = 0; i < c.spec.arms.size(); ++i) {
    const ArmSpec& a = c.spec.arms[i];
    s += " [" + std::to_string(i) + " " + kind_name(a.kind) + " t=" + std::to_string(a.time_ms) +
         " peer=" + std::to_string(a.peer) + "]";
  }
  return s;
}

constexpr uint64_t rank_spacing_ms = 2'000;

Case generate(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  Case c;
  c.spec.comb = static_cast<Comb>(pick(8));
  c.spec.form = pick(2) == 0 ? Form::call : Form::task;
  const size_t n = c.spec.comb == Comb::timeout ? 1 : 1 + pick(6);
  c.rank.resize(n);
  for (size_t i = 0; i < n; ++i)
    c.rank[i] = static_cast<int>(i);
  std::shuffle(c.rank.begin(), c.rank.end(), rng);
  const uint64_t kinds = c.spec.form == Form::task ? 10 : 9;
  for (size_t i = 0; i < n; ++i) {
    ArmSpec a;
    // Weighted: replies are the most common outcome.
    uint64_t roll = pick(kinds + 4);
    a.kind = roll >= kinds ? ArmKind::reply : static_cast<ArmKind>(roll);
    a.time_ms = (static_cast<uint64_t>(c.rank[i]) + 1) * rank_spacing_ms + pick(300);
    a.value = 1000 + i;
    a.peer = static_cast<uint32_t>(pick(2));
    c.spec.arms.push_back(a);
  }
  c.spec.k = 1 + pick(n);
  // with_timeout: the timer falls between two ranks (never on one).
  c.timer_rank_bound = pick(3);  // the arm wins iff its rank < bound
  c.spec.timeout_ms = c.timer_rank_bound * rank_spacing_ms + 1'100;
  return c;
}

void run_case(uint64_t seed) {
  const Case c = generate(seed);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (CANOPY_TEST_SEED=" + std::to_string(seed) +
               "): " + describe(c));
  const Expect x = model(c.spec, c.rank, c.timer_rank_bound);
  const int64_t frames_before = frames().live();
  const int64_t drivers_before = flow_frame_counters().live();
  const int64_t tasks_before = task_frame_counters().live();
  {
    Runtime rt(test_config(2));
    std::vector<CanisterId> peers{rt.install<Peer>(rt.subnet(0)), rt.install<Peer>(rt.subnet(1))};
    CanisterId caller = rt.install<Caller>(rt.subnet(0), {}, 1'000);
    ASSERT_TRUE(rt.update<void>(caller, "set_peers", peers).has_value());
    IngressId id = rt.submit(caller, "run", encode(c.spec));
    // Everything that can settle has settled by then (with a cap, arms run one after another).
    uint64_t horizon_ms = (c.spec.arms.size() + 2) * rank_spacing_ms + 3'000;
    if (c.spec.comb == Comb::each) {
      horizon_ms = 3'000;
      for (const auto& a : c.spec.arms)
        horizon_ms += a.time_ms + 1'500;
    }
    const uint64_t horizon_rounds = horizon_ms / rt.config().round_duration_ms;
    for (uint64_t i = 0; i < horizon_rounds && !rt.ingress_result(id); ++i) {
      rt.tick();
      auto violations = rt.check_invariants();
      ASSERT_TRUE(violations.empty()) << "round " << rt.round() << ": " << violations.front();
    }
    auto raw = rt.ingress_result(id);
    switch (x.what) {
      case Expect::What::pending:
        ASSERT_FALSE(raw.has_value()) << "model: the combinator never settles (a silent arm), "
                                         "but it answered";
        break;
      case Expect::What::trap:
        ASSERT_TRUE(raw.has_value()) << "model: trap; got no answer";
        ASSERT_FALSE(raw->has_value()) << "model: trap; got a reply";
        EXPECT_EQ(raw->error().code, RejectCode::canister_error);
        EXPECT_NE(raw->error().message.find("arm threw on purpose"), std::string::npos)
            << raw->error().message;
        break;
      case Expect::What::report: {
        ASSERT_TRUE(raw.has_value()) << "model: " << to_string(x.report) << "; got no answer";
        ASSERT_TRUE(raw->has_value())
            << "model: " << to_string(x.report) << "; got " << raw->error().to_string();
        Report got = decode<Report>(**raw);
        EXPECT_EQ(got, x.report) << "model: " << to_string(x.report)
                                 << "\n  got: " << to_string(got);
        break;
      }
    }
    // Let every loser's response arrive (silent peers aside); then check who ran past its await.
    for (uint64_t i = 0; i < 120; ++i)
      rt.tick();
    if (c.spec.form == Form::task && x.check_resumed) {
      EXPECT_EQ(*rt.query<uint64_t>(caller, "resumed"), x.resumed)
          << "a losing Task arm ran user code after its response (R18), or a winner did not";
    }
    if (c.spec.form == Form::task && c.spec.comb == Comb::each) {
      EXPECT_LE(*rt.query<uint64_t>(caller, "in_flight_max"), c.spec.k)
          << "for_each_par ran more arms at once than max_in_flight";
    }
    EXPECT_TRUE(rt.check_invariants().empty());
  }
  EXPECT_EQ(frames().live(), frames_before) << "test coroutine frames leaked or double-freed";
  EXPECT_EQ(flow_frame_counters().live(), drivers_before) << "flow driver frames leaked";
  EXPECT_EQ(task_frame_counters().live(), tasks_before)
      << "Task frames leaked or double-freed (losers, timed-out arms, retries, peers)";
}

TEST(R18_Property, CombinatorsAgreeWithTheReferenceModel) {
  for (uint64_t seed : test_seeds(1, 2000)) {
    run_case(seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The model itself, on hand-written cases (so that a wrong model cannot hide a wrong combinator).
TEST(R18_Property, ReferenceModelSanity) {
  Spec s;
  s.comb = Comb::n;
  s.k = 2;
  s.arms = {{ArmKind::reply, 0, 10, 0}, {ArmKind::reject, 0, 0, 0}, {ArmKind::reply, 0, 12, 0}};
  Expect x = model(s, {2, 0, 1}, 0);
  ASSERT_EQ(x.what, Expect::What::report);
  EXPECT_TRUE(x.report.ok);
  EXPECT_EQ(x.report.values, (std::vector<std::pair<uint64_t, uint64_t>>{{2, 12}, {0, 10}}));
  s.comb = Comb::any;
  s.arms = {{ArmKind::reject, 0, 0, 0}, {ArmKind::silent, 0, 0, 0}};
  EXPECT_EQ(model(s, {0, 1}, 0).what, Expect::What::pending);
  s.comb = Comb::all;
  s.arms = {{ArmKind::silent, 0, 0, 0}, {ArmKind::sync_fatal, 0, 0, 0}};
  x = model(s, {0, 1}, 0);
  ASSERT_EQ(x.what, Expect::What::report);
  EXPECT_EQ(x.report.errors, (std::vector<std::pair<uint64_t, uint8_t>>{
                                 {1, static_cast<uint8_t>(RejectCode::sys_fatal)}}));
}

}  // namespace
