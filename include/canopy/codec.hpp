// canopy/codec.hpp — payload encoding of call arguments and replies.
//
// Payloads are byte vectors (`Bytes`). Arguments and replies are encoded with cereal's binary
// archive: any type cereal can serialize (scalars, std::string, std::vector, std::map,
// canopy::PMap, user structs with `serialize`) can cross a call edge. No arguments and `void`
// replies encode as the empty payload without touching cereal. `decode` throws
// `MalformedPayload` when the bytes do not hold exactly the expected values; inside a method
// that is a trap, so the caller gets CANISTER_ERROR (R4, R7). Thread-safety: pure functions.
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "canopy/reject.hpp"

namespace canopy {

using Bytes = std::vector<uint8_t>;

struct MalformedPayload : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

// Appends to a Bytes vector; no copy through std::string.
class BytesWriteBuf : public std::streambuf {
 public:
  explicit BytesWriteBuf(Bytes& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.insert(out_.end(), reinterpret_cast<const uint8_t*>(s),
                reinterpret_cast<const uint8_t*>(s) + n);
    return n;
  }
  int_type overflow(int_type ch) override {
    if (ch != traits_type::eof()) out_.push_back(static_cast<uint8_t>(ch));
    return ch;
  }

 private:
  Bytes& out_;
};

class BytesReadBuf : public std::streambuf {
 public:
  BytesReadBuf(const uint8_t* data, size_t size) {
    char* b = const_cast<char*>(reinterpret_cast<const char*>(data));
    setg(b, b, b + size);
  }
  bool at_end() const { return gptr() == egptr(); }
};

}  // namespace detail

namespace detail {
// Types whose cereal binary encoding is exactly their bytes: encoded without cereal (fast path,
// same wire format).
template <class T>
inline constexpr bool raw_codec_v = std::is_arithmetic_v<T> || std::is_enum_v<T>;

template <class... Args>
inline constexpr bool all_raw_v = (raw_codec_v<Args> && ...);

// Constructing a std::ostream/istream costs a locale initialisation; reuse one per thread.
// Re-entrant use (a serialize function that itself encodes) gets a fresh stream.
template <class Stream>
class PooledStream {
 public:
  explicit PooledStream(std::streambuf* buf) {
    thread_local Stream pooled(nullptr);
    thread_local bool busy = false;
    if (!busy) {
      busy_ = &busy;
      busy = true;
      stream_ = &pooled;
      pooled.rdbuf(buf);
      pooled.clear();
    } else {
      own_.emplace(buf);
      stream_ = &*own_;
    }
  }
  ~PooledStream() {
    if (busy_ != nullptr) {
      stream_->rdbuf(nullptr);
      *busy_ = false;
    }
  }
  PooledStream(const PooledStream&) = delete;
  PooledStream& operator=(const PooledStream&) = delete;
  Stream& get() { return *stream_; }

 private:
  Stream* stream_ = nullptr;
  bool* busy_ = nullptr;
  std::optional<Stream> own_;
};
}  // namespace detail

namespace detail {
// Recycled payload buffers: encode() takes its vector from a small per-thread cache, and the
// runtime gives back the buffers of payloads it has consumed (a request's arguments once the
// method has decoded them, a reply once the call's result is decoded). A round trip's two
// payloads then cost no malloc/free in steady state (and the runtime carries payloads of up to
// 23 bytes inline, without a buffer at all: detail/payload.hpp). A taken buffer is always
// empty; only its capacity is reused. Bounded: at most `max_buffers` buffers of at most
// `max_capacity` bytes.
struct BufferCache {
  static constexpr size_t max_buffers = 64;
  static constexpr size_t max_capacity = 256;
  std::vector<Bytes> free;
};
inline BufferCache& buffer_cache() {
  thread_local BufferCache cache;
  return cache;
}
inline Bytes take_buffer() {
  BufferCache& c = buffer_cache();
  if (c.free.empty()) return {};
  Bytes b = std::move(c.free.back());
  c.free.pop_back();
  b.clear();
  return b;
}
inline void recycle_buffer(Bytes&& b) noexcept {
  if (b.capacity() == 0 || b.capacity() > BufferCache::max_capacity) return;
  BufferCache& c = buffer_cache();
  if (c.free.size() >= BufferCache::max_buffers) return;
  if (c.free.capacity() == 0) {
    try {
      c.free.reserve(BufferCache::max_buffers);
    } catch (...) {
      return;  // no memory for the cache: the buffer is simply freed
    }
  }
  c.free.push_back(std::move(b));  // within the reserved capacity: cannot throw
}
}  // namespace detail

