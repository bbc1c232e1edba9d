// `caf_bench calls`: P client/server pairs doing request/response round trips.
//
// Each client keeps K requests in flight to its own server using the
// idiomatic CAF API, `request(server, infinite, ping, seq).then(...)`, and
// issues the next request from the response handler. The run stops after N
// round trips in total (split evenly over the clients) or, with --seconds,
// when the main thread raises a stop flag; in-flight requests are drained and
// counted before a client reports.
#include "caf_bench.hpp"

#include <atomic>
#include <cstdio>
#include <vector>

namespace caf_bench {
namespace {

// State shared between the main thread and all clients. Fields sit on their
// own cache lines: `stop` is read on every response, `progress` is written
// only every `progress_batch` responses.
struct calls_shared {
  alignas(64) std::atomic<bool> stop{false};
  alignas(64) std::atomic<std::uint64_t> progress{0};
};

// Clients publish their completed count in batches of this size.
constexpr std::uint64_t progress_batch = 1024;

class client final : public caf::event_based_actor {
 public:
  // quota == 0 means "unbounded": run until `shared->stop`.
  client(caf::actor_config& cfg, caf::actor server, caf::actor reporter, std::uint64_t quota,
         bool bounded, std::uint32_t in_flight, calls_shared* shared)
      : caf::event_based_actor(cfg),
        server_(std::move(server)),
        reporter_(std::move(reporter)),
        quota_(quota),
        bounded_(bounded),
        in_flight_(in_flight),
        shared_(shared) {}

  caf::behavior make_behavior() override {
    return {[this](go_atom) {
      for (std::uint32_t k = 0; k < in_flight_ && may_issue(); ++k)
        issue();
      finish_if_idle();
    }};
  }

 private:
  bool may_issue() const {
    if (bounded_) return issued_ < quota_;
    return !shared_->stop.load(std::memory_order_relaxed);
  }

  void issue() {
    ++issued_;
    request(server_, caf::infinite, ping_atom::value, issued_).then([this](std::uint64_t) {
      on_response();
    });
  }

  void on_response() {
    ++completed_;
    if (completed_ % progress_batch == 0)
      shared_->progress.fetch_add(progress_batch, std::memory_order_relaxed);
    if (may_issue())
      issue();
    else
      finish_if_idle();
  }

  // Reports and quits once nothing is in flight and nothing more may start.
  void finish_if_idle() {
    if (completed_ != issued_ || may_issue()) return;
    send(reporter_, done_atom::value, completed_);
    quit();
  }

  caf::actor server_;
  caf::actor reporter_;
  std::uint64_t quota_;
  bool bounded_;
  std::uint32_t in_flight_;
  calls_shared* shared_;
  std::uint64_t issued_ = 0;
  std::uint64_t completed_ = 0;
};

}  // namespace

int run_calls(const calls_options& opts) {
  caf::actor_system_config cfg;
  configure(cfg, opts.threads);
  caf::actor_system sys{cfg};
  calls_shared shared;
  const bool bounded = opts.seconds <= 0.0;

  caf::scoped_actor self{sys};
  const auto reporter = caf::actor_cast<caf::actor>(self);
  std::vector<caf::actor> servers;
  std::vector<caf::actor> clients;
  servers.reserve(opts.pairs);
  clients.reserve(opts.pairs);
  const std::uint64_t base = opts.round_trips / opts.pairs;
  const std::uint64_t extra = opts.round_trips % opts.pairs;
  for (std::uint32_t i = 0; i < opts.pairs; ++i) {
    servers.push_back(sys.spawn(server_impl));
    const std::uint64_t quota = base + (i < extra ? 1 : 0);
    clients.push_back(
        sys.spawn<client>(servers.back(), reporter, quota, bounded, opts.in_flight, &shared));
  }
  std::fprintf(stderr, "caf calls: %u pairs, %u scheduler threads, in-flight %u, %s\n", opts.pairs,
               static_cast<unsigned>(sys.scheduler().num_workers()), opts.in_flight,
               bounded ? "bounded by round trips" : "bounded by time");

  const auto start = clock_type::now();
  for (const auto& c : clients)
    self->send(c, go_atom::value);

  std::uint32_t reported = 0;
  std::uint64_t total = 0;
  auto next_progress = start + std::chrono::duration_cast<clock_type::duration>(
                                   std::chrono::duration<double>(progress_after_s));
  auto check_clocks = [&] {
    const auto now = clock_type::now();
    if (!bounded && seconds_since(start) >= opts.seconds)
      shared.stop.store(true, std::memory_order_relaxed);
    if (now >= next_progress) {
      const double elapsed = seconds_since(start);
      const auto done = shared.progress.load(std::memory_order_relaxed);
      std::fprintf(stderr, "caf calls: %.1f s, ~%llu round trips (%.0f/s)\n", elapsed,
                   static_cast<unsigned long long>(done), static_cast<double>(done) / elapsed);
      next_progress = now + progress_interval;
    }
  };
  while (reported < opts.pairs) {
    self->receive(
        [&](done_atom, std::uint64_t n) {
          ++reported;
          total += n;
        },
        caf::after(poll_interval) >> [] {});
    check_clocks();
  }
  const double elapsed = seconds_since(start);

  for (const auto& s : servers)
    self->send_exit(s, caf::exit_reason::user_shutdown);

  std::printf(
      "{\"benchmark\":\"calls\",\"peer\":\"caf\",\"round_trips\":%llu,"
      "\"seconds\":%.6f,\"round_trips_per_sec\":%.1f,\"threads\":%u,\"pairs\":%u}\n",
      static_cast<unsigned long long>(total), elapsed, static_cast<double>(total) / elapsed,
      opts.threads, opts.pairs);
  std::fflush(stdout);
  return 0;
}

}  // namespace caf_bench
