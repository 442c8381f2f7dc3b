// -----------------------------------------------------------------------------
// File: userstore/durable.h
// -----------------------------------------------------------------------------
//
// A durable store: a `UserStore` whose state lives in a directory on local
// disk and survives the end of the process (a restart, kill -9, an OOM kill)
// and, within the chosen mode's window, a power loss. Opt-in: a `UserStore`
// built by its constructor stays in memory and pays nothing for this.
//
//   userstore::DurableOptions options;              // the default mode
//   userstore::RecoveryReport report;
//   auto store = userstore::OpenUserStore("/var/lib/game/users", options, &report);
//   if (!store.ok()) { /* store.status() says why, naming the directory */ }
//   (*store)->CreateUser(...);                       // journaled, then visible
//
// How it works (docs/durability.md; the files in docs/file-format.md): every
// write is framed as a record of the journal (its `ChangeEvent` in the
// encoding of event_codec.h, CRC32C-checked) and stored in the journal before
// it becomes visible; a failed append changes nothing. Checkpoints (the whole
// state in one file) bound the journal: recovery loads the newest checkpoint
// and replays the journal after it.
//
// Durability modes (what a write that returned OK survives):
//
//   | mode                          | process crash | power loss              |
//   |-------------------------------|---------------|-------------------------|
//   | kBackgroundSync (the default) | nothing lost  | at most ~sync_interval  |
//   | kSyncEachWrite                | nothing lost  | nothing lost            |
//   | kNoSync                       | nothing lost  | anything since the last |
//   |                               |               | checkpoint or close     |
//
// Errors of a write on a durable store, besides the store's own: the journal
// cannot take the record (disk full, I/O error): 503/20503 "Service
// Unavailable: the journal could not be written", nothing changed. After a
// failed sync of the journal the store refuses every later write with
// 503/20503 (reads go on) until it is reopened: data the kernel failed to
// write may already be gone from its cache, so a retried sync could report
// success for bytes that never reached the disk (the lesson of PostgreSQL's
// "fsyncgate", 2018). In kSyncEachWrite the write whose sync failed returns
// 503/20503 too; its change is in memory, and whether it survives a crash is
// unknown.
//
// One process at a time: a second open of the same directory, by this
// process or another, fails at once with FAILED_PRECONDITION naming it.
//
// Thread safety: the returned store is a `UserStore` with all its promises;
// every call may come from any thread.

#ifndef USERSTORE_DURABLE_H_
#define USERSTORE_DURABLE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "userstore/env.h"
#include "userstore/options.h"
#include "userstore/user_store.h"

namespace userstore {

// userstore::Durability
enum class Durability : uint8_t {
  // Every write is in the operating system's hands (the journal is a mapped
  // file: a write is a copy into the page cache, no system call) before the
  // call returns; a background thread syncs the journal every
  // `sync_interval`. A crash of the process loses nothing that was
  // acknowledged; a power loss, at most the last interval. Redis's
  // `appendfsync everysec`, SQLite's `synchronous=NORMAL` in WAL mode.
  kBackgroundSync = 0,
  // A write returns once its record is on stable storage (fdatasync).
  // Concurrent writers share one sync (group commit). Redis's `appendfsync
  // always`, SQLite's `synchronous=FULL`.
  kSyncEachWrite = 1,
  // Nothing is synced but checkpoints and a clean close. For caches and
  // tests: a process crash still loses nothing acknowledged.
  kNoSync = 2,
};

// userstore::RecoveryMode
//
// What recovery does with a journal record that fails its checks (a bad
// checksum, a bad length, a sequence gap) *before* the journal's torn tail.
// (A torn tail, the incomplete last records that a crash mid-write leaves, is
// always dropped and reported: it held no acknowledged write in
// kSyncEachWrite, and nothing older than the last sync in the other modes.)
enum class RecoveryMode : uint8_t {
  // Open fails, naming the file and the byte offset of the bad record.
  // Nothing is changed on disk. RocksDB's kAbsoluteConsistency, for the
  // journal's body.
  kStrict = 0,
  // The store is recovered up to the last good record before the damage;
  // everything from there on is dropped (and moved aside into a
  // `salvaged-*` file, not deleted) and reported. RocksDB's
  // kPointInTimeRecovery. The recovered state is a prefix of history.
  kSalvage = 1,
};

// userstore::DurableOptions
struct DurableOptions {
  // The store's own options (seed, clock, limits...). `account_sid`, `seed`
  // and `create_default_service` apply when the directory is new; a
  // recovered store keeps its account SID, its SID generator's state and its
  // services. An `account_sid` that differs from a recovered store's fails
  // the open (400/20001).
  StoreOptions store;

