// RecordArena: blocks are aligned and disjoint, freed blocks are reused by
// their size class, large blocks bypass the chunks, chunks grow to huge
// chunks aligned to 2 MiB, and (under AddressSanitizer) a freed block is
// poisoned.

#include "core/record_arena.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace userstore {
namespace internal {
namespace {

TEST(RecordArenaTest, BlocksAreAlignedDisjointAndKeepTheirBytes) {
  RecordArena arena;
  std::vector<std::pair<unsigned char*, size_t>> blocks;
  for (size_t i = 0; i < 5000; ++i) {
    const size_t bytes = 1 + (i * 37) % 700;
    auto* p = static_cast<unsigned char*>(arena.Allocate(bytes));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << bytes;
    std::memset(p, static_cast<int>(i & 0xFF), bytes);
    blocks.emplace_back(p, bytes);
  }
  // Every block still holds its own pattern: none overlapped another.
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto [p, bytes] = blocks[i];
    for (size_t b = 0; b < bytes; ++b) ASSERT_EQ(p[b], i & 0xFF) << "block " << i;
  }
  for (const auto& [p, bytes] : blocks) arena.Free(p, bytes);
}

TEST(RecordArenaTest, AFreedBlockIsReusedByItsSizeClassOnly) {
  RecordArena arena;
  void* a = arena.Allocate(180);  // class 192
  void* b = arena.Allocate(100);  // class 112
  arena.Free(a, 180);
  EXPECT_NE(arena.Allocate(100), a);  // another class: not reused
  EXPECT_EQ(arena.Allocate(177), a);  // same class (192): reused
  arena.Free(b, 100);
  EXPECT_EQ(arena.Allocate(112), b);
}

TEST(RecordArenaTest, AFreeListHandsBackTheLastFreedBlockFirstThenCarves) {
  RecordArena arena;
  void* a = arena.Allocate(64);
  void* b = arena.Allocate(64);
  void* c = arena.Allocate(64);
  arena.Free(a, 64);
  arena.Free(b, 64);
  arena.Free(c, 64);
  EXPECT_EQ(arena.Allocate(64), c);
  EXPECT_EQ(arena.Allocate(64), b);
  EXPECT_EQ(arena.Allocate(64), a);
  // The list is empty again: the next block is a new one.
  void* d = arena.Allocate(64);
  EXPECT_NE(d, a);
  EXPECT_NE(d, b);
  EXPECT_NE(d, c);
  arena.Free(d, 64);
  EXPECT_EQ(arena.Allocate(64), d);
}

TEST(RecordArenaTest, LargeBlocksBypassTheChunks) {
  RecordArena arena;
  const size_t before = arena.chunk_bytes();
  void* big = arena.Allocate(RecordArena::kMaxSmallBytes + 1);
  ASSERT_NE(big, nullptr);
  std::memset(big, 0x5A, RecordArena::kMaxSmallBytes + 1);
  EXPECT_EQ(arena.chunk_bytes(), before);
  arena.Free(big, RecordArena::kMaxSmallBytes + 1);
}

TEST(RecordArenaTest, ChunksGrowToAlignedHugeChunks) {
  RecordArena arena;
  std::vector<void*> blocks;
  // 192-byte records until well past the first huge chunk.
  const size_t n = 3 * RecordArena::kHugeChunkBytes / 192;
  for (size_t i = 0; i < n; ++i) {
    void* p = arena.Allocate(192);
    blocks.push_back(p);
    static_cast<char*>(p)[0] = 1;
    static_cast<char*>(p)[191] = 2;
  }
  EXPECT_GE(arena.chunk_bytes(), n * 192);
  // Growth is geometric: far fewer bytes reserved than twice what is used.
  EXPECT_LE(arena.chunk_bytes(), 2 * n * 192 + RecordArena::kHugeChunkBytes);
  // Huge chunks are aligned to 2 MiB: some 2 MiB-aligned region is filled
  // with blocks from end to end (all but the tail that cannot hold one).
  std::map<uintptr_t, size_t> per_region;
  for (void* p : blocks) {
    ++per_region[reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{RecordArena::kHugeChunkBytes} - 1)];
  }
  size_t fullest = 0;
  for (const auto& [region, count] : per_region) fullest = std::max(fullest, count);
  EXPECT_EQ(fullest, RecordArena::kHugeChunkBytes / 192);
  // The arena's destructor releases everything, freed or not.
  for (size_t i = 0; i < blocks.size(); i += 2) arena.Free(blocks[i], 192);
}

#if defined(__SANITIZE_ADDRESS__)
TEST(RecordArenaDeathTest, UseAfterFreeIsReported) {
  EXPECT_DEATH(
      {
        RecordArena arena;
        auto* p = static_cast<volatile char*>(arena.Allocate(64));
        arena.Free(const_cast<char*>(p), 64);
        p[32] = 1;
      },
      "use-after-poison");
}
#endif

}  // namespace
}  // namespace internal
}  // namespace userstore
