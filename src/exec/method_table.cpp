#include <fmt/format.h>

#include <stdexcept>

#include "canopy/canister.hpp"

namespace canopy {

void MethodTable::add(std::string name, MethodEntry entry) {
  if (name.empty()) throw std::invalid_argument("method name must not be empty");
  auto [it, inserted] = methods_.emplace(std::move(name), std::move(entry));
  if (!inserted) throw std::invalid_argument(fmt::format("method '{}' registered twice", it->first));
  it->second.name = it->first;  // a node's key never moves
}

const MethodEntry* MethodTable::find(std::string_view name) const {
  auto it = methods_.find(name);
  return it == methods_.end() ? nullptr : &it->second;
}

}  // namespace canopy
