// The ThreadSanitizer shim of tsan_absl_mutex.h as a source file of its own,
// for executables that are not test binaries but run under the TSan build's
// tests (the `userstore` tool, whose durable store has threads). Added to
// them by CMake only when the build sanitizes threads.
#include "tests/testing/tsan_absl_mutex.h"
