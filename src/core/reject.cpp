#include "canopy/reject.hpp"

namespace canopy {

std::string_view to_string(RejectCode code) {
  switch (code) {
    case RejectCode::sys_fatal: return "SYS_FATAL";
    case RejectCode::sys_transient: return "SYS_TRANSIENT";
    case RejectCode::destination_invalid: return "DESTINATION_INVALID";
    case RejectCode::canister_reject: return "CANISTER_REJECT";
    case RejectCode::canister_error: return "CANISTER_ERROR";
    case RejectCode::sys_unknown: return "SYS_UNKNOWN";
  }
  return "UNKNOWN_CODE";
}

std::string Reject::to_string() const {
  return std::string(canopy::to_string(code)) + " (" + std::to_string(static_cast<int>(code)) +
         "): " + message;
}

}  // namespace canopy
