// Huge chunks (core/huge_pages.h): alignment, the registry, the arenas that
// use them, and the collapse after a fork that a forked checkpoint relies on.

#include "core/huge_pages.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/tsan_absl_mutex.h"
#include <gtest/gtest.h>

#include "core/record_arena.h"

#if defined(__linux__)
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace userstore {
namespace internal {
namespace {

TEST(HugePagesTest, ChunksAreAlignedZeroedAndRegistered) {
  const size_t count = HugeChunkCount();
  const size_t bytes = HugeChunkBytes();
  void* a = AllocateHugeChunk(kHugePageBytes);
  void* b = AllocateHugeChunk(3 * kHugePageBytes);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % kHugePageBytes, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % kHugePageBytes, 0u);
  const auto* p = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < 3 * kHugePageBytes; i += 4093) ASSERT_EQ(p[i], 0) << i;
  std::memset(a, 0xAB, kHugePageBytes);  // all of it is ours to write
  EXPECT_EQ(HugeChunkCount(), count + 2);
  EXPECT_EQ(HugeChunkBytes(), bytes + 4 * kHugePageBytes);
  FreeHugeChunk(a, kHugePageBytes);
  EXPECT_EQ(HugeChunkCount(), count + 1);
  FreeHugeChunk(b, 3 * kHugePageBytes);
  EXPECT_EQ(HugeChunkCount(), count);
  EXPECT_EQ(HugeChunkBytes(), bytes);
  FreeHugeChunk(nullptr, kHugePageBytes);  // nothing
}

TEST(HugePagesTest, ChunkSizeRoundsUpToWholeHugePages) {
  EXPECT_EQ(HugeChunkSize(1), kHugePageBytes);
  EXPECT_EQ(HugeChunkSize(kHugePageBytes), kHugePageBytes);
  EXPECT_EQ(HugeChunkSize(kHugePageBytes + 1), 2 * kHugePageBytes);
}

TEST(HugePagesTest, ArenaChunksOfTwoMebibytesAreHugeChunks) {
  const size_t count = HugeChunkCount();
  {
    RecordArena arena;
    // Chunks grow from 16 KiB to 2 MiB; past ~4 MiB of records the arena
    // holds huge chunks, and they are registered.
    for (int i = 0; i < 40000; ++i) ASSERT_NE(arena.Allocate(128), nullptr);
    EXPECT_GE(HugeChunkCount(), count + 1);
    EXPECT_GE(HugeChunkBytes(), RecordArena::kHugeChunkBytes);
  }
  EXPECT_EQ(HugeChunkCount(), count);  // the arena's destruction unregistered them
}

TEST(HugePagesTest, CollapseRacesWithAllocateAndFree) {
  // CollapseHugeChunks must never touch a chunk while it is being unmapped
  // (ThreadSanitizer and AddressSanitizer watch the registry here).
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) {
      void* chunk = AllocateHugeChunk(kHugePageBytes);
      ASSERT_NE(chunk, nullptr);
      static_cast<char*>(chunk)[0] = 1;
      FreeHugeChunk(chunk, kHugePageBytes);
    }
  });
  for (int i = 0; i < 50; ++i) (void)CollapseHugeChunks();
  stop.store(true);
  churn.join();
}

#if defined(__linux__)
// The kB of anonymous huge pages mapped at `address`, from /proc/self/smaps;
// -1 when the mapping is not found.
long AnonHugeKbAt(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  const uintptr_t at = reinterpret_cast<uintptr_t>(address);
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0;
    uintptr_t end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> begin >> dash >> end && dash == '-') {
      in = begin <= at && at < end;
      continue;
    }
    if (in && line.rfind("AnonHugePages:", 0) == 0) {
      return std::stol(line.substr(std::strlen("AnonHugePages:")));
    }
  }
  return -1;
}

TEST(HugePagesTest, CollapseGathersWhatAForkSplit) {
  char* chunk = static_cast<char*>(AllocateHugeChunk(kHugePageBytes));
  ASSERT_NE(chunk, nullptr);
  std::memset(chunk, 1, kHugePageBytes);
  if (AnonHugeKbAt(chunk) != 2048) {
    FreeHugeChunk(chunk, kHugePageBytes);
    GTEST_SKIP() << "no transparent huge page here (THP off or memory fragmented)";
  }
  // A child shares the page until it exits; the parent's write meanwhile
  // splits the mapping into 4 KiB entries.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte;
    (void)!read(pipe_fds[0], &byte, 1);
    _exit(0);
  }
  chunk[4096] = 2;
  const long split = AnonHugeKbAt(chunk);
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  if (split != 0) {
    FreeHugeChunk(chunk, kHugePageBytes);
    GTEST_SKIP() << "this kernel copies the whole huge page on a write after fork() (before "
                    "Linux 5.8): nothing is split, nothing to gather";
  }
  const size_t collapsed = CollapseHugeChunks();
  if (collapsed == 0) {
    FreeHugeChunk(chunk, kHugePageBytes);
    GTEST_SKIP() << "MADV_COLLAPSE is not available here (Linux 6.1 and later)";
  }
  EXPECT_EQ(AnonHugeKbAt(chunk), 2048);
  EXPECT_EQ(chunk[4096], 2);  // the contents are kept
  EXPECT_EQ(chunk[4095], 1);
  EXPECT_EQ(chunk[kHugePageBytes - 1], 1);
  FreeHugeChunk(chunk, kHugePageBytes);
}
#endif

}  // namespace
}  // namespace internal
}  // namespace userstore
