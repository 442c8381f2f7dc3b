#include "core/huge_pages.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <utility>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__linux__) && defined(MADV_HUGEPAGE)
#define USERSTORE_HUGE_MAPPED 1
#if !defined(MADV_COLLAPSE)
#define MADV_COLLAPSE 25  // Linux 6.1 (older C libraries do not name it)
#endif
#endif

namespace userstore {
namespace internal {
namespace {

// The registry: chunk base -> bytes. The mutex is also held while one chunk
// collapses, so that a chunk is never unmapped (and its address reused) in
// the middle of its MADV_COLLAPSE.
ABSL_CONST_INIT absl::Mutex registry_mu(absl::kConstInit);

std::map<uintptr_t, size_t>& Registry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static auto* registry = new std::map<uintptr_t, size_t>();  // never destroyed
  return *registry;
}

// Gives back the memory of a chunk from AllocateHugeChunk (registered or not).
void Release(void* chunk, size_t bytes) noexcept {
#if defined(USERSTORE_HUGE_MAPPED)
  munmap(chunk, bytes);
#else
  (void)bytes;
  ::operator delete (chunk, std::align_val_t{kHugePageBytes});
#endif
}

}  // namespace

void* AllocateHugeChunk(size_t bytes) noexcept {
  void* chunk = nullptr;
#if defined(USERSTORE_HUGE_MAPPED)
  // An over-sized anonymous mapping trimmed to its aligned part, so that no
  // address space is wasted (malloc cannot give 2 MiB alignment without
  // keeping the slack mapped).
  const size_t span = bytes + kHugePageBytes;
  void* mapped = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return nullptr;
  char* const base = static_cast<char*>(mapped);
  // Pointer arithmetic, not integer-to-pointer casts: the offset to the next
  // 2 MiB boundary, then the parts before and after the chunk go back.
  const size_t head =
      (kHugePageBytes - (reinterpret_cast<uintptr_t>(base) & (kHugePageBytes - 1))) &
      (kHugePageBytes - 1);
  char* const aligned = base + head;
  const size_t tail = span - head - bytes;
  if (head > 0) munmap(base, head);
  if (tail > 0) munmap(aligned + bytes, tail);
  (void)madvise(aligned, bytes, MADV_HUGEPAGE);
  chunk = aligned;
#else
  chunk = ::operator new (bytes, std::align_val_t{kHugePageBytes}, std::nothrow);
  if (chunk == nullptr) return nullptr;
  std::memset(chunk, 0, bytes);
#endif
  bool registered = false;
  {
    absl::MutexLock lock(&registry_mu);
    try {
      registered = Registry().emplace(reinterpret_cast<uintptr_t>(chunk), bytes).second;
    } catch (const std::bad_alloc&) {
      registered = false;
    }
  }
  if (!registered) {
    Release(chunk, bytes);
    return nullptr;
  }
  return chunk;
}

void FreeHugeChunk(void* chunk, size_t bytes) noexcept {
  if (chunk == nullptr) return;
  {
    absl::MutexLock lock(&registry_mu);
    Registry().erase(reinterpret_cast<uintptr_t>(chunk));
  }
  Release(chunk, bytes);
}

size_t CollapseHugeChunks() noexcept {
#if defined(USERSTORE_HUGE_MAPPED)
  std::vector<std::pair<uintptr_t, size_t>> chunks;
  try {
    absl::MutexLock lock(&registry_mu);
    chunks.assign(Registry().begin(), Registry().end());
  } catch (const std::bad_alloc&) {
    return 0;
  }
  size_t collapsed = 0;
  for (const auto& [base, bytes] : chunks) {
    absl::MutexLock lock(&registry_mu);
    auto it = Registry().find(base);
    if (it == Registry().end() || it->second != bytes) continue;  // freed meanwhile
    // The registry holds the chunk's address as an integer; its pointer is
    // the mapping's own (mmap returned it), given back to the kernel.
    if (madvise(reinterpret_cast<void*>(base), bytes, MADV_COLLAPSE) == 0) {  // NOLINT
      ++collapsed;
    } else if (errno == EINVAL) {
      break;  // not here: THP off, or a kernel before MADV_COLLAPSE
    }         // (EAGAIN, ENOMEM: this chunk keeps its pages; the next may not)
  }
  return collapsed;
#else
  return 0;
#endif
}

size_t HugeChunkCount() noexcept {
  absl::MutexLock lock(&registry_mu);
  return Registry().size();
}

size_t HugeChunkBytes() noexcept {
  absl::MutexLock lock(&registry_mu);
  size_t total = 0;
  for (const auto& entry : Registry()) total += entry.second;
  return total;
}

}  // namespace internal
}  // namespace userstore
