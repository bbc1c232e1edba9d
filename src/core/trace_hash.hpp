// The trace hash's folding functions, inline: folded for every traced event of every message
// (R20), so they sit on the hot path (src/exec records ~5 events per round trip). The public
// canopy::trace_fold / trace_fold_bytes (canopy/trace.hpp) are these same functions.
// The per-field products are independent (they pipeline); one dependent multiply per event.
// Not cryptographic: the hash detects divergence between runs, nothing more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace canopy::detail {

inline uint64_t hash_mix(uint64_t hash, uint64_t v) {
  hash = (hash ^ v) * 0x9E3779B97F4A7C15ULL;
  return hash ^ (hash >> 29);
}

inline uint64_t hash_rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }

// Words instead of bytes; the length goes into the last word, so "a" and "a\0" differ.
inline uint64_t fold_bytes(uint64_t hash, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    hash = hash_mix(hash, w);
  }
  uint64_t tail = n;
  for (size_t k = 0; i < n; ++i, ++k) tail ^= uint64_t{p[i]} << (8 * (k + 1));
  return hash_mix(hash, tail);
}

// One event with its label (a method name, a reject message): the label's words fold into a
// hash of their own, independent of `hash`, so that only the final mix waits for the previous
// event (the running hash is a dependency chain through every event of a canister).
inline uint64_t fold_event_label(uint64_t hash, uint8_t kind, uint8_t reject_code,
                                 uint32_t subnet, uint32_t iteration, uint64_t round,
                                 uint64_t from, uint64_t to, uint64_t call_seq, const void* label,
                                 size_t label_size) {
  const uint64_t a = (uint64_t{kind} | (uint64_t{reject_code} << 8) | (uint64_t{subnet} << 16) |
                      (uint64_t{iteration} << 40)) *
                     0xD6E8FEB86659FD93ULL;
  const uint64_t b = round * 0xA0761D6478BD642FULL;
  const uint64_t c = from * 0xE7037ED1A0B428DBULL;
  const uint64_t d = to * 0x8EBC6AF09C88C6E3ULL;
  const uint64_t f = call_seq * 0x589965CC75374CC3ULL;
  const uint64_t l = fold_bytes(0x1D8E4E27C47D124FULL, label, label_size);
  return hash_mix(hash, a ^ hash_rotl(b, 11) ^ hash_rotl(c, 23) ^ hash_rotl(d, 37) ^
                            hash_rotl(f, 49) ^ hash_rotl(l, 5));
}

}  // namespace canopy::detail
