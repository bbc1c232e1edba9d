// The per-thread payload buffer cache behind canopy::encode (include/canopy/codec.hpp):
// recycled buffers come back empty, the cache is bounded in count and in buffer size, and the
// encoding is the same whether a buffer is fresh or recycled.
#include <gtest/gtest.h>

#include <canopy/codec.hpp>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

using canopy::Bytes;
namespace d = canopy::detail;

void drain_cache() {
  d::buffer_cache().free.clear();
}

TEST(CodecBufferCache, RecycledBufferComesBackEmptyWithItsCapacity) {
  drain_cache();
  Bytes b(100, 0xAB);
  const auto* storage = b.data();
  d::recycle_buffer(std::move(b));
  Bytes again = d::take_buffer();
  EXPECT_TRUE(again.empty());
  EXPECT_GE(again.capacity(), 100u);
  EXPECT_EQ(again.data(), storage);  // the same storage, reused
  EXPECT_TRUE(d::take_buffer().capacity() == 0);  // the cache is empty again
}

TEST(CodecBufferCache, KeepsAtMostMaxBuffersOfAtMostMaxCapacity) {
  drain_cache();
  d::recycle_buffer(Bytes(d::BufferCache::max_capacity + 1));  // too big: freed, not kept
  d::recycle_buffer(Bytes{});                                  // no storage: nothing to keep
  EXPECT_TRUE(d::buffer_cache().free.empty());
  for (size_t i = 0; i < 2 * d::BufferCache::max_buffers; ++i) d::recycle_buffer(Bytes(8));
  EXPECT_EQ(d::buffer_cache().free.size(), d::BufferCache::max_buffers);
  drain_cache();
}

TEST(CodecBufferCache, EncodingIsTheSameWithARecycledBuffer) {
  drain_cache();
  const Bytes fresh = canopy::encode(uint64_t{42}, std::string("ping"), std::vector<int>{1, 2});
  d::recycle_buffer(Bytes(200, 0xFF));  // dirty bytes must not leak into the next encoding
  const Bytes recycled = canopy::encode(uint64_t{42}, std::string("ping"), std::vector<int>{1, 2});
  EXPECT_EQ(fresh, recycled);
  const Bytes raw_fresh = canopy::encode(uint64_t{7});
  d::recycle_buffer(Bytes(64, 0xFF));
  EXPECT_EQ(canopy::encode(uint64_t{7}), raw_fresh);
  drain_cache();
}

TEST(CodecBufferCache, EachThreadHasItsOwnCache) {
  drain_cache();
  d::recycle_buffer(Bytes(16));
  size_t seen_by_other = 99;
  std::thread t([&] { seen_by_other = d::buffer_cache().free.size(); });
  t.join();
  EXPECT_EQ(seen_by_other, 0u);
  EXPECT_EQ(d::buffer_cache().free.size(), 1u);
  drain_cache();
}

}  // namespace
