// The `canopy` command: `canopy demo NAME [options]`, `canopy bench NAME [options]`.
// Each demo/benchmark lives in its own file and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

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

}  // namespace canopy::cli
