// The trace hash's folding functions, inline: folded for every traced event of every message
// (R20), so they sit on the hot path (src/exec records ~5 events per round trip). The public
// canopy::trace_fold / trace_fold_bytes (canopy/trace.hpp) are these same functions.
// The per-field products are independent (they pipeline); one dependent multiply per event.
// Not cryptographic: the hash detects divergence between runs, nothing more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "canopy/trace.hpp"

namespace canopy::detail {

// Whether an event's label takes part in the hash. A request's method name is folded once, when
// the request is sent; its induction and execution are identified by (from, call_seq), which
// the request_sent event already tied to that name, so hashing the name again adds nothing.
constexpr bool label_is_hashed(TraceKind kind) {
  return kind != TraceKind::request_inducted && kind != TraceKind::execute_request;
}

inline uint64_t hash_mix(uint64_t hash, uint64_t v) {
  hash = (hash ^ v) * 0x9E3779B97F4A7C15ULL;
  return hash ^ (hash >> 29);
}

inline uint64_t hash_rotl(uint64_t v, int r) {
  return (v << r) | (v >> (64 - r));
}

// Words instead of bytes; the length goes into the last word, so "a" and "a\0" differ. A tail
// of 4..7 bytes is read as two overlapping 4-byte words, 1..3 bytes as first/middle/last byte:
// no loop over the bytes of a short label (method names usually are).
inline uint64_t fold_bytes(uint64_t hash, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    hash = hash_mix(hash, w);
  }
  const size_t r = n - i;
  uint64_t tail = 0;
  if (r >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p + i, 4);
    std::memcpy(&hi, p + n - 4, 4);
    tail = uint64_t{lo} | (uint64_t{hi} << 32);
  } else if (r > 0) {
    tail = uint64_t{p[i]} | (uint64_t{p[i + r / 2]} << 8) | (uint64_t{p[n - 1]} << 16);
  }
  return hash_mix(hash, tail ^ hash_rotl(uint64_t{n} * 0x9FB21C651E98DF25ULL, 17));
}

// One event with its label (a method name, a reject message). Four independent products and
// one dependent mix per event: the running hash is a dependency chain through every event of a
// canister, so only the final mix waits for the previous event. The label's words fold into a
// hash of their own first (only for labelled events). The subnet is not folded: a canister's
// events are folded into its own hash, and its subnet is part of the configuration.
inline uint64_t fold_event_label(uint64_t hash, uint8_t kind, uint8_t reject_code,
                                 uint32_t /*subnet*/, uint32_t iteration, uint64_t round,
                                 uint64_t from, uint64_t to, uint64_t call_seq, const void* label,
                                 size_t label_size) {
  const uint64_t head =
      uint64_t{kind} | (uint64_t{reject_code} << 8) | (uint64_t{iteration} << 16) | (round << 40);
  uint64_t v = head * 0xD6E8FEB86659FD93ULL ^ from * 0xE7037ED1A0B428DBULL ^
               to * 0x8EBC6AF09C88C6E3ULL ^ call_seq * 0x589965CC75374CC3ULL;
  if (label_size != 0) v ^= hash_rotl(fold_bytes(0x1D8E4E27C47D124FULL, label, label_size), 5);
  return hash_mix(hash, v);
}

}  // namespace canopy::detail
