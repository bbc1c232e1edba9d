// Option checks and helpers shared by the CLI's demos and benchmarks (see commands.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "cli/commands.hpp"

namespace canopy::cli {

void check_range(const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw UsageError(fmt::format("{} must be in {}..{} (got {})", name, lo, hi, v));
}

uint64_t parse_u64(const std::string& s, const char* name) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    throw UsageError(fmt::format("{} must be an integer in 0..{} (got '{}')", name, UINT64_MAX, s));
  return v;
}

std::vector<uint64_t> parse_u64_list(const std::string& s, const char* name, uint64_t lo,
                                     uint64_t hi, size_t max_items, const char* example) {
  std::vector<uint64_t> out;
  std::stringstream in(s);
  std::string part;
  for (size_t i = 0; i < max_items && std::getline(in, part, ','); ++i) {
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || v < lo || v > hi)
      throw UsageError(fmt::format("{}: each value must be an integer in {}..{} (got '{}')", name,
                                   lo, hi, part));
    out.push_back(v);
  }
  if (out.empty() || std::getline(in, part, ','))
    throw UsageError(fmt::format("{} must list 1..{} values, e.g. {}", name, max_items, example));
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }

std::function<void()> guarded(std::string what, std::function<void()> work) {
  return [what = std::move(what), work = std::move(work)] {
    try {
      work();
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "canopy: %s: %s\n", what.c_str(), e.what());
      std::exit(1);
    }
  };
}

}  // namespace canopy::cli
