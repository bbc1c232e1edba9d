// canopy/reject.hpp — reject codes (R4) and the Result type used for every call outcome.
//
// A call's outcome is `Result<T>`: either a value or a `Reject{code, message}`. Codes are the
// Internet Computer's: only CanisterReject is produced by canister code itself (ctx.reject);
// the system produces the others. `Result` is tl::expected (libexpected-dev), chosen once for
// the whole code base (DESIGN §5). Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace canopy {

// R4: the six reject codes, with their IC numbers.
enum class RejectCode : uint8_t {
  sys_fatal = 1,      // unrecoverable system error (e.g. payload too large)
  sys_transient = 2,  // transient: queue full, callback quota, insufficient cycles; retry later
  destination_invalid = 3,  // no such canister
  canister_reject = 4,      // the callee called ctx.reject(): the only code canisters produce
  canister_error = 5,       // trap, did not reply, stopped canister, unknown method, callback lost
  sys_unknown = 6,          // bounded-wait call: the system stopped waiting, outcome unknown (R10)
};

std::string_view to_string(RejectCode code);

struct Reject {
  RejectCode code = RejectCode::sys_fatal;
  std::string message;

  bool operator==(const Reject&) const = default;
  std::string to_string() const;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(code, message);
  }
};

template <class T>
using Result = tl::expected<T, Reject>;

inline tl::unexpected<Reject> make_reject(RejectCode code, std::string message) {
  return tl::unexpected<Reject>(Reject{code, std::move(message)});
}

// Thrown by user code to trap on purpose (R7). Any exception escaping a method is a trap; this
// one just carries a clean message.
struct Trap : std::exception {
  explicit Trap(std::string msg) : message(std::move(msg)) {}
  const char* what() const noexcept override { return message.c_str(); }
  std::string message;
};

}  // namespace canopy
