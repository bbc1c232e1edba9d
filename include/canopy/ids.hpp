// canopy/ids.hpp — identifiers: canisters, subnets, ingress messages.
//
// All ids are small value types, totally ordered and hashable; ordering is used wherever the
// runtime needs a deterministic iteration order (R20). Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace canopy {

struct CanisterId {
  uint64_t value = 0;
  auto operator<=>(const CanisterId&) const = default;
  bool valid() const { return value != 0; }
  std::string to_string() const { return "c" + std::to_string(value); }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
};

struct SubnetId {
  uint32_t value = 0;
  auto operator<=>(const SubnetId&) const = default;
  std::string to_string() const { return "s" + std::to_string(value); }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
};

struct IngressId {
  uint64_t value = 0;
  auto operator<=>(const IngressId&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
};

}  // namespace canopy

template <>
struct std::hash<canopy::CanisterId> {
  size_t operator()(canopy::CanisterId id) const noexcept {
    return std::hash<uint64_t>{}(id.value);
  }
};
