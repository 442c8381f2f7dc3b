// The partition map (partition.h): FNV-1a 64 over a service SID's bytes, then
// Lamping and Veach's jump consistent hash. Both are written exactly as
// published so that docs/scaling.md's pseudo-code reproduces them anywhere;
// the worked values there are checked by tests/partition_test.cc.

#include "userstore/partition.h"

#include <cstdint>

#include "absl/strings/string_view.h"

namespace userstore {

namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// The paper's 64-bit linear congruential generator.
constexpr uint64_t kJumpMultiplier = 2862933555777941757ULL;

}  // namespace

uint64_t ServiceKey(absl::string_view service_sid) {
  uint64_t hash = kFnvOffsetBasis;
  for (const char c : service_sid) {
    hash ^= static_cast<uint64_t>(static_cast<unsigned char>(c));
    hash *= kFnvPrime;  // wraps modulo 2^64, as FNV-1a intends
  }
  return hash;
}

uint32_t JumpConsistentHash(uint64_t key, uint32_t buckets) {
  if (buckets == 0) buckets = 1;
  // The paper's loop: b is the last bucket the key jumped to, j the next
  // candidate. j is a double in [b + 1, 2^31 * (b + 1)]; the loop ends as
  // soon as it reaches `buckets`, so the result fits in [0, buckets).
  int64_t b = -1;
  int64_t j = 0;
  while (j < static_cast<int64_t>(buckets)) {
    b = j;
    key = key * kJumpMultiplier + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(1LL << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<uint32_t>(b);
}

uint32_t PartitionOf(absl::string_view service_sid, uint32_t partitions) {
  return JumpConsistentHash(ServiceKey(service_sid), partitions);
}

}  // namespace userstore
