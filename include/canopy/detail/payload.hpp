// canopy/detail/payload.hpp — Payload: the bytes of a call's arguments or of its reply while
// the runtime carries them (in a request, a response, a call slot). Not for users: their type
// is canopy::Bytes, and every public entry point still takes and gives Bytes.
//
// Up to `inline_max` bytes live inside the object itself: the typed calls of scalars (most
// calls) then take no buffer, no allocation and no buffer-cache round trip. Longer payloads
// keep their Bytes (moved in, never copied). Either way `data()`/`size()` are the same bytes
// that `canopy::encode` produces, so decoding does not care which form it reads.
//
// A value type: copy, move, destroy. Thread-safety: none needed (one owner at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "canopy/codec.hpp"

namespace canopy::detail {

class Payload {
 public:
  // The inline bytes share the storage of a Bytes (24 bytes); 23 of them carry a payload, which
  // fits every scalar argument list up to e.g. (uint64, uint64, uint32, uint16, uint8).
  static constexpr size_t inline_max = sizeof(Bytes) - 1;

  Payload() noexcept : len_(0) {}
  // Takes over `b`'s buffer.
  Payload(Bytes&& b) noexcept : len_(heap_tag) { new (&heap_) Bytes(std::move(b)); }
  // A copy of `n` bytes: inline when they fit.
  static Payload copy_of(const uint8_t* data, size_t n) {
    Payload p;
    if (n <= inline_max) {
      if (n > 0) std::memcpy(p.inline_, data, n);
      p.len_ = static_cast<uint8_t>(n);
    } else {
      p.len_ = heap_tag;
      new (&p.heap_) Bytes(data, data + n);
    }
    return p;
  }
  static Payload copy_of(const Bytes& b) { return copy_of(b.data(), b.size()); }

  Payload(const Payload& o) : len_(o.len_) {
    if (o.is_heap()) {
      new (&heap_) Bytes(o.heap_);
    } else {
      std::memcpy(inline_, o.inline_, sizeof(inline_));
    }
  }
  [[gnu::always_inline]] Payload(Payload&& o) noexcept : len_(o.len_) {
    if (o.is_heap()) {
      new (&heap_) Bytes(std::move(o.heap_));
    } else {
      std::memcpy(inline_, o.inline_, sizeof(inline_));
    }
  }
  Payload& operator=(const Payload& o) {
    if (this != &o) *this = Payload(o);
    return *this;
  }
  [[gnu::always_inline]] Payload& operator=(Payload&& o) noexcept {
    if (this != &o) {
      this->~Payload();
      new (this) Payload(std::move(o));
    }
    return *this;
  }
  [[gnu::always_inline]] ~Payload() {
    if (is_heap()) heap_.~Bytes();
  }

  size_t size() const { return is_heap() ? heap_.size() : len_; }
  bool empty() const { return size() == 0; }
  const uint8_t* data() const { return is_heap() ? heap_.data() : inline_; }
  bool is_inline() const { return !is_heap(); }

  // The bytes as a Bytes: the buffer itself when there is one.
  Bytes to_bytes() && {
    if (is_heap()) return std::move(heap_);
    return Bytes(inline_, inline_ + len_);
  }
  // Done with the bytes: a buffer goes back to the per-thread cache (codec.hpp). The payload is
  // empty afterwards.
  [[gnu::always_inline]] void recycle() noexcept {
    if (is_heap()) [[unlikely]] {
      recycle_buffer(std::move(heap_));
      heap_.~Bytes();
    }
    len_ = 0;
  }

  friend bool operator==(const Payload& a, const Payload& b) {
    return a.size() == b.size() &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }

 private:
  static constexpr uint8_t heap_tag = 0xFF;
  static_assert(inline_max < heap_tag);
  bool is_heap() const { return len_ == heap_tag; }

  union {
    Bytes heap_;
    uint8_t inline_[inline_max + 1];
  };
  uint8_t len_;  // the inline length, or heap_tag
};

// canopy::encode into a Payload: scalars that fit are written inline, without a buffer.
template <class... Args>
Payload encode_payload(const Args&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return Payload();
  } else if constexpr (all_raw_v<Args...> && (sizeof(Args) + ...) <= Payload::inline_max) {
    uint8_t bytes[(sizeof(Args) + ...)];
    write_raw(bytes, args...);
    return Payload::copy_of(bytes, sizeof(bytes));
  } else {
    return Payload(encode(args...));
  }
}

// canopy::decode / decode_result from a Payload.
template <class T>
[[gnu::always_inline]] inline T decode_payload(const Payload& p) {
  if constexpr (std::is_void_v<T>) {
    decode_view<>(p.data(), p.size());
  } else {
    return std::get<0>(decode_view<T>(p.data(), p.size()));
  }
}

inline Result<Bytes> to_bytes_result(Result<Payload>&& r) {
  if (!r) return tl::unexpected<Reject>(std::move(r.error()));
  return std::move(*r).to_bytes();
}
inline Result<Payload> to_payload_result(Result<Bytes>&& r) {
  if (!r) return tl::unexpected<Reject>(std::move(r.error()));
  return Payload(std::move(*r));
}

}  // namespace canopy::detail
