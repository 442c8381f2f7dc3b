// -----------------------------------------------------------------------------
// File: core/table_allocator.h
// -----------------------------------------------------------------------------
//
// `TableAllocator`: the allocator of the engine's Abseil containers (the SID
// and identity tables, the order index's directory). Abseil's containers are
// not exception-safe: raw_hash_set::resize records the new capacity before it
// allocates the new arrays, so a std::bad_alloc thrown while a table grows
// leaves it describing memory it does not have, and the next lookup reads out
// of bounds. Running out of memory there cannot be recovered from, so this
// allocator ends the process with a message instead of throwing. Everything
// else a write allocates (the record, the order index's blocks, text
// buffers) is allocated before the write changes anything, and throws
// std::bad_alloc with the store unchanged (tests/out_of_memory_test.cc).
//
// Thread safety: stateless. Complexity: that of operator new.

#ifndef USERSTORE_CORE_TABLE_ALLOCATOR_H_
#define USERSTORE_CORE_TABLE_ALLOCATOR_H_

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace userstore {
namespace internal {

template <typename T>
struct TableAllocator {
  using value_type = T;

  TableAllocator() noexcept = default;
  template <typename U>
  TableAllocator(const TableAllocator<U>&) noexcept {}  // NOLINT: rebinding

  T* allocate(std::size_t n) {
    void* p = ::operator new(n * sizeof(T), std::nothrow);
    if (p == nullptr) {
      std::fputs(
          "userstore: out of memory while growing an index; Abseil's containers "
          "cannot recover from that, stopping\n",
          stderr);
      std::abort();
    }
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }

  template <typename U>
  friend bool operator==(const TableAllocator&, const TableAllocator<U>&) noexcept {
    return true;
  }
  template <typename U>
  friend bool operator!=(const TableAllocator&, const TableAllocator<U>&) noexcept {
    return false;
  }
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_TABLE_ALLOCATOR_H_
