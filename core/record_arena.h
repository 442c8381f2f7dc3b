// -----------------------------------------------------------------------------
// File: core/record_arena.h
// -----------------------------------------------------------------------------
//
// `RecordArena`: where the user records of one service live. Records are
// carved one after the other out of chunks that grow from 16 KiB to 2 MiB;
// chunks of 2 MiB are mapped directly (mmap on Linux), aligned to 2 MiB and
// marked `MADV_HUGEPAGE`, so that a large service sits in huge pages (the
// common Linux default, THP "madvise", honours the advice). Being mapped,
// not malloc'ed, they do not show in malloc statistics (mallinfo2); the
// process's resident size does show them. A freed block goes to a free list of its size class
// (16-byte steps) and is reused by the next record of that size.
//
// Why (docs/performance.md has the numbers): at 10^6 users a fetch is mostly
// misses on records spread over ~190 MB; with 4 KiB pages each is a TLB miss
// as well, and with malloc a list walk jumps around the heap. Records made
// in creation order by one service now sit together, in few pages.
//
// Blocks larger than kMaxSmallBytes (users with very large attributes) come
// from `operator new` directly. Memory goes back to the system only when the
// arena is destroyed (with its service); a service that shrinks keeps its
// chunks for its next users.
//
// Under AddressSanitizer the free space of a chunk and every freed block are
// poisoned, so a use after free of a record is still reported.
//
// Thread safety: none. The store calls it under the owning service's lock,
// held exclusively (core/store_impl.h).
//
// Complexity: Allocate and Free are O(1).

#ifndef USERSTORE_CORE_RECORD_ARENA_H_
#define USERSTORE_CORE_RECORD_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/intrusive/slist.hpp>

#include "core/huge_pages.h"

namespace userstore {
namespace internal {

class RecordArena {
 public:
  static constexpr size_t kGranule = 16;
  static constexpr size_t kMaxSmallBytes = 2048;
  static constexpr size_t kFirstChunkBytes = size_t{16} << 10;
  static constexpr size_t kHugeChunkBytes = kHugePageBytes;  // a chunk of core/huge_pages.h

  RecordArena() = default;
  ~RecordArena();
  RecordArena(const RecordArena&) = delete;
  RecordArena& operator=(const RecordArena&) = delete;

  // The size a block of `bytes` really takes (rounded up to kGranule).
  static size_t BlockSize(size_t bytes) { return (bytes + kGranule - 1) & ~(kGranule - 1); }

  // A block of at least `bytes`, aligned to 16. Throws std::bad_alloc when
  // memory runs out (nothing changes then).
  void* Allocate(size_t bytes);
  // Returns a block from Allocate(`bytes`) (the same `bytes`).
  void Free(void* block, size_t bytes) noexcept;

  // Bytes of chunks held (used, free, or not yet carved), for tests.
  size_t chunk_bytes() const { return chunk_bytes_; }

 private:
  // A freed block, as its free list sees it: the list's link is written in
  // the block's own first bytes (a base hook, normal_link: nothing but the
  // link is written, on free, and nothing when the block is handed out).
  struct FreeBlock : boost::intrusive::slist_base_hook<
                         boost::intrusive::link_mode<boost::intrusive::normal_link>> {};
  // One pointer: null-terminated (linear), no size, no tail. Owns nothing:
  // the blocks belong to the chunks.
  using FreeList = boost::intrusive::slist<FreeBlock, boost::intrusive::linear<true>,
                                           boost::intrusive::constant_time_size<false>>;
  struct Chunk {
    void* base;
    size_t bytes;
  };
  static constexpr size_t kClasses = kMaxSmallBytes / kGranule + 1;

  void* Carve(size_t size);
  void NewChunk(size_t at_least);

  FreeList free_[kClasses];
  char* cursor_ = nullptr;  // the unused tail of the newest chunk
  char* limit_ = nullptr;
  size_t next_chunk_bytes_ = kFirstChunkBytes;
  size_t chunk_bytes_ = 0;
  std::vector<Chunk> chunks_;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_RECORD_ARENA_H_