  Durability durability = Durability::kBackgroundSync;

  // kBackgroundSync: how often the journal is synced. Default: 1 s.
  absl::Duration sync_interval = absl::Seconds(1);

  RecoveryMode recovery = RecoveryMode::kStrict;

  // The size of one journal segment file, preallocated. A record larger
  // than a segment's room goes to a segment of its own size. Default: 64 MiB.
  uint64_t segment_bytes = uint64_t{64} << 20;

  // A checkpoint is taken automatically once the journal written since the
  // last one exceeds max(checkpoint_min_journal_bytes, checkpoint_ratio x
  // the last checkpoint's size). 0 for the minimum turns automatic
  // checkpoints off. Defaults: 64 MiB and 1.0.
  uint64_t checkpoint_min_journal_bytes = uint64_t{64} << 20;
  double checkpoint_ratio = 1.0;

  // How the checkpoint is written. Every way writes the same file: the
  // store as it was at one instant (the journal is cut there).
  //   kAuto: kConcurrent.
  //   kConcurrent: by the checkpoint thread while writers go on: each
  //          service's users are walked in runs of 256 under the service's
  //          reader lock; a writer about to change a user the walk has not
  //          reached saves the user's image first. Writers pause only for
  //          the instant (the store frozen while each service's own record
  //          is copied) and for at most one run of their service. Extra
  //          memory: one saved image per user changed during the walk. A
  //          service deleted during the walk saves its remaining users.
  //   kFork: in a forked child process (Redis's BGSAVE: copy-on-write, the
  //          writers paused for the fork, then paying its page copies);
  //          kInProcess on an Env that cannot fork. Not safe under
  //          ThreadSanitizer, or under the AddressSanitizer of GCC 12 and
  //          clang 14, whose runtimes do not make fork safe in a threaded
  //          process.
  //   kInProcess: the state is copied under the store lock (writers wait
  //          for the copy, O(n)), then written by a background thread.
  enum class CheckpointWriter : uint8_t { kAuto = 0, kInProcess = 1, kFork = 2, kConcurrent = 3 };
  CheckpointWriter checkpoint_writer = CheckpointWriter::kAuto;

  // The file system. Default (nullptr): Env::Default(). Must outlive the store.
  Env* env = nullptr;
};

// userstore::RecoveryReport
//
// What opening a directory found and did.
struct RecoveryReport {
  bool created = false;                 // the directory held no store: a new one was made
  uint64_t checkpoint_sequence = 0;     // the sequence the loaded checkpoint holds
  uint64_t checkpoint_records = 0;      // records read from it
  uint64_t journal_records = 0;         // journal records replayed after it
  uint64_t last_sequence = 0;           // the recovered store's last_sequence()
  uint64_t torn_bytes_dropped = 0;      // a torn tail dropped (0: none)
  std::string torn_file;                // the segment it was in, when any
  uint64_t salvaged_bytes_dropped = 0;  // kSalvage: bytes dropped after damage
  std::string salvage_note;             // kSalvage: what was damaged, where
  absl::Duration duration;              // wall time of the whole open
};

// userstore::OpenUserStore()
//
// Opens the durable store in directory `path` (created, one level, when
// missing), recovers it and returns it. The returned store holds exactly the
// state of the last write the journal kept: services, roles, users with their
// SIDs, dates, presence and channel counts, the feed's last sequence number
// (the next write continues it), the account SID, and the SID generator (a
// recovered store never hands out a SID it handed out before). `report`
// (optional) receives what recovery did.
//
// Errors (nothing on disk is changed by a failed open):
//   - the directory is locked by another open: FAILED_PRECONDITION;
//   - a file of an unknown format version: FAILED_PRECONDITION, naming it;
//   - kStrict, a damaged checkpoint or journal record before the torn tail:
//     DATA_LOSS, naming the file and byte offset;
//   - the file system failed: its status (env.h).
// Complexity: O(checkpoint + journal since it).
absl::StatusOr<std::unique_ptr<UserStore>> OpenUserStore(const std::string& path,
                                                         const DurableOptions& options,
                                                         RecoveryReport* report = nullptr);

}  // namespace userstore

#endif  // USERSTORE_DURABLE_H_
