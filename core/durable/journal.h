// Journal: the write-ahead log of a durable store (docs/durability.md,
// docs/file-format.md "Journal segments").
//
// Segments. The journal is a series of preallocated segment files, each
// mapped into memory. Appending a record is a copy into the mapping under the
// journal's mutex (no system call): once it is there the operating system
// owns the bytes, so the death of the process loses nothing appended. Syncs
// (MappedFile::Sync) make them survive a power loss: every `sync_interval`
// by a background thread (kBackgroundSync), before the write returns
// (kSyncEachWrite), or never (kNoSync).
//
// Room before the change. A write must not change the store unless its record
// can be appended, and the store changes before it appends (the record is
// encoded from the committed state, under the store's locks). So a write
// first reserves room (`Reserve`), which may fail (no disk space for a new
// segment: 503) while nothing is changed yet; `Append` then cannot fail: it
// uses the reserved room. Each reservation is for one record of at most
// `record_bound` bytes; the journal keeps the sum of outstanding reservations
// within the current segment's free room plus a spare segment's, creating the
// spare when needed. When a record does not fit in the current segment, the
// next one (the spare) takes it.
//
// Group commit (kSyncEachWrite). A writer that needs its record durable waits
// in a queue (a boost::intrusive::list of waiters living on the writers'
// stacks: no allocation). The first writer that finds no sync running becomes
// the leader: it syncs everything appended so far, outside the mutex, then
// wakes every waiter whose record that sync covered, and hands leadership to
// the first that remains. So N concurrent writers share about one sync.
// A leader that follows a sync shared by k writers first gathers: it waits,
// up to a quarter of the last sync's duration (at most 500 us), until k - 1
// writers queue behind it, since the writers just woken are about to append
// their next records; a lone writer never waits (docs/durability.md).
//
// A failed sync is final (durable.h): the journal records the failure, every
// waiter and every later Reserve get 503/20503.
//
// Lock order: store locks -> Journal::mu_ -> EventBus::mu_ (Append calls the
// bus's numbering under mu_) and -> the tap's own locks (Append calls the
// JournalTap under mu_). No callback into the store runs under mu_.

#ifndef USERSTORE_CORE_DURABLE_JOURNAL_H_
#define USERSTORE_CORE_DURABLE_JOURNAL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "boost/intrusive/list.hpp"

#include "userstore/durable.h"
#include "userstore/env.h"
#include "userstore/replication.h"

namespace userstore {
namespace internal {

class Journal {
 public:
  struct Options {
    Env* env = nullptr;
    std::string dir;
    Durability durability = Durability::kBackgroundSync;
    absl::Duration sync_interval = absl::Seconds(1);
    uint64_t segment_bytes = uint64_t{64} << 20;
    // The largest frame one record can take (header, draws and event).
    size_t record_bound = 0;
    // The store's count of SID generator draws, written into each record.
    const std::atomic<uint64_t>* draws = nullptr;
    // Called by the background thread after each of its rounds (the durable
    // store decides there whether to checkpoint). May be empty.
    std::function<void()> on_tick;
  };

  // Creates segment `segment_number` (its first record will have sequence
  // `first_sequence`), syncs the directory, and starts the background thread.
  static absl::StatusOr<std::unique_ptr<Journal>> Start(const Options& options,
                                                        uint64_t segment_number,
                                                        uint64_t first_sequence);

