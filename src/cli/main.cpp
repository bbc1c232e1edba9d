// canopy — demos and benchmarks of the canopy runtime.
#include <fmt/format.h>

#include <cstdio>
#include <map>

#include "cli/commands.hpp"

namespace canopy::cli {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

void progress(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

}  // namespace canopy::cli

int main(int argc, char** argv) {
  using namespace canopy::cli;
  CLI::App app{"canopy: isolated actors (canisters) on deterministic subnets"};
  app.require_subcommand(1);
  std::map<std::string, CLI::App*> groups;
  groups["demo"] = app.add_subcommand("demo", "run a demo scenario from the seeds");
  groups["bench"] = app.add_subcommand("bench", "run a benchmark");
  for (auto& [name, g] : groups) g->require_subcommand(1);
  for (auto& c : registry()) {
    auto it = groups.find(c.group);
    if (it == groups.end()) continue;
    CLI::App* sub = it->second->add_subcommand(c.name, c.help);
    c.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "canopy: %s\n", e.what());
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "canopy: %s\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "canopy: %s\n", e.what());
    return 2;
  }
  return 0;
}
