// detail::Payload — call arguments and replies inside the runtime (R1-R3 carry them): tested
// like a library against Bytes, across the inline/heap boundary and through every copy, move
// and assignment between the two forms (ASan sees a leak or a double free).
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <canopy/detail/payload.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace {

using canopy::Bytes;
using canopy::detail::Payload;

Bytes bytes_of(const Payload& p) {
  return Bytes(p.data(), p.data() + p.size());
}

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>(i * 7 + 1);
  return b;
}

TEST(CorePayload, BytesUpToInlineMaxStayInsideLongerOnesKeepTheirBuffer) {
  for (size_t n : {size_t{0}, size_t{1}, Payload::inline_max - 1, Payload::inline_max,
                   Payload::inline_max + 1, size_t{1000}}) {
    const Bytes src = pattern(n);
    const Payload copied = Payload::copy_of(src);
    EXPECT_EQ(copied.is_inline(), n <= Payload::inline_max) << n;
    EXPECT_EQ(copied.size(), n);
    EXPECT_EQ(bytes_of(copied), src) << n;

    Bytes moved_in = src;
    const uint8_t* buffer = moved_in.data();
    const Payload adopted(std::move(moved_in));
    EXPECT_FALSE(adopted.is_inline()) << "a Bytes moved in keeps its buffer, whatever its size";
    if (n > 0) {
      EXPECT_EQ(adopted.data(), buffer) << "no copy";
    }
    EXPECT_EQ(bytes_of(adopted), src);
    EXPECT_TRUE(adopted == copied);
  }
  EXPECT_EQ(sizeof(Payload), sizeof(Bytes) + alignof(Bytes)) << "a Bytes and a length byte";
}

TEST(CorePayload, CopiesMovesAndAssignmentsBetweenTheFormsKeepTheBytes) {
  const Bytes small = pattern(5);
  const Bytes large = pattern(100);
  const std::vector<Payload> samples = {Payload(), Payload::copy_of(small), Payload(Bytes(small)),
                                        Payload::copy_of(large)};
  for (const Payload& a : samples) {
    for (const Payload& b : samples) {
      Payload x = a;  // copy
      EXPECT_TRUE(x == a);
      Payload y = std::move(x);  // move
      EXPECT_TRUE(y == a);
      y = b;  // copy-assign across forms
      EXPECT_TRUE(y == b);
      Payload z = a;
      z = std::move(y);  // move-assign across forms
      EXPECT_TRUE(z == b);
      z = z;  // self-assignment
      EXPECT_TRUE(z == b);
      z = std::move(z);
      EXPECT_TRUE(z == b);
    }
  }
}

TEST(CorePayload, ToBytesGivesTheBufferBackAndRecycleEmpties) {
  Bytes large = pattern(64);
  const uint8_t* buffer = large.data();
  Payload p(std::move(large));
  Bytes out = std::move(p).to_bytes();
  EXPECT_EQ(out.data(), buffer) << "the buffer itself, not a copy";
  EXPECT_EQ(out, pattern(64));

  Payload small = Payload::copy_of(pattern(3));
  EXPECT_EQ(std::move(small).to_bytes(), pattern(3));

  for (Payload q : {Payload::copy_of(pattern(3)), Payload::copy_of(pattern(64))}) {
    q.recycle();
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(q.is_inline());
    Payload r = q;  // still a valid value
    EXPECT_TRUE(r.empty());
  }
}

// The runtime's typed calls encode with encode_payload and decode with decode_payload; what
// they carry must be exactly canopy::encode's bytes, inline or not.
TEST(CorePayload, EncodePayloadIsCanopyEncodeInlineWhenScalarsFit) {
  using canopy::detail::decode_payload;
  using canopy::detail::encode_payload;
  const uint64_t a = 0x0102030405060708ULL;
  const uint32_t b = 0xA0B0C0D0U;
  const uint16_t c = 0xBEEF;
  const uint8_t d = 0x42;
  {
    const Payload p = encode_payload(a);
    EXPECT_TRUE(p.is_inline());
    EXPECT_EQ(bytes_of(p), canopy::encode(a));
    EXPECT_EQ(decode_payload<uint64_t>(p), a);
  }
  {
    const Payload p = encode_payload(a, a, b, c, d);  // 23 bytes: exactly inline_max
    static_assert(Payload::inline_max == 23);
    EXPECT_TRUE(p.is_inline());
    EXPECT_EQ(bytes_of(p), canopy::encode(a, a, b, c, d));
  }
  {
    const Payload p = encode_payload(a, a, a);  // 24 bytes: one too many
    EXPECT_FALSE(p.is_inline());
    EXPECT_EQ(bytes_of(p), canopy::encode(a, a, a));
  }
  {
    const std::string s = "not a scalar";
    const Payload p = encode_payload(s);
    EXPECT_EQ(bytes_of(p), canopy::encode(s));
    EXPECT_EQ(decode_payload<std::string>(p), s);
  }
  EXPECT_TRUE(encode_payload().empty());
  EXPECT_NO_THROW(decode_payload<void>(Payload()));
  EXPECT_THROW(decode_payload<uint64_t>(encode_payload(b)), canopy::MalformedPayload)
      << "4 bytes are not a uint64_t";
  EXPECT_THROW(decode_payload<void>(encode_payload(d)), canopy::MalformedPayload);
}

// Property: any sequence of payload operations leaves the bytes a Bytes model would hold.
TEST(CorePayload, RandomOperationsMatchABytesModel) {
  const bool ok = rc::check(
      [](const std::vector<std::vector<uint8_t>>& inputs, const std::vector<uint8_t>& ops) {
        std::vector<Payload> ps;
        std::vector<Bytes> model;
        for (const auto& in : inputs) {
          ps.push_back(in.size() % 2 ? Payload::copy_of(in) : Payload(Bytes(in)));
          model.push_back(in);
        }
        if (ps.empty()) return;
        for (size_t k = 0; k < ops.size(); ++k) {
          const size_t i = k % ps.size();
          const size_t j = (k * 31 + ops[k]) % ps.size();
          switch (ops[k] % 5) {
            case 0:
              ps[i] = ps[j];
              model[i] = model[j];
              break;
            case 1:
              if (i != j) {
                ps[i] = std::move(ps[j]);
                model[i] = model[j];
                ps[j] = Payload::copy_of(model[j]);
              }
              break;
            case 2: {
              Payload t(std::move(ps[i]));
              ps[i] = std::move(ps[j]);
              ps[j] = std::move(t);
              std::swap(model[i], model[j]);
            } break;
            case 3:
              ps[i].recycle();
              model[i].clear();
              break;
            case 4:
              ps[i] = Payload(std::move(ps[i]).to_bytes());
              break;
          }
        }
        for (size_t i = 0; i < ps.size(); ++i)
          RC_ASSERT(bytes_of(ps[i]) == model[i]);
      });
  EXPECT_TRUE(ok);
}

}  // namespace
