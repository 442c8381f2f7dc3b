// Counts every allocation of a test binary, so that a test can check a
// decoder's allocation bound (a length or count field past the end of the
// input must be refused before anything is allocated for it).
//
// Include it from exactly one source file of a test binary: it replaces the
// global operator new (plain and nothrow: the store's index allocator asks for
// nothrow memory, and both forms must be freed the same way under
// AddressSanitizer) and operator delete. Not under ThreadSanitizer, whose
// runtime defines operator new itself: there USERSTORE_COUNTS_ALLOCATIONS is
// 0 and a test that needs the count skips.

#ifndef USERSTORE_TESTS_TESTING_ALLOCATION_COUNTER_H_
#define USERSTORE_TESTS_TESTING_ALLOCATION_COUNTER_H_

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define USERSTORE_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define USERSTORE_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef USERSTORE_COUNTS_ALLOCATIONS
#define USERSTORE_COUNTS_ALLOCATIONS 1
#endif

namespace userstore_testing {

// Bytes allocated so far by this binary (0 forever when not counting).
inline std::atomic<size_t>& AllocatedBytes() {
  static std::atomic<size_t> bytes{0};
  return bytes;
}

}  // namespace userstore_testing

#if USERSTORE_COUNTS_ALLOCATIONS
// Not inlined: where g++ sees both the malloc and the free, it reports the
// replacement pair as mismatched (-Wmismatched-new-delete).
__attribute__((noinline)) void* operator new(size_t size) {
  userstore_testing::AllocatedBytes().fetch_add(size, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void* operator new(size_t size, const std::nothrow_t&) noexcept {
  userstore_testing::AllocatedBytes().fetch_add(size, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
#endif

#endif  // USERSTORE_TESTS_TESTING_ALLOCATION_COUNTER_H_
