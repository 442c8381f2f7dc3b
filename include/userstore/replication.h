// -----------------------------------------------------------------------------
// File: userstore/replication.h
// -----------------------------------------------------------------------------
//
// What the engine offers to a changelog (docs/scaling.md), with no networking:
//
//   - `WriteGate`: a hook around every write of a `UserStore` (set with
//     `UserStore::SetWriteGate`). A follower's gate refuses writes (403/20403);
//     a leader's gate refuses them once it is fenced, and in synchronous mode
//     makes each write wait until the log has acknowledged it.
//   - The changelog batch: the public, versioned encoding of a run of
//     consecutive change events (each in event_codec.h's encoding) with the
//     leader's epoch and SID-draw count, checksummed. This is what a leader
//     appends to its partition's stream and a follower decodes; anyone may
//     ship it over their own transport (docs/file-format.md, "Changelog
//     batches").

#ifndef USERSTORE_REPLICATION_H_
#define USERSTORE_REPLICATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/events.h"

namespace userstore {

// userstore::WriteGate
//
// Called around every write of the store it is set on (user, service and role
// creates, updates and deletes, GetOrCreateUser, presence and channel
// counts): not around `UserStore::Apply`, which is how a follower applies its
// leader's events, nor around reads (batched reads, ReadUsers, included).
//
// Thread safety: called concurrently from every writing thread; an
// implementation must be thread-safe and must not call back into the store's
// write methods (reads are fine).
class WriteGate {
 public:
  virtual ~WriteGate() = default;

  // Before the write changes anything. A non-OK status is the write's answer
  // and nothing changes (a follower's gate: 403/20403).
  virtual absl::Status BeforeWrite() = 0;

  // After a write that succeeded, with the store's last_sequence() at that
  // moment (its own event's sequence or a later one: waiting for it covers
  // the write). A non-OK status becomes the write's answer although the
  // write is applied locally (the lost-acknowledgement case every networked
  // store has: the caller may retry, and meets 409/50201 for a create).
  virtual absl::Status AfterWrite(uint64_t sequence) = 0;
};

// userstore::JournalTap
//
// Receives every event a durable store journals (UserStore::SetJournalTap),
// as the journal writes it: in sequence order, one call per event, with the
// event's v1 encoding (event_codec.h), the very bytes its journal record
// holds. A changelog leader (changelog.h) ships these bytes as they are:
// nothing is built, copied into a ChangeEvent or encoded a second time, and
// the store's feed needs no subscriber.
//
// Thread safety: called by the writing thread while it holds the store's
// locks for the write and its journal's lock, so calls never overlap and
// come in sequence order. An implementation must be quick (copy the bytes,
// wake a thread), must not throw, and must not call any method of the store.
class JournalTap {
 public:
  virtual ~JournalTap() = default;

  // The event numbered `sequence`, encoded. `encoded` is valid only during
  // the call.
  virtual void OnJournaled(uint64_t sequence, absl::string_view encoded) noexcept = 0;
};

// userstore::ChangelogBatch
//
// Consecutive change events of one leader, as a follower applies them.
struct ChangelogBatch {
  // The leader's epoch (1, 2, ...; a promotion takes the next one).
  uint64_t epoch = 0;
  // The leader's SID-draw count when the batch was made: at least the count
  // after the last event's write. A promoted follower advances its SID
  // generator to it, so it never hands out a SID its old leader handed out
  // in a shipped write.
  uint64_t sid_draws = 0;
  // When the leader made the batch (Unix microseconds, the leader's wall
  // clock): a follower's lag in seconds is measured against it.
  int64_t made_micros = 0;
  // The events, with sequences first, first+1, ... (no gap). May be empty (a
  // leader's fence entry, which only claims its epoch).
  std::vector<ChangeEvent> events;
};

// userstore::EncodeChangelogBatch()
//
// Appends the encoding of `batch` to `*out` (docs/file-format.md):
//   magic "USCB" version:u32(=1) epoch:u64 sid_draws:u64 made_micros:i64
//   count:u32, then `count` times { length:u32 event (event_codec.h) },
//   then crc:u32 (masked CRC32C of every byte before it).
// Errors: 400/20001 when an event does not encode (EncodeChangeEvent) or
// the sequences are not consecutive; `*out` is then unchanged.
// Thread safety: pure. O(size).
absl::Status EncodeChangelogBatch(const ChangelogBatch& batch, std::string* out);

// userstore::DecodeChangelogBatch()
//
// Decodes a whole batch. Errors: 400/20001 for anything but exactly one
// well-formed batch: bad magic, an unknown version (the message names it),
// a checksum mismatch, a length past the end, trailing bytes, an event that
// does not decode, sequences that are not consecutive. Never returns a
// partial batch. Thread safety: pure. O(size).
absl::StatusOr<ChangelogBatch> DecodeChangelogBatch(absl::string_view bytes);

}  // namespace userstore

#endif  // USERSTORE_REPLICATION_H_
