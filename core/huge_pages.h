// -----------------------------------------------------------------------------
// File: core/huge_pages.h
// -----------------------------------------------------------------------------
//
// Huge chunks: the memory of the record arenas' 2 MiB chunks (where the
// users live), mapped directly, aligned to 2 MiB and advised into
// transparent huge pages (MADV_HUGEPAGE; the common Linux default, THP
// "madvise", honours it).
//
// Why: at 10^6 users the records are some 170 MB read at random. With 4 KiB
// pages every record touched is also a TLB miss; and a fork() (the durable
// store's checkpoint writer) copies one page-table entry per 4 KiB page,
// about 100 ns each on a small virtual machine, while the store is frozen.
// In 2 MiB pages the same fork copies one entry per 2 MiB.
//
// A fork splits them, though: after it, the first write of the parent to a
// huge page that the child still shares maps that range with 4 KiB entries
// (Linux 5.8 and later copy only the 4 KiB page written), and the range
// stays so. The next fork would then copy 4 KiB entries again. So every
// huge chunk is registered here, and CollapseHugeChunks() gathers them back
// into huge pages (MADV_COLLAPSE, Linux 6.1 and later) once the child is
// gone. docs/performance.md ("The checkpoint's fork") has the numbers.
//
// Everything here is advice: where THP is off, MADV_COLLAPSE is missing or
// memory is fragmented, the chunks keep 4 KiB pages and work the same.
//
// Thread safety: every function may be called from any thread.

#ifndef USERSTORE_CORE_HUGE_PAGES_H_
#define USERSTORE_CORE_HUGE_PAGES_H_

#include <cstddef>

namespace userstore {
namespace internal {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// `bytes` rounded up to a multiple of kHugePageBytes.
inline constexpr size_t HugeChunkSize(size_t bytes) {
  return (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
}

// A chunk of `bytes` (a multiple of kHugePageBytes, > 0), aligned to
// kHugePageBytes, advised into huge pages and registered; its pages are
// zero. Returns nullptr when the system has no memory for it (nothing is
// registered then). Complexity: O(1) system calls, O(log chunks) to register.
void* AllocateHugeChunk(size_t bytes) noexcept;

// Unregisters and unmaps a chunk from AllocateHugeChunk(`bytes`) (the same
// `bytes`). Waits, at most, for the collapse of one chunk to finish.
void FreeHugeChunk(void* chunk, size_t bytes) noexcept;

// Asks the kernel to gather every registered chunk back into huge pages, one
// chunk at a time, synchronously. A chunk freed meanwhile is skipped. Meant
// for a background thread after a fork()ed child has exited: each chunk
// costs a 2 MiB copy, during which a page fault of another thread in that
// chunk waits (well under a millisecond a chunk). Returns the number of
// chunks the kernel collapsed or found whole; 0 where it cannot (no THP, no
// MADV_COLLAPSE). Complexity: O(chunks) system calls.
size_t CollapseHugeChunks() noexcept;

// The number of chunks registered and the bytes they hold, for tests.
size_t HugeChunkCount() noexcept;
size_t HugeChunkBytes() noexcept;

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_HUGE_PAGES_H_
