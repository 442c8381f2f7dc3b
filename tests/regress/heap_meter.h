// HeapMeter: how much the heap grows while a piece of code runs (peak) and
// after it returns (retained). Used by the memory-bound tests
// (tests/hostile_input_test.cc, tests/regress/*_memory_test.cc).
//
// Under ASan (g++ or clang) the numbers come from ASan's allocator: the
// current allocated bytes, and the peak through its malloc/free hooks.
// glibc's mallinfo2() does not see ASan's heap. Without ASan, retained bytes
// come from mallinfo2() and the peak is not measured (`can_measure_peak()`
// is false): CI runs these tests under ASan, where both are checked.
//
// Not thread-safe: measure one thing at a time, on one thread.

#ifndef USERSTORE_TESTS_REGRESS_HEAP_METER_H_
#define USERSTORE_TESTS_REGRESS_HEAP_METER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <malloc.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USERSTORE_HEAP_METER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define USERSTORE_HEAP_METER_ASAN 1
#endif

#ifdef USERSTORE_HEAP_METER_ASAN
// From <sanitizer/allocator_interface.h>, which g++ does not ship; both
// compilers' ASan runtimes export these.
extern "C" {
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_allocated_size(const volatile void* p);
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, size_t),
                                              void (*free_hook)(const volatile void*));
}
#endif

namespace userstore {
namespace testing_heap {

struct HeapUsage {
  int64_t retained = 0;  // bytes still allocated after the call, above the start
  int64_t peak = 0;      // most bytes allocated at once during the call (ASan only)
};

inline bool can_measure_peak() {
#ifdef USERSTORE_HEAP_METER_ASAN
  return true;
#else
  return false;
#endif
}

#ifdef USERSTORE_HEAP_METER_ASAN
inline std::atomic<int64_t>& Live() {
  static std::atomic<int64_t> v{0};
  return v;
}
inline std::atomic<int64_t>& Peak() {
  static std::atomic<int64_t> v{0};
  return v;
}
inline std::atomic<bool>& Tracking() {
  static std::atomic<bool> v{false};
  return v;
}
inline void MallocHook(const volatile void* /*ptr*/, size_t size) {
  if (!Tracking().load(std::memory_order_relaxed)) return;
  const int64_t live = Live().fetch_add(static_cast<int64_t>(size)) + static_cast<int64_t>(size);
  int64_t peak = Peak().load(std::memory_order_relaxed);
  while (live > peak && !Peak().compare_exchange_weak(peak, live)) {
  }
}
inline void FreeHook(const volatile void* ptr) {
  if (!Tracking().load(std::memory_order_relaxed)) return;
  Live().fetch_sub(static_cast<int64_t>(__sanitizer_get_allocated_size(ptr)));
}

// Each install adds a hook (ASan keeps a few), so install exactly once: the
// static lives in this non-template inline function, one per program.
inline void StartTracking() {
  static const bool installed =
      (__sanitizer_install_malloc_and_free_hooks(MallocHook, FreeHook), true);
  (void)installed;
  Live() = 0;
  Peak() = 0;
  Tracking() = true;
}
#endif

inline int64_t HeapInUse() {
#ifdef USERSTORE_HEAP_METER_ASAN
  return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
#endif
}

// Runs `fn()` and reports the heap's growth. Allocate the input before.
template <typename Fn>
HeapUsage MeasureHeap(Fn fn) {
  HeapUsage usage;
#ifdef USERSTORE_HEAP_METER_ASAN
  StartTracking();
#endif
  const int64_t before = HeapInUse();
  fn();
  usage.retained = HeapInUse() - before;
#ifdef USERSTORE_HEAP_METER_ASAN
  Tracking() = false;
  usage.peak = Peak().load();
#endif
  return usage;
}

// The bound every request is held to: a small multiple of its size plus a
// constant.
constexpr int64_t kBoundFactor = 4;
constexpr int64_t kBoundSlack = 256 * 1024;
inline int64_t BoundFor(size_t request_bytes) {
  return kBoundFactor * static_cast<int64_t>(request_bytes) + kBoundSlack;
}

}  // namespace testing_heap
}  // namespace userstore

#endif  // USERSTORE_TESTS_REGRESS_HEAP_METER_H_
