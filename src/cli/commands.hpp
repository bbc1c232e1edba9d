// The `canopy` command: `canopy demo NAME [options]`, `canopy bench NAME [options]`.
// Each demo/benchmark lives in its own file and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace canopy::cli {

// Thrown for an invalid option value found after parsing: one line on stderr, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string group;  // "demo" or "bench"
  std::string name;
  std::string help;
  // Adds options to `app` and sets its final callback (which does the work).
  std::function<void(CLI::App& app)> setup;
};

std::vector<Command>& registry();

struct Register {
  explicit Register(Command c) { registry().push_back(std::move(c)); }
};

// Prints a progress line on stderr (for runs longer than a few seconds).
void progress(const std::string& line);

// ---- option checks and small helpers shared by the demos and benchmarks (src/cli/util.cpp) ----
// Throws UsageError "NAME must be in LO..HI (got V)" unless lo <= v <= hi.
void check_range(const char* name, int64_t v, int64_t lo, int64_t hi);
// A decimal integer in 0..2^64-1, or UsageError naming the option.
uint64_t parse_u64(const std::string& s, const char* name);
// A comma-separated list of 1..max_items integers in lo..hi, or UsageError naming the option and
// showing `example`.
std::vector<uint64_t> parse_u64_list(const std::string& s, const char* name, uint64_t lo,
                                     uint64_t hi, size_t max_items, const char* example);
double median(std::vector<double> v);  // 0 for an empty list
double round3(double x);                // rounded to 3 decimals, for JSON output
// Wraps a command's work for CLI::App::callback: UsageError propagates (one line, exit 2);
// any other exception prints "canopy: WHAT: message" on stderr and exits 1.
std::function<void()> guarded(std::string what, std::function<void()> work);

}  // namespace canopy::cli