namespace detail {
// The encoding of raw-codec values: their bytes one after the other (cereal's binary format).
template <class... Args>
void write_raw(uint8_t* out, const Args&... args) {
  size_t at = 0;
  ((std::memcpy(out + at, &args, sizeof(Args)), at += sizeof(Args)), ...);
}
}  // namespace detail

template <class... Args>
Bytes encode(const Args&... args) {
  Bytes out = detail::take_buffer();
  if constexpr (sizeof...(Args) > 0 && detail::all_raw_v<Args...>) {
    out.resize((sizeof(Args) + ...));
    detail::write_raw(out.data(), args...);
  } else if constexpr (sizeof...(Args) > 0) {
    detail::BytesWriteBuf buf(out);
    detail::PooledStream<std::ostream> os(&buf);
    cereal::BinaryOutputArchive ar(os.get());
    ar(args...);
  }
  return out;
}

namespace detail {
// Out of line and cold, so that the fixed-size decode below stays a few moves that inline into
// its caller (the reply of every call goes through it).
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_payload_size(size_t expected, size_t got) {
  throw MalformedPayload("malformed payload: expected " + std::to_string(expected) +
                         " bytes, got " + std::to_string(got));
}
// decode_tuple of `size` bytes at `data` (the runtime's inline payloads, detail/payload.hpp).
template <class... Args>
std::tuple<Args...> decode_view(const uint8_t* data, size_t size) {
  std::tuple<Args...> values;
  if constexpr (sizeof...(Args) > 0 && detail::all_raw_v<Args...>) {
    constexpr size_t total = (sizeof(Args) + ...);
    if (size != total) throw_payload_size(total, size);
    size_t at = 0;
    std::apply([&](auto&... v) { ((std::memcpy(&v, data + at, sizeof(v)), at += sizeof(v)), ...); },
               values);
  } else if constexpr (sizeof...(Args) > 0) {
    detail::BytesReadBuf buf(data, size);
    {
      detail::PooledStream<std::istream> is(&buf);
      try {
        cereal::BinaryInputArchive ar(is.get());
        std::apply([&](auto&... v) { ar(v...); }, values);
      } catch (const std::exception& e) {
        throw MalformedPayload(std::string("malformed payload: ") + e.what());
      }
    }
    if (!buf.at_end()) throw MalformedPayload("malformed payload: trailing bytes");
  } else {
    if (size != 0) throw MalformedPayload("malformed payload: expected no arguments");
  }
  return values;
}
}  // namespace detail

// Decodes exactly the values `Args...` from `bytes`; throws MalformedPayload on short or
// trailing input.
template <class... Args>
std::tuple<Args...> decode_tuple(const Bytes& bytes) {
  return detail::decode_view<Args...>(bytes.data(), bytes.size());
}

template <class T>
T decode(const Bytes& bytes) {
  if constexpr (std::is_void_v<T>) {
    decode_tuple<>(bytes);
  } else {
    return std::get<0>(decode_tuple<T>(bytes));
  }
}

// The typed outcome of a call, an update or a query from its raw outcome: a reject stays the
// same reject; a reply that does not decode as `R` becomes SYS_FATAL "reply could not be
// decoded: ..." (never an exception). Used by Runtime, RealtimeDriver and QueryService.
template <class R>
Result<R> decode_result(const Result<Bytes>& raw) {
  if (!raw) return tl::unexpected<Reject>(raw.error());
  try {
    if constexpr (std::is_void_v<R>) {
      decode<void>(*raw);
      return {};
    } else {
      return decode<R>(*raw);
    }
  } catch (const MalformedPayload& e) {
    return make_reject(RejectCode::sys_fatal,
                       std::string("reply could not be decoded: ") + e.what());
  }
}

}  // namespace canopy
