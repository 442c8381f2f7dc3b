#include "core/record_arena.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

#include "core/huge_pages.h"

#if defined(__SANITIZE_ADDRESS__)
#define USERSTORE_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USERSTORE_ARENA_ASAN 1
#endif
#endif

#if defined(USERSTORE_ARENA_ASAN)
#include <sanitizer/asan_interface.h>
#define USERSTORE_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define USERSTORE_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define USERSTORE_POISON(p, n) ((void)(p), (void)(n))
#define USERSTORE_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace userstore {
namespace internal {
namespace {

constexpr size_t kHuge = RecordArena::kHugeChunkBytes;

// A chunk of `bytes`: below 2 MiB from operator new, otherwise (a multiple
// of 2 MiB) a huge chunk (core/huge_pages.h).
void* AllocateChunk(size_t bytes) {
  if (bytes < kHuge) return ::operator new(bytes);
  void* chunk = AllocateHugeChunk(bytes);
  if (chunk == nullptr) throw std::bad_alloc();
  return chunk;
}

// Returns a chunk from AllocateChunk(`bytes`).
void FreeChunk(void* chunk, size_t bytes) noexcept {
  if (bytes < kHuge) {
    ::operator delete(chunk);
    return;
  }
  FreeHugeChunk(chunk, bytes);
}

}  // namespace

RecordArena::~RecordArena() {
  for (const Chunk& chunk : chunks_) {
    USERSTORE_UNPOISON(chunk.base, chunk.bytes);
    FreeChunk(chunk.base, chunk.bytes);
  }
}

void* RecordArena::Allocate(size_t bytes) {
  const size_t size = BlockSize(bytes);
  if (size > kMaxSmallBytes) return ::operator new(size);
  FreeList& list = free_[size / kGranule];
  // (Not empty(): for a linear list that also tests for a self-link, which
  // only a circular list has; begin() is the head pointer, end() null.)
  if (list.begin() != list.end()) {
    FreeBlock& block = list.front();
    USERSTORE_UNPOISON(&block, size);
    list.pop_front();
    block.~FreeBlock();  // trivial with normal_link: the block is raw memory again
    return &block;
  }
  return Carve(size);
}

void RecordArena::Free(void* block, size_t bytes) noexcept {
  if (block == nullptr) return;
  const size_t size = BlockSize(bytes);
  if (size > kMaxSmallBytes) {
    ::operator delete(block);
    return;
  }
  // The block's first bytes become its link (constructing the hook writes
  // nothing; push_front writes the link).
  free_[size / kGranule].push_front(*new (block) FreeBlock);
  USERSTORE_POISON(block, size);
}

void* RecordArena::Carve(size_t size) {
  if (static_cast<size_t>(limit_ - cursor_) < size) NewChunk(size);
  char* block = cursor_;
  cursor_ += size;
  USERSTORE_UNPOISON(block, size);
  return block;
}

void RecordArena::NewChunk(size_t at_least) {
  // at_least <= kMaxSmallBytes, far below any chunk size.
  const size_t bytes = std::max(next_chunk_bytes_, at_least);
  // Room first, so that push_back below cannot throw (growing geometrically).
  if (chunks_.size() == chunks_.capacity()) chunks_.reserve(2 * chunks_.size() + 4);
  void* base = AllocateChunk(bytes);
  chunks_.push_back(Chunk{base, bytes});
  chunk_bytes_ += bytes;
  // The unused tail of the previous chunk (less than one block of the size
  // asked for) is given up: at most kMaxSmallBytes per chunk.
  cursor_ = static_cast<char*>(base);
  limit_ = cursor_ + bytes;
  USERSTORE_POISON(base, bytes);
  next_chunk_bytes_ = std::min(next_chunk_bytes_ * 2, kHugeChunkBytes);
}

}  // namespace internal
}  // namespace userstore
