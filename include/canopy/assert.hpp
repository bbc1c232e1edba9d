// canopy/assert.hpp — assertions that stay on in every build (DESIGN §4).
//
// CANOPY_ASSERT(cond, msg) aborts the process with file:line and the message when `cond` is
// false. It is for programmer errors only (broken invariants inside canopy); errors caused by
// input are values (Result / Reject), and errors in user canister code are traps (R7).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace canopy::detail {
[[noreturn]] inline void assert_fail(const char* expr, const char* msg, const char* file,
                                     int line) {
  std::fprintf(stderr, "canopy: assertion failed: %s (%s) at %s:%d\n", expr, msg, file, line);
  std::abort();
}
}  // namespace canopy::detail

#define CANOPY_ASSERT(cond, msg)                                                  \
  do {                                                                            \
    if (!(cond)) ::canopy::detail::assert_fail(#cond, (msg), __FILE__, __LINE__); \
  } while (0)
