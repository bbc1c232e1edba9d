// `caf_bench fanout`: one actor sends C requests at once, round-robin over M
// server actors, with `request(server, infinite, ping, i).then(...)`, and
// counts responses until all C are back.
//
// CAF 0.17 keeps the handlers of pending `.then` responses in
// `scheduled_actor::multiplexed_responses_`, a `detail::unordered_flat_map`:
// a vector searched linearly. Every request inserts (a full scan to reject a
// duplicate id, then a push_back) and every response finds and erases (a
// scan plus a memmove of the tail), so C outstanding requests cost O(C^2).
// This workload measures that; --timeout-seconds bounds a run that would
// otherwise not finish, and the result then says "completed":false with the
// number of responses that did arrive.
#include "caf_bench.hpp"

#include <atomic>
#include <cstdio>
#include <utility>
#include <vector>

namespace caf_bench {
namespace {

// State shared between the main thread and the driver. The driver is the
// only writer of `sent`, `responses` and `sent_s`; main only writes `stop`.
struct fanout_shared {
  alignas(64) std::atomic<bool> stop{false};
  alignas(64) std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> responses{0};
  std::atomic<double> sent_s{-1.0};  // seconds until the last request was sent
};

class driver final : public caf::event_based_actor {
 public:
  driver(caf::actor_config& cfg, std::vector<caf::actor> servers, caf::actor reporter,
         std::uint64_t calls, fanout_shared* shared)
      : caf::event_based_actor(cfg),
        servers_(std::move(servers)),
        reporter_(std::move(reporter)),
        calls_(calls),
        shared_(shared) {}

  caf::behavior make_behavior() override {
    return {[this](go_atom) { send_all(); }};
  }

 private:
  void send_all() {
    const auto start = clock_type::now();
    const std::size_t m = servers_.size();
    for (std::uint64_t i = 0; i < calls_; ++i) {
      if (shared_->stop.load(std::memory_order_relaxed)) {
        quit();
        return;
      }
      request(servers_[i % m], caf::infinite, ping_atom::value, i).then([this](std::uint64_t) {
        on_response();
      });
      shared_->sent.store(i + 1, std::memory_order_relaxed);
    }
    shared_->sent_s.store(seconds_since(start), std::memory_order_relaxed);
  }

  void on_response() {
    ++responses_;
    shared_->responses.store(responses_, std::memory_order_relaxed);
    if (responses_ == calls_) {
      send(reporter_, done_atom::value, responses_);
      quit();
    } else if (shared_->stop.load(std::memory_order_relaxed)) {
      quit();
    }
  }

  std::vector<caf::actor> servers_;
  caf::actor reporter_;
  std::uint64_t calls_;
  fanout_shared* shared_;
  std::uint64_t responses_ = 0;
};

}  // namespace

int run_fanout(const fanout_options& opts) {
  caf::actor_system_config cfg;
  configure(cfg, opts.threads);
  caf::actor_system sys{cfg};
  fanout_shared shared;

  caf::scoped_actor self{sys};
  std::vector<caf::actor> servers;
  servers.reserve(opts.canisters);
  for (std::uint32_t i = 0; i < opts.canisters; ++i)
    servers.push_back(sys.spawn(server_impl));
  const auto drv =
      sys.spawn<driver>(servers, caf::actor_cast<caf::actor>(self), opts.calls, &shared);
  std::fprintf(stderr,
               "caf fanout: %llu calls over %u servers, %u scheduler threads, "
               "timeout %g s\n",
               static_cast<unsigned long long>(opts.calls), opts.canisters,
               static_cast<unsigned>(sys.scheduler().num_workers()), opts.timeout_seconds);

  const auto start = clock_type::now();
  self->send(drv, go_atom::value);

  bool completed = false;
  auto next_progress = start + std::chrono::duration_cast<clock_type::duration>(
                                   std::chrono::duration<double>(progress_after_s));
  while (!completed) {
    self->receive([&](done_atom, std::uint64_t) { completed = true; },
                  caf::after(poll_interval) >> [] {});
    if (completed) break;
    const auto now = clock_type::now();
    if (now >= next_progress) {
      std::fprintf(
          stderr, "caf fanout: %.1f s, sent %llu, responses %llu\n", seconds_since(start),
          static_cast<unsigned long long>(shared.sent.load(std::memory_order_relaxed)),
          static_cast<unsigned long long>(shared.responses.load(std::memory_order_relaxed)));
      next_progress = now + progress_interval;
    }
    if (seconds_since(start) >= opts.timeout_seconds) break;
  }
  const double elapsed = seconds_since(start);
  const std::uint64_t responses = shared.responses.load(std::memory_order_relaxed);

  // Stop everything; the actor_system destructor waits for the actors.
  shared.stop.store(true, std::memory_order_relaxed);
  self->send_exit(drv, caf::exit_reason::kill);
  for (const auto& s : servers)
    self->send_exit(s, caf::exit_reason::user_shutdown);

  const double sent_s = shared.sent_s.load(std::memory_order_relaxed);
  if (sent_s >= 0.0)
    std::fprintf(stderr, "caf fanout: all %llu requests sent after %.3f s\n",
                 static_cast<unsigned long long>(opts.calls), sent_s);
  else
    std::fprintf(stderr, "caf fanout: only %llu of %llu requests sent before the timeout\n",
                 static_cast<unsigned long long>(shared.sent.load(std::memory_order_relaxed)),
                 static_cast<unsigned long long>(opts.calls));

  std::printf(
      "{\"benchmark\":\"fanout\",\"peer\":\"caf\",\"calls\":%llu,\"canisters\":%u,"
      "\"completed\":%s,\"responses\":%llu,\"seconds\":%.6f,\"calls_per_sec\":%.1f}\n",
      static_cast<unsigned long long>(opts.calls), opts.canisters, completed ? "true" : "false",
      static_cast<unsigned long long>(responses), elapsed,
      static_cast<double>(responses) / elapsed);
  std::fflush(stdout);
  return 0;
}

}  // namespace caf_bench