  // Stops the background thread and, unless the journal has failed or the
  // mode is kNoSync, syncs what was appended. Reports nothing: call Sync()
  // first to see the outcome.
  ~Journal();

  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Room for `records` records, before a change. OK, or 503/20503 (the
  // journal failed, or no room could be made: its message says why); then
  // nothing is reserved.
  absl::Status Reserve(int records);
  // Gives back reservations that will not be used (a write that failed after
  // reserving).
  void Unreserve(int records);

  // Appends one record, using one reservation. `number` is called first,
  // under the journal's mutex, and returns the record's sequence number;
  // `encode(sequence, out)` writes the encoded event at `out` (room for
  // record_bound bytes) and returns its end. Cannot fail. REQUIRES: a
  // reservation made by this write; the store locks that order the change.
  uint64_t Append(absl::FunctionRef<uint64_t()> number,
                  absl::FunctionRef<char*(uint64_t, char*)> encode) noexcept;

  // kSyncEachWrite: returns once the last record this thread appended is
  // durable (group commit), or the sync's failure (503/20503). Other modes,
  // or nothing appended by this thread: OK at once.
  absl::Status AwaitThreadDurable();

  // Makes everything appended so far durable. OK, or the failure (503/20503).
  absl::Status Sync();

  // For a checkpoint, before the store is frozen: makes the segment Rotate
  // will switch to (creating a file is slow; writers must not wait for it).
  // OK, or the failure (nothing changed).
  absl::Status PrepareRotate();

  // For a checkpoint, with the store frozen (no write between its Reserve
  // and its Append): the next record goes to a new segment, whose number is
  // returned. Fails (nothing changed) when the segment cannot be made.
  absl::StatusOr<uint64_t> Rotate(uint64_t first_sequence);

  // Removes the segment files numbered below `number` (they hold only
  // records a durable checkpoint covers) and syncs the directory.
  absl::Status RemoveSegmentsBelow(uint64_t number);

  // Sets the tap every later Append calls with its event's bytes (nullptr:
  // none), and returns the sequence of the last record appended before it
  // (first_sequence - 1 when none). Once it returns, the previous tap is
  // called no more.
  uint64_t SetTap(JournalTap* tap);

  // OK, or the failure that stopped the journal.
  absl::Status health() const;

  // Journal bytes appended since the last Rotate (or Start).
  uint64_t bytes_since_rotate() const;
  // Every byte appended (the journal's position), and how far it is durable.
  uint64_t written_position() const;
  uint64_t synced_position() const;
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

 private:
  struct Segment {
    // Shared with the background thread while it prefaults the mapping
    // outside the mutex (a segment may be retired meanwhile).
    std::shared_ptr<MappedFile> file;
    uint64_t number = 0;
    uint64_t base = 0;    // journal position of offset kSegmentHeaderSize
    uint64_t tail = 0;    // offset of the next frame
    uint64_t synced = 0;  // offset up to which the file is durable
    // Offset up to which the background thread has prefaulted the mapping
    // (or is prefaulting it); guarded by the journal's mu_.
    uint64_t prefaulted = 0;
    char* data() { return file->data(); }
  };
  struct Waiter : public boost::intrusive::list_base_hook<> {
    uint64_t position = 0;
    bool done = false;
    bool lead = false;  // handed the leadership
    absl::CondVar cv;
  };
  using WaiterList = boost::intrusive::list<Waiter>;

  explicit Journal(const Options& options);

  absl::StatusOr<std::unique_ptr<Segment>> MakeSegment(uint64_t number);
  // Makes the spare segment when missing. Releases mu_ while it creates the
  // file (a file system call must not stall appends).
  absl::Status EnsureSpareLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SwitchToSpareLocked(uint64_t first_sequence) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t FreeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Syncs everything appended up to now; the caller is the leader (mu_ held
  // on entry and exit, released during the sync). Returns the outcome.
  absl::Status LeadSyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Before leading a sync: the gathering wait (above).
  void GatherLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SyncTo(uint64_t position);
  void Fail(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The background thread wakes early when the current segment runs low
  // (so the spare is ready before an append needs it), or to stop.
  bool NeedsSpareLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BackgroundShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Prefaults the current segment up to a window past its tail and the
  // spare's first pages, what of them is not yet (mu_ released meanwhile).
  // Called at each wake of the background thread, so the work follows the
  // writes in small steps rather than a whole segment at once.
  void PrefaultLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BackgroundLoop();

  const Options options_;
  const uint64_t id_;  // unique in the process

  mutable absl::Mutex mu_;
  std::unique_ptr<Segment> current_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Segment> spare_ ABSL_GUARDED_BY(mu_);
  bool making_spare_ ABSL_GUARDED_BY(mu_) = false;
  // Segments switched away from that are not yet wholly synced.
  std::vector<std::unique_ptr<Segment>> sealed_ ABSL_GUARDED_BY(mu_);
  uint64_t next_number_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;  // journal position after the last record
  uint64_t synced_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rotate_position_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;  // of the last record appended
  JournalTap* tap_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool syncing_ ABSL_GUARDED_BY(mu_) = false;
  bool final_sync_ = false;  // set by the destructor, alone by then
  WaiterList waiters_ ABSL_GUARDED_BY(mu_);
  // Group commit: writers the last sync covered (its leader included), how
  // long it took, and whether a leader is gathering (waiters then signal).
  uint64_t last_group_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Duration last_sync_time_ ABSL_GUARDED_BY(mu_);
  bool gathering_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar gather_cv_;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar background_cv_;  // wakes the background thread (with mu_)
  // Signalled when syncing_ or making_spare_ turns false. (CondVars, not
  // Mutex::Await: ThreadSanitizer sees them through the tests' shim.)
  absl::CondVar state_cv_;
  std::atomic<uint64_t> syncs_{0};

  std::thread background_;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_DURABLE_JOURNAL_H_
