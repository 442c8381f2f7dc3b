// Replaces the throwing operator new (and new[]) of a test binary with one
// that throws std::bad_alloc whenever the binary's own
// `userstore_testing::AllocationShouldFail(size)` says so, for the
// out-of-memory tests. The nothrow forms go straight to malloc: they are
// what the engine's indexes allocate through (core/table_allocator.h), which
// end the process when they fail instead of throwing.
//
// Include it in exactly one source file of a test binary (it defines the
// replacement functions), and define AllocationShouldFail there; it is
// called on every throwing allocation, on every thread.
//
// ThreadSanitizer's runtime (and clang's AddressSanitizer runtime, linked
// statically) defines operator new itself, so the replacement cannot be
// linked there: USERSTORE_OOM_SKIP is then defined, nothing is replaced,
// and the tests skip themselves. They run in the plain and the g++ ASan +
// UBSan builds.

#ifndef USERSTORE_TESTS_TESTING_FAILING_OPERATOR_NEW_H_
#define USERSTORE_TESTS_TESTING_FAILING_OPERATOR_NEW_H_

#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define USERSTORE_OOM_SKIP 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define USERSTORE_OOM_SKIP 1
#endif
#endif

namespace userstore_testing {
// Defined by the including test: whether this allocation is to fail.
bool AllocationShouldFail(std::size_t size);
}  // namespace userstore_testing

#if !defined(USERSTORE_OOM_SKIP)
namespace userstore_testing {
namespace failing_new_internal {
inline void* Allocate(std::size_t size) {
  if (AllocationShouldFail(size)) throw std::bad_alloc();
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace failing_new_internal
}  // namespace userstore_testing

void* operator new(std::size_t size) {
  return userstore_testing::failing_new_internal::Allocate(size);
}
void* operator new[](std::size_t size) {
  return userstore_testing::failing_new_internal::Allocate(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif  // !USERSTORE_OOM_SKIP

#endif  // USERSTORE_TESTS_TESTING_FAILING_OPERATOR_NEW_H_
