// DurableStore: what a `UserStore` opened on a directory (durable.h) owns
// besides its engine: the directory's lock, the journal, and the checkpoints
// (docs/durability.md). `OpenUserStore` builds it: recovery (recovery.cc),
// then the journal attached to the engine's event bus.
//
// Checkpoints. One at a time, on a thread of their own (automatic, when the
// journal since the last one outgrows DurableOptions' threshold) or on the
// caller's (`Checkpoint`). The store is frozen (StoreImpl::Frozen: no write
// in flight) only while the journal switches to a new segment and, with the
// fork writer, for the fork() itself; the child process writes the file from
// its copy-on-write image of the store. With the in-process writer the
// records are encoded while frozen, then written unfrozen. Then: the file is
// synced, renamed into place, the directory synced, and only then are the
// journal segments it covers and the older checkpoints removed.

#ifndef USERSTORE_CORE_DURABLE_DURABLE_STORE_H_
#define USERSTORE_CORE_DURABLE_DURABLE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "userstore/durable.h"
#include "userstore/env.h"
#include "userstore/user_store.h"

#include "core/durable/format.h"
#include "core/durable/journal.h"
#include "core/store_checkpoint.h"

namespace userstore {
namespace internal {

class StoreImpl;

class DurableStore {
 public:
  static absl::StatusOr<std::unique_ptr<UserStore>> Open(const std::string& path,
                                                         const DurableOptions& options,
                                                         RecoveryReport* report);

  DurableStore(StoreImpl* impl, Env* env, std::string dir, const DurableOptions& options,
               std::unique_ptr<FileLock> lock);
  // Stops the checkpoint thread (after the checkpoint under way or asked
  // for: the next open then replays less journal), detaches
  // and closes the journal (which syncs it), releases the directory.
  ~DurableStore();

  // After a write that returned OK: kSyncEachWrite waits for its record to
  // be durable. OK or 503/20503.
  absl::Status AfterWrite() { return journal_->AwaitThreadDurable(); }

  absl::Status Checkpoint();
  const std::string& directory() const { return dir_; }
  // The newest checkpoint file's bytes and sequence (no checkpoint is
  // published, so none removed, meanwhile).
  absl::Status ReadLatestCheckpoint(uint64_t* sequence, std::string* bytes);
  absl::Status Sync() { return journal_->Sync(); }
  uint64_t SetJournalTap(JournalTap* tap) { return journal_->SetTap(tap); }
  UserStore::DurabilityStats Stats() const;

  // Starts the journal at `segment` (first sequence `sequence`) and the
  // checkpoint thread. `journal_base` counts journal bytes recovery replayed
  // (toward the next automatic checkpoint).
  absl::Status Start(uint64_t segment, uint64_t sequence, uint64_t journal_base,
                     uint64_t checkpoint_bytes);

  // Writes a checkpoint of a store that has no journal yet (a new
  // directory). Returns the file's size.
  absl::StatusOr<uint64_t> WriteFirstCheckpoint();

 private:
  absl::Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_);
  // Writes `image` (a whole checkpoint) as checkpoint `sequence`: the
  // temporary file, synced, renamed, the directory synced.
  absl::Status WriteCheckpointFile(uint64_t sequence, absl::string_view image);
  absl::Status PublishCheckpoint(uint64_t sequence);
  // After a failed checkpoint: removes the temporary checkpoint files (only
  // a checkpoint makes them, one at a time), whichever step failed, an
  // exception included. Best effort: recovery removes any left.
  void RemoveCheckpointTemps() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_);
  // The writer kAuto stands for here: kConcurrent, or kInProcess where the
  // Env cannot write files from another thread's (never: all can); a kFork
  // asked for on an Env that cannot fork is kInProcess.
  DurableOptions::CheckpointWriter EffectiveWriter() const;
  // The concurrent checkpoint's file: its header, the walk's frames and the
  // trailer, synced and closed as checkpoint `identity.sequence`'s
  // temporary file (removed on failure).
  absl::Status WriteConcurrentCheckpointFile(const durable::StoreIdentity& identity,
                                             ConcurrentCheckpoint* checkpoint);
  void OnTick();
  void CheckpointLoop();

  StoreImpl* const impl_;
  Env* const env_;
  const std::string dir_;
  const DurableOptions options_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<Journal> journal_;
  // The journal as the journal's own background thread sees it (OnTick):
  // set once `journal_` is, never cleared. `journal_` itself is assigned
  // after that thread starts and nulled (by reset) before it is joined, so
  // the thread must not read it.
  std::atomic<Journal*> tick_journal_{nullptr};

  mutable absl::Mutex checkpoint_mu_;  // one checkpoint at a time
  uint64_t checkpoints_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;
  uint64_t last_checkpoint_sequence_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;
  absl::Status last_checkpoint_status_ ABSL_GUARDED_BY(checkpoint_mu_);

  mutable absl::Mutex state_mu_;
  absl::CondVar state_cv_;  // stop_ or requested_ set
  bool stop_ ABSL_GUARDED_BY(state_mu_) = false;
  bool requested_ ABSL_GUARDED_BY(state_mu_) = false;
  uint64_t checkpoint_bytes_ ABSL_GUARDED_BY(state_mu_) = 0;  // the last one's size
  uint64_t journal_base_ ABSL_GUARDED_BY(state_mu_) = 0;
  std::thread checkpoint_thread_;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_DURABLE_DURABLE_STORE_H_
