// caf_bench entry point: parses `caf_bench <calls|fanout> [--flag value]...`.
#include "caf_bench.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage_text =
    "usage:\n"
    "  caf_bench calls  [--pairs P] [--seconds S | --round-trips N]"
    " [--threads T] [--in-flight K]\n"
    "  caf_bench fanout [--calls C] [--canisters M] [--timeout-seconds S]"
    " [--threads T]\n";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Splits argv[2..] into (name, value) pairs; accepts `--name value` and
// `--name=value`.
std::vector<std::pair<std::string, std::string>> split_flags(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> flags;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) throw usage_error("unexpected argument: " + std::string(arg));
    arg.remove_prefix(2);
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      flags.emplace_back(std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1)));
    } else {
      if (i + 1 >= argc) throw usage_error("missing value for --" + std::string(arg));
      flags.emplace_back(std::string(arg), std::string(argv[++i]));
    }
  }
  return flags;
}

// Parses a positive integer no larger than `max`.
std::uint64_t parse_count(const std::string& name, const std::string& text, std::uint64_t max) {
  std::uint64_t value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr != last || value == 0 || value > max)
    throw usage_error("--" + name + " needs an integer in [1, " + std::to_string(max) + "], got '" +
                      text + "'");
  return value;
}

// Parses a positive number of seconds.
double parse_seconds(const std::string& name, const std::string& text) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(value > 0.0) || value > 1e6)
    throw usage_error("--" + name + " needs a positive number of seconds, got '" + text + "'");
  return value;
}

constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
// Upper bounds that keep a single run finite and its memory plausible.
constexpr std::uint64_t round_trips_max = 1'000'000'000'000ULL;
constexpr std::uint64_t fanout_calls_max = 100'000'000ULL;
constexpr std::uint64_t threads_max = 1024;
constexpr std::uint64_t actors_max = 10'000'000;

caf_bench::calls_options parse_calls(int argc, char** argv) {
  caf_bench::calls_options opts;
  bool have_round_trips = false;
  for (const auto& [name, value] : split_flags(argc, argv)) {
    if (name == "pairs") {
      opts.pairs = static_cast<std::uint32_t>(parse_count(name, value, actors_max));
    } else if (name == "round-trips") {
      opts.round_trips = parse_count(name, value, round_trips_max);
      have_round_trips = true;
    } else if (name == "seconds") {
      opts.seconds = parse_seconds(name, value);
    } else if (name == "threads") {
      opts.threads = static_cast<std::uint32_t>(parse_count(name, value, threads_max));
    } else if (name == "in-flight") {
      opts.in_flight = static_cast<std::uint32_t>(parse_count(name, value, u32_max));
    } else {
      throw usage_error("unknown flag for calls: --" + name);
    }
  }
  if (have_round_trips && opts.seconds > 0.0)
    throw usage_error("--seconds and --round-trips are mutually exclusive");
  return opts;
}

caf_bench::fanout_options parse_fanout(int argc, char** argv) {
  caf_bench::fanout_options opts;
  for (const auto& [name, value] : split_flags(argc, argv)) {
    if (name == "calls") {
      opts.calls = parse_count(name, value, fanout_calls_max);
    } else if (name == "canisters") {
      opts.canisters = static_cast<std::uint32_t>(parse_count(name, value, actors_max));
    } else if (name == "timeout-seconds") {
      opts.timeout_seconds = parse_seconds(name, value);
    } else if (name == "threads") {
      opts.threads = static_cast<std::uint32_t>(parse_count(name, value, threads_max));
    } else {
      throw usage_error("unknown flag for fanout: --" + name);
    }
  }
  return opts;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(usage_text, stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  try {
    if (command == "calls") return caf_bench::run_calls(parse_calls(argc, argv));
    if (command == "fanout") return caf_bench::run_fanout(parse_fanout(argc, argv));
    if (command == "--help" || command == "-h" || command == "help") {
      std::fputs(usage_text, stdout);
      return 0;
    }
    throw usage_error("unknown subcommand: " + std::string(command));
  } catch (const usage_error& e) {
    std::fprintf(stderr, "caf_bench: %s\n%s", e.what(), usage_text);
    return 2;
  }
}
