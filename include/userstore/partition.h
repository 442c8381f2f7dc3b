// -----------------------------------------------------------------------------
// File: userstore/partition.h
// -----------------------------------------------------------------------------
//
// The partition map: which partition a service belongs to.
//
// Every rule of Twilio's User resource is scoped to one service (identity
// uniqueness, roles, pages, limits), so a deployment that needs more than one
// process splits its services into partitions and gives each partition one
// leader process (docs/scaling.md). This header is that split: a pure,
// documented, stable function. It never changes for a given input, in any
// version of userstore, on any platform; code in any language can reproduce
// it from docs/scaling.md (the worked values there are checked by a test).
//
// There is no membership protocol here: the application (or its
// orchestrator) decides which process leads which partition, and routes each
// request by `PartitionOf` of the service SID in its path.
//
// Thread safety: pure functions. Complexity: O(length of the SID) for the
// hash, O(log partitions) expected for the jump.

#ifndef USERSTORE_PARTITION_H_
#define USERSTORE_PARTITION_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace userstore {

// userstore::ServiceKey()
//
// The 64-bit key of a service SID: FNV-1a (64-bit, offset basis
// 0xcbf29ce484222325, prime 0x100000001b3) over the SID's bytes exactly as
// given (case matters: SIDs are compared exactly everywhere else too).
uint64_t ServiceKey(absl::string_view service_sid);

// userstore::JumpConsistentHash()
//
// Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory,
// Consistent Hash Algorithm", 2014): maps `key` to a bucket in [0, buckets).
// Growing `buckets` from n to n+1 moves only about 1/(n+1) of the keys, all
// of them to the new bucket. `buckets` of 0 is treated as 1.
uint32_t JumpConsistentHash(uint64_t key, uint32_t buckets);

// userstore::PartitionOf()
//
// The partition of `service_sid` among `partitions`:
// JumpConsistentHash(ServiceKey(service_sid), partitions). A request for a
// path with no service SID (Conversations' `/v1/Users`) belongs to the
// partition of the account's default conversation service.
uint32_t PartitionOf(absl::string_view service_sid, uint32_t partitions);

}  // namespace userstore

#endif  // USERSTORE_PARTITION_H_
