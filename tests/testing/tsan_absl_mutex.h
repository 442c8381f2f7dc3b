// ThreadSanitizer support for a system Abseil that was not built with TSan.
//
// Debian's libabsl_synchronization is compiled without `-fsanitize=thread`,
// so its `Mutex` carries none of the `__tsan_mutex_*` annotations that a TSan
// build of Abseil has: TSan cannot see that a `Mutex` orders anything, and
// reports every access guarded by one as a data race. This header fixes that
// for one test binary: it defines `absl::Mutex`'s out-of-line lock and unlock
// functions in the executable (which therefore wins over the shared library
// for every call made by the test and by userstore's code), forwards each to
// the library's own definition (`dlsym(RTLD_NEXT, ...)`), and tells TSan about
// the lock operation around it, exactly as a TSan build of Abseil would.
// Lock-order inversions are then reported too.
//
// Include it from exactly one source file of a test binary. It expands to
// nothing unless the file is compiled with ThreadSanitizer. It does not cover
// `Mutex` calls made inside the Abseil library itself (absl::Notification and
// the like): tests that need TSan to see those should use std primitives.

#ifndef USERSTORE_TESTS_TESTING_TSAN_ABSL_MUTEX_H_
#define USERSTORE_TESTS_TESTING_TSAN_ABSL_MUTEX_H_

#include "absl/base/config.h"

#if defined(ABSL_HAVE_THREAD_SANITIZER) && !defined(USERSTORE_NO_TSAN_ABSL_MUTEX_SHIM)

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

namespace userstore_tsan_shim {

#define USERSTORE_TSAN_SHIM_STR2(x) #x
#define USERSTORE_TSAN_SHIM_STR(x) USERSTORE_TSAN_SHIM_STR2(x)

// "_ZN4absl" + <len><inline namespace> + `rest`: the mangled name of an
// `absl::` member function as the library exports it.
inline std::string AbslMangled(const char* rest) {
#ifdef ABSL_OPTION_INLINE_NAMESPACE_NAME
  const std::string ns = USERSTORE_TSAN_SHIM_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return "_ZN4absl" + std::to_string(ns.size()) + ns + rest;
#else
  return std::string("_ZN4absl") + rest;
#endif
}

template <typename Fn>
Fn Real(const char* rest) {
  const std::string name = AbslMangled(rest);
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex.h: %s not found in a shared library\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

using MutexFn = void (*)(absl::Mutex*);
using MutexTryFn = bool (*)(absl::Mutex*);
using MutexCondFn = void (*)(absl::Mutex*, const absl::Condition&);
using CondVarWaitFn = void (*)(absl::CondVar*, absl::Mutex*);
using CondVarWaitTimeoutFn = bool (*)(absl::CondVar*, absl::Mutex*, absl::Duration);

}  // namespace userstore_tsan_shim

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = userstore_tsan_shim::Real<userstore_tsan_shim::MutexFn>("5Mutex4LockEv");
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::Unlock() {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::MutexFn>("5Mutex6UnlockEv");
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

bool Mutex::TryLock() {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::MutexTryFn>("5Mutex7TryLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, locked ? __tsan_mutex_try_lock : __tsan_mutex_try_lock_failed, 0);
  return locked;
}

void Mutex::ReaderLock() {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::MutexFn>("5Mutex10ReaderLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

void Mutex::ReaderUnlock() {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::MutexFn>("5Mutex12ReaderUnlockEv");
  __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

bool Mutex::ReaderTryLock() {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::MutexTryFn>("5Mutex13ReaderTryLockEv");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock | __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(
      this,
      __tsan_mutex_read_lock | (locked ? __tsan_mutex_try_lock : __tsan_mutex_try_lock_failed), 0);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = userstore_tsan_shim::Real<userstore_tsan_shim::MutexCondFn>(
      "5Mutex8LockWhenERKNS0_9ConditionE");
  __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = userstore_tsan_shim::Real<userstore_tsan_shim::MutexCondFn>(
      "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this, cond);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

// Await and CondVar::Wait release the mutex and take it again inside the
// library: seen from TSan, an unlock followed by a lock.
void Mutex::Await(const Condition& cond) {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::MutexCondFn>("5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_mutex_pre_unlock(this, 0);
  __tsan_mutex_post_unlock(this, 0);
  real(this, cond);
  __tsan_mutex_pre_lock(this, 0);
  __tsan_mutex_post_lock(this, 0, 0);
}

void CondVar::Wait(Mutex* mu) {
  static const auto real =
      userstore_tsan_shim::Real<userstore_tsan_shim::CondVarWaitFn>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  real(this, mu);
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static const auto real = userstore_tsan_shim::Real<userstore_tsan_shim::CondVarWaitTimeoutFn>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  const bool timed_out = real(this, mu, timeout);
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl

#undef USERSTORE_TSAN_SHIM_STR
#undef USERSTORE_TSAN_SHIM_STR2

#endif  // ABSL_HAVE_THREAD_SANITIZER

#endif  // USERSTORE_TESTS_TESTING_TSAN_ABSL_MUTEX_H_
