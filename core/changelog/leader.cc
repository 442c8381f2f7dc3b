// ChangelogLeader (changelog.h): ships a durable store's journal to its
// partition's stream.
//
// The leader taps the store's journal (UserStore::SetJournalTap): as each
// event's record is appended, the tap copies the event's bytes, already in
// the event encoding a batch carries, into a queue (the write path never
// waits on the network, and no event is built, copied or encoded for the
// changelog). The queue is a chain of 1 MiB blocks (TapBlock) that are
// recycled once shipped: a queue that grows while the log is behind takes
// another block, and no byte queued is ever moved again (a growing string
// had copied its whole backlog, into fresh pages, at every doubling, on the
// writer's thread). The tap shares no lock with the shipping thread: it
// writes its entry at the chain's end and publishes the entry's sequence in
// an atomic, and takes a mutex only to wake that thread when it waits for
// this very sequence (idle, or filling a batch). A mutex both took for every
// event was measured as the writer's largest cost beyond the durable baseline
// (its contended unlock: 7% of the samples of a leader shipping to a log in
// its own process).
// One shipping thread reads the published entries, frames up to
// `max_batch_events` of them as one changelog batch (header,
// entries as they are, checksum) and appends it to the stream with the log's
// conditional append, expecting the entry it appended last. Entries leave
// the thread's queue only once the log acknowledged them: an append that
// fails is retried after `retry_interval` with the same expectation, and one
// whose answer was lost is recognized by its entry ID (changelog.h: the ID
// says its last sequence and epoch). A refused append means another leader
// has appended: the leader is fenced, stops shipping, and its gate answers
// every later write 403/20403.
//
// The store's WriteGate is this leader: BeforeWrite refuses writes once
// fenced (403/20403) and, in kAsync, once `max_unshipped_events` are waiting
// (503/20503, nothing changed), reading atomics only; AfterWrite, in kSync,
// waits until the log has the write's event (503/20503 after `ack_timeout`:
// the change is kept and still shipped).
//
// The leader's directory holds a file LEADS ("<stream URL>\n<epoch>\n"),
// written (synced, renamed, directory synced) once its fence entry is in the
// stream: a restarted leader resumes only when the stream's last epoch is
// still its own, so a deposed leader that restarts cannot take the stream
// back.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "boost/intrusive/list.hpp"

#include "userstore/changelog.h"
#include "userstore/env.h"
#include "userstore/replication.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/changelog/changelog_internal.h"
#include "core/durable/files.h"
#include "core/replication/batch_framing.h"

namespace userstore {
namespace {

namespace framing = internal::batch_framing;

// The header of a batch the leader of `epoch` of `store` makes now.
framing::BatchHeader LeaderBatchHeader(const UserStore& store, uint64_t epoch) {
  return {epoch, store.sid_draws(), internal::changelog::NowMicros()};
}

// A block of the tap's queue: entries (length:u32 event, as a batch holds
// them) back to back in bytes[0, used). Only the tap writes it. Once the tap
// has moved on (`next` is set, with release order, after the last entry),
// `used` is final and the shipping thread may read it; before, that thread
// reads only entries the tap published (ChangelogLeader::Impl::tapped_last_).
struct TapBlock : public boost::intrusive::list_base_hook<> {
  static constexpr size_t kBytes = size_t{1} << 20;
  explicit TapBlock(size_t capacity) : bytes(new char[capacity]), capacity(capacity) {}
  const std::unique_ptr<char[]> bytes;
  const size_t capacity;  // kBytes, or more for an event that needs more
  size_t used = 0;
  std::atomic<TapBlock*> next{nullptr};
};

using TapBlockList = boost::intrusive::list<TapBlock>;

void DeleteBlocks(TapBlockList* blocks) {
  blocks->clear_and_dispose([](TapBlock* block) { delete block; });
}

}  // namespace

class ChangelogLeader::Impl : public WriteGate, public JournalTap {
 public:
  Impl(UserStore* store, std::unique_ptr<ChangelogLog> log, const ChangelogOptions& options,
       uint64_t epoch, std::string last_id, uint64_t shipped)
      : store_(store),
        log_(std::move(log)),
        options_(options),
        epoch_(epoch),
        last_id_(std::move(last_id)),
        head_(new TapBlock(TapBlock::kBytes)),
        unshipped_first_(shipped + 1),
        tail_(head_),
        tapped_last_(shipped),
        shipped_(shipped) {
    if (options_.max_batch_events == 0) options_.max_batch_events = 1;
  }

  ~Impl() override {
    Stop();
    for (TapBlock* block = head_; block != nullptr;) {
      TapBlock* const next = block->next.load(std::memory_order_acquire);
      delete block;
      block = next;
    }
    DeleteBlocks(&shipped_blocks_);
    absl::MutexLock lock(&free_mu_);
    DeleteBlocks(&free_blocks_);
  }

  // Taps the store's journal. Returns false when the store has moved past
  // `sequence` (a write during Start); the tap is then unset.
  bool Tap(uint64_t sequence) {
    auto before = store_->SetJournalTap(this);
    tapped_ = true;
    return before.ok() && *before == sequence;
  }

  void Run() {
    thread_ = std::thread([this] { Ship(); });
    store_->SetWriteGate(this);
  }

  // Unsets the gate and the tap, ships what is queued (until the ack
  // timeout), stops the thread.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    store_->SetWriteGate(nullptr);
    if (tapped_) (void)store_->SetJournalTap(nullptr);
    {
      absl::MutexLock lock(&wake_mu_);
      drain_deadline_ = absl::Now() + options_.ack_timeout;
      stopping_.store(true, std::memory_order_release);
      wake_cv_.Signal();
    }
    {
      absl::MutexLock lock(&mu_);
      cv_.SignalAll();  // a kSync writer waiting is told the leader stops
    }
    if (thread_.joinable()) thread_.join();
  }

  // The journal's tap: queues the event's bytes as a batch entry at the
  // chain's end and publishes its sequence. Calls never overlap (the
  // journal's lock), so tail_ is the tap's own.
  void OnJournaled(uint64_t sequence, absl::string_view encoded) noexcept override {
    const size_t need = framing::kEntryLengthBytes + encoded.size();
    TapBlock* block = tail_;
    if (block->capacity - block->used < need) {
      TapBlock* const next = NewBlockOrDie(need, sequence);
      block->next.store(next, std::memory_order_release);  // block->used is final
      tail_ = block = next;
    }
    framing::WriteEntry(encoded, block->bytes.get() + block->used);
    block->used += need;
    // Sequentially consistent, like the loads below and WaitForTapped's store
    // of wake_at_ and load of tapped_last_: either this tap sees the waiter's
    // wake_at_, or the waiter sees this sequence, so no wake-up is lost.
    tapped_last_.store(sequence);
    if (sequence == wake_at_.load() || (linger_ && sequence == awaited_.load())) {
      absl::MutexLock lock(&wake_mu_);
      wake_cv_.Signal();
    }
  }

  absl::Status BeforeWrite() override {
    // No lock on the write path: the flags and the shipped count are atomics.
    if (fenced_.load(std::memory_order_acquire)) {
      absl::MutexLock lock(&mu_);
      return Fenced();
    }
    if (options_.mode == ChangelogOptions::Mode::kAsync) {
      // The shipped count first: another writer's event can be journaled
      // (and shipped) before the store's last sequence counts it, and while
      // this writer waits between its two loads, so the difference saturates.
      const uint64_t shipped = shipped_.load(std::memory_order_acquire);
      const uint64_t last = store_->last_sequence();
      const uint64_t behind = last > shipped ? last - shipped : 0;
      if (behind >= options_.max_unshipped_events) {
        absl::MutexLock lock(&mu_);
        return MakeError(
            ErrorCode::kServiceUnavailable,
            absl::StrCat("the changelog ", log_->url(), " is ", behind,
                         " events behind; writes wait for it (", last_error_.message(), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status AfterWrite(uint64_t sequence) override {
    if (options_.mode != ChangelogOptions::Mode::kSync) return absl::OkStatus();
    return AwaitShipped(sequence, options_.ack_timeout);
  }

  absl::Status AwaitShipped(uint64_t sequence, absl::Duration timeout) {
    if (shipped_.load(std::memory_order_acquire) >= sequence) return absl::OkStatus();
    if (linger_) {
      // Someone waits: the batch that holds `sequence` is not held back.
      uint64_t awaited = awaited_.load();
      while (awaited < sequence && !awaited_.compare_exchange_weak(awaited, sequence)) {
      }
      absl::MutexLock lock(&wake_mu_);
      wake_cv_.Signal();
    }
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&mu_);
    while (shipped_.load(std::memory_order_acquire) < sequence && !fenced_.load() &&
           !shutting_down_) {
      if (cv_.WaitWithTimeout(&mu_, deadline - absl::Now())) break;
    }
    if (shipped_.load(std::memory_order_acquire) >= sequence) return absl::OkStatus();
    if (fenced_.load()) return Fenced();
    return MakeError(
        ErrorCode::kServiceUnavailable,
        absl::StrCat("the changelog ", log_->url(), " has not acknowledged event ", sequence, " (",
                     shutting_down_ ? "the leader is stopping" : "timed out",
                     "; last error: ", last_error_.ToString(), ")"));
  }

  // Waits until every event committed before the call is shipped.
  absl::Status Flush(absl::Duration timeout) {
    return AwaitShipped(store_->last_sequence(), timeout);
  }

  absl::Status Checkpoint() {
#if defined(__cpp_exceptions)
    try {
#endif
      return CheckpointAndTrim();
#if defined(__cpp_exceptions)
    } catch (const std::bad_alloc&) {
      // Reading the checkpoint (the whole file, in memory), or in the log's
      // client. Each step leaves the stream whole: the stored checkpoint is
      // replaced atomically, and trimmed behind only once stored.
      return absl::ResourceExhaustedError(
          "changelog checkpoint: out of memory (the stream and its stored checkpoint stay as "
          "they were, or hold the new checkpoint untrimmed)");
    }
#endif
  }

  absl::Status CheckpointAndTrim() {
    USERSTORE_RETURN_IF_ERROR(store_->Checkpoint());
    uint64_t sequence = 0;
    std::string bytes;
    USERSTORE_RETURN_IF_ERROR(store_->ReadLatestCheckpoint(&sequence, &bytes));
    // Only a checkpoint whose every event the stream has: a follower that
    // bootstraps from it must agree with one that followed the stream.
    USERSTORE_RETURN_IF_ERROR(AwaitShipped(sequence, options_.ack_timeout));
    USERSTORE_RETURN_IF_ERROR(log_->PutCheckpoint(sequence, bytes));
    return log_->TrimThrough(sequence);
  }

  ChangelogLeader::Stats stats() const {
    absl::MutexLock lock(&mu_);
    ChangelogLeader::Stats stats;
    stats.epoch = epoch_;
    // Shipped first, and committed at least that: an event is journaled (and
    // may be shipped) before the store's last sequence counts it.
    stats.shipped_sequence = shipped_.load(std::memory_order_acquire);
    stats.committed_sequence = std::max(store_->last_sequence(), stats.shipped_sequence);
    stats.batches = batches_;
    stats.retries = retries_;
    stats.fenced = fenced_.load();
    stats.last_error = last_error_;
    return stats;
  }

 private:
  absl::Status Fenced() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return MakeError(ErrorCode::kForbidden,
                     absl::StrCat("this store no longer leads ", log_->url(), " (epoch ", epoch_,
                                  "): another leader took it; rejoin as a follower"));
  }

  // Counts what the tap published behind the shipping thread's unshipped
  // entries, waiting for some when there is nothing to ship. False when the
  // thread is to end: stopping, and everything shipped or the drain's time
  // is up. Takes a lock only to wait.
  bool Take() {
    RecycleShipped();
    const uint64_t untaken = unshipped_first_ + unshipped_count_;  // the first not counted
    if (unshipped_count_ == 0 && tapped_last_.load(std::memory_order_acquire) < untaken) {
      absl::MutexLock lock(&wake_mu_);
      WaitForTapped(untaken, absl::InfiniteFuture());
    }
    // kAsync: a short wait for a full batch (ChangelogOptions::batch_delay).
    const uint64_t full = unshipped_first_ + options_.max_batch_events - 1;
    if (linger_ && tapped_last_.load(std::memory_order_acquire) < full && !AwaitedIsQueued()) {
      absl::MutexLock lock(&wake_mu_);
      WaitForTapped(full, absl::Now() + options_.batch_delay);
    }
    unshipped_count_ = tapped_last_.load(std::memory_order_acquire) + 1 - unshipped_first_;
    bool end = false;
    if (stopping_.load(std::memory_order_acquire)) {
      absl::MutexLock lock(&wake_mu_);
      end = absl::Now() >= drain_deadline_;
    }
    return unshipped_count_ != 0 && !end;  // false: stopping, and all shipped (or out of time)
  }

  // Waits until the tap published `sequence`, the leader stops, a Flush
  // waits for an event the tap published, or `until`.
  void WaitForTapped(uint64_t sequence, absl::Time until) ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
    wake_at_.store(sequence);  // before the load of tapped_last_: see OnJournaled
    while (tapped_last_.load() < sequence && !stopping_.load(std::memory_order_acquire) &&
           !AwaitedIsQueued()) {
      if (until == absl::InfiniteFuture()) {
        wake_cv_.Wait(&wake_mu_);
      } else if (wake_cv_.WaitWithTimeout(&wake_mu_, until - absl::Now())) {
        break;
      }
    }
    wake_at_.store(kNoWake, std::memory_order_relaxed);
  }

  // Whether a Flush waits for an event that is queued (and not shipped):
  // then a batch is not held back to fill.
  bool AwaitedIsQueued() const {
    const uint64_t awaited = awaited_.load();
    return awaited > shipped_.load(std::memory_order_acquire) &&
           tapped_last_.load(std::memory_order_acquire) >= awaited;
  }

  // The tap's next block, for an entry of `need` bytes: a recycled one, or a
  // new one.
  TapBlock* NewBlock(size_t need) {
    if (need <= TapBlock::kBytes) {
      absl::MutexLock lock(&free_mu_);
      if (!free_blocks_.empty()) {
        TapBlock* const block = &free_blocks_.front();
        free_blocks_.pop_front();
        block->used = 0;
        block->next.store(nullptr, std::memory_order_relaxed);
        return block;
      }
    }
    return new TapBlock(std::max(need, TapBlock::kBytes));
  }

  // NewBlock, for the tap, which cannot fail: the event is committed, and
  // the leader can neither ship it nor skip it (a follower would see a gap).
  // Out of memory ends the process with a message on stderr, as the store's
  // tables do (docs/reliability.md): a leader lost like one killed, whose
  // failover docs/scaling.md describes.
  TapBlock* NewBlockOrDie(size_t need, uint64_t sequence) noexcept {
#if defined(__cpp_exceptions)
    try {
#endif
      return NewBlock(need);
#if defined(__cpp_exceptions)
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr,
                   "userstore: out of memory queuing event %llu for the changelog (a block of %zu "
                   "bytes); the leader can neither ship nor skip it\n",
                   static_cast<unsigned long long>(sequence), std::max(need, TapBlock::kBytes));
      std::abort();
    }
#endif
  }

  // Moves the shipped blocks to the free list, but for oversized ones.
  // The free list keeps every block: a queue's memory stays at its peak
  // until the leader stops (freed and mapped again, each burst's blocks
  // cost the writer its page faults again, and the unmapping an interrupt
  // of every core the process runs on: measured, 10% of Ship_Create).
  void RecycleShipped() {
    if (shipped_blocks_.empty()) return;
    absl::MutexLock lock(&free_mu_);
    while (!shipped_blocks_.empty()) {
      TapBlock* block = &shipped_blocks_.front();
      shipped_blocks_.pop_front();
      if (block->capacity == TapBlock::kBytes) {
        free_blocks_.push_front(*block);  // the most recently used first
      } else {
        delete block;
      }
    }
  }

  // Calls visit(piece) for the bytes of the first `n` unshipped entries, one
  // piece per block they span, in order; returns the block and the offset in
  // it where they end.
  // REQUIRES: n <= unshipped_count_ (entries the tap published).
  template <typename Visit>
  std::pair<TapBlock*, size_t> SpanUnshipped(uint64_t n, Visit visit) {
    TapBlock* block = head_;
    size_t at = unshipped_at_;
    while (n != 0) {
      // A block the tap moved on from ends at its final `used`; the one it
      // writes holds every entry still wanted (published, so whole), and
      // nothing past them is read.
      TapBlock* const next = block->next.load(std::memory_order_acquire);
      const char* bytes = block->bytes.get();
      const size_t bound = next != nullptr ? block->used : block->capacity;
      framing::EntryReader reader(absl::string_view(bytes + at, bound - at));
      absl::string_view event;
      const size_t from = at;
      while (n != 0 && reader.Next(&event)) {
        at = static_cast<size_t>(event.data() + event.size() - bytes);
        --n;
      }
      if (at != from) visit(absl::string_view(bytes + from, at - from));
      if (n != 0) {
        block = next;
        at = 0;
      }
    }
    return {block, at};
  }

  // Drops the first `n` unshipped entries (they are in the log), which end
  // at `end` (SpanUnshipped(n)'s answer); the blocks they emptied (all
  // before end.first, which the tap may still write) wait in
  // shipped_blocks_ for the next Take.
  void DropShipped(uint64_t n, std::pair<TapBlock*, size_t> end) {
    while (head_ != end.first) {
      TapBlock* const shipped = head_;
      head_ = shipped->next.load(std::memory_order_acquire);
      shipped_blocks_.push_back(*shipped);
    }
    unshipped_at_ = end.second;
    unshipped_first_ += n;
    unshipped_count_ -= n;
  }

  // Frames the first `n` unshipped entries as a batch (in batch_, from
  // their pieces in batch_pieces_) and appends it. Returns the last sequence of them the log now
  // holds: all n
  // (`*batch_end` is where they end), or fewer when an earlier append whose
  // answer was lost landed after all. Returns 0 when the log holds none of
  // them, with why in `*error`: 403 once fenced; the log's error; or
  // RESOURCE_EXHAUSTED when this thread runs out of memory framing the
  // batch or in the log's client (a ChangelogLog leaves its connection
  // consistent then), retried like the log's errors rather than ending the
  // process.
  uint64_t AppendBatch(uint64_t n, std::pair<TapBlock*, size_t>* batch_end, absl::Status* error) {
#if defined(__cpp_exceptions)
    try {
#endif
      const uint64_t last = unshipped_first_ + n - 1;
      batch_pieces_.clear();
      *batch_end =
          SpanUnshipped(n, [&](absl::string_view piece) { batch_pieces_.push_back(piece); });
      batch_.clear();
      framing::FrameBatch(LeaderBatchHeader(*store_, epoch_), static_cast<uint32_t>(n),
                          batch_pieces_, &batch_);
      absl::StatusOr<std::string> id = log_->AppendIf(last_id_, last, epoch_, batch_);
      if (id.ok()) {
        last_id_ = *std::move(id);
        return last;
      }
      // Refused: fenced, unless the stream ends with an entry of this epoch
      // (only this leader appends in it): an earlier append whose answer was
      // lost (a timeout, the log restarting, this thread out of memory) landed
      // after all, possibly with fewer events than this attempt. What it
      // holds is shipped.
      if (absl::IsPermissionDenied(id.status())) {
        absl::StatusOr<std::string> log_end = log_->LastId();
        uint64_t end_sequence = 0;
        uint64_t end_epoch = 0;
        if (log_end.ok() && ChangelogLog::ParseEntryId(*log_end, &end_sequence, &end_epoch) &&
            end_epoch == epoch_ && *log_end != last_id_ && end_sequence >= unshipped_first_ &&
            end_sequence <= last) {
          last_id_ = *std::move(log_end);
          return end_sequence;
        }
      }
      *error = id.status();
      return 0;
#if defined(__cpp_exceptions)
    } catch (const std::bad_alloc&) {
      *error = out_of_memory_;  // a copy: no allocation
      return 0;
    }
#endif
  }

  // The shipping thread.
  void Ship() {
    while (Take()) {
      // The next batch: up to max_batch_events entries from the front.
      const uint64_t n = std::min<uint64_t>(unshipped_count_, options_.max_batch_events);
      std::pair<TapBlock*, size_t> batch_end;
      absl::Status error;
      const uint64_t landed = AppendBatch(n, &batch_end, &error);
      if (landed != 0) {
        // Where the batch ends is known; a lost answer's shorter append is
        // walked again.
        const uint64_t dropped = landed - unshipped_first_ + 1;
        DropShipped(dropped,
                    dropped == n ? batch_end : SpanUnshipped(dropped, [](absl::string_view) {}));
        shipped_.store(landed, std::memory_order_release);
        absl::MutexLock lock(&mu_);
        ++batches_;
        cv_.SignalAll();
        continue;
      }
      {
        absl::MutexLock lock(&mu_);
        last_error_ = error;
        if (absl::IsPermissionDenied(error)) {
          // Fenced: nothing more is shipped.
          fenced_.store(true, std::memory_order_release);
          cv_.SignalAll();
          return;
        }
        ++retries_;
      }
      absl::MutexLock lock(&wake_mu_);
      const absl::Time retry_at = absl::Now() + options_.retry_interval;
      while (!stopping_.load(std::memory_order_acquire) && absl::Now() < retry_at) {
        if (wake_cv_.WaitWithTimeout(&wake_mu_, retry_at - absl::Now())) break;
      }
    }
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    cv_.SignalAll();
  }

  UserStore* const store_;
  const std::unique_ptr<ChangelogLog> log_;
  ChangelogOptions options_;
  const uint64_t epoch_;
  const bool linger_ = options_.mode == ChangelogOptions::Mode::kAsync &&
                       options_.batch_delay > absl::ZeroDuration();
  bool tapped_ = false;  // Start's and Stop's
  bool stopped_ = false;
  std::thread thread_;

  // The tap's queue, a chain of blocks from head_ (the shipping thread's)
  // to tail_ (the tap's).
  //
  // The shipping thread's own: the last entry ID it appended (Start's before
  // it); the entries counted from what the tap published that the log has
  // not acknowledged, from head_->bytes[unshipped_at_] on: unshipped_count_
  // of them, the first with sequence unshipped_first_; and the blocks it
  // emptied, which the next Take recycles. The batch being appended, and the
  // pieces of the chain it is framed from (kept for their capacity).
  std::string last_id_;
  TapBlock* head_;
  size_t unshipped_at_ = 0;
  uint64_t unshipped_count_ = 0;
  uint64_t unshipped_first_;
  TapBlockList shipped_blocks_;
  std::string batch_;
  absl::InlinedVector<absl::string_view, 4> batch_pieces_;

  // The tap's own: the block it writes. (These fields on cache lines of
  // their own measured inside the noise: ShipLocal / Durable 0.86x-0.96x
  // against 0.80x-1.01x, seven alternating runs.)
  TapBlock* tail_;
  // Stored by the tap after each entry: every entry up to this sequence is
  // in the chain. The shipping thread reads it, and entries up to it only.
  std::atomic<uint64_t> tapped_last_;
  // Read by the tap after each entry, rarely written: the sequence whose
  // entry wakes the shipping thread (it waits for it: idle, or filling a
  // batch), kNoWake otherwise; and the highest sequence a Flush (or
  // Checkpoint) waits for.
  static constexpr uint64_t kNoWake = ~uint64_t{0};
  std::atomic<uint64_t> wake_at_{kNoWake};
  std::atomic<uint64_t> awaited_{0};
  std::atomic<bool> stopping_{false};

  // Taken to wait for the tap, and by whoever wakes the waiter.
  absl::Mutex wake_mu_;
  absl::CondVar wake_cv_;  // the awaited entry published, a Flush, or stopping_
  absl::Time drain_deadline_ ABSL_GUARDED_BY(wake_mu_) = absl::InfiniteFuture();

  // Shipped blocks for the tap to reuse (their pages are mapped already):
  // the tap takes this lock once per block it fills.
  absl::Mutex free_mu_;
  TapBlockList free_blocks_ ABSL_GUARDED_BY(free_mu_);

  // What writers read without a lock.
  std::atomic<uint64_t> shipped_;
  std::atomic<bool> fenced_{false};

  mutable absl::Mutex mu_;
  // shipped_, fenced_ or shutting_down_ changed. Waited on with
  // WaitWithTimeout, which the tests' ThreadSanitizer shim makes visible.
  absl::CondVar cv_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;  // the shipping thread ended
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t retries_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  // AppendBatch's answer when the shipping thread runs out of memory, made
  // in advance: copying it allocates nothing.
  const absl::Status out_of_memory_ = absl::ResourceExhaustedError(
      "out of memory framing or appending a batch; the shipping thread retries");
};

namespace internal {
namespace changelog {

absl::Status ReadStreamEnd(ChangelogLog* log, std::string* last_id, uint64_t* sequence,
                           uint64_t* epoch) {
  auto id = log->LastId();
  if (!id.ok()) return id.status();
  *last_id = *id;
  *sequence = 0;
  *epoch = 0;
  if (id->empty()) return absl::OkStatus();
  if (!ChangelogLog::ParseEntryId(*id, sequence, epoch)) {
    return MakeError(ErrorCode::kInvalidParameter,
                     absl::StrCat(log->url(), ": its last entry '", *id,
                                  "' is not a userstore changelog entry"));
  }
  return absl::OkStatus();
}

namespace {

constexpr char kLeadsFile[] = "LEADS";

// The epoch this directory last led `url` with; 0 when it never did.
uint64_t LedEpoch(Env* env, const std::string& dir, const std::string& url) {
  auto text = env->ReadFile(internal::durable::JoinPath(dir, kLeadsFile));
  if (!text.ok()) return 0;
  const size_t nl = text->find('\n');
  if (nl == std::string::npos || text->substr(0, nl) != url) return 0;
  uint64_t epoch = 0;
  std::string rest = text->substr(nl + 1);
  if (!rest.empty() && rest.back() == '\n') rest.pop_back();
  return absl::SimpleAtoi(rest, &epoch) ? epoch : 0;
}

absl::Status RecordEpoch(Env* env, const std::string& dir, const std::string& url, uint64_t epoch) {
  return internal::durable::ReplaceFileDurably(env, dir, absl::StrCat(kLeadsFile, ".tmp"),
                                               kLeadsFile, absl::StrCat(url, "\n", epoch, "\n"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChangelogLeader>> StartLeader(UserStore* store,
                                                             std::unique_ptr<ChangelogLog>* log,
                                                             const ChangelogOptions& options,
                                                             bool takeover) {
  if (store == nullptr || !store->durable()) {
    return MakeError(ErrorCode::kInvalidParameter,
                     "ChangelogLeader::Start: the store must be durable (OpenUserStore): a "
                     "follower bootstraps from its checkpoint");
  }
  ChangelogLog* const stream = log->get();
  Env* const env = options.env != nullptr ? options.env : Env::Default();
  std::string last_id;
  uint64_t sequence = 0;
  uint64_t epoch = 0;
  USERSTORE_RETURN_IF_ERROR(ReadStreamEnd(stream, &last_id, &sequence, &epoch));
  if (last_id.empty()) {
    // A new stream starts with the store's checkpoint, so that a follower has
    // something to bootstrap from.
    USERSTORE_RETURN_IF_ERROR(store->Checkpoint());
    std::string bytes;
    USERSTORE_RETURN_IF_ERROR(store->ReadLatestCheckpoint(&sequence, &bytes));
    if (sequence != store->last_sequence()) {
      return MakeError(ErrorCode::kInvalidParameter,
                       "ChangelogLeader::Start: the store was written during the start");
    }
    USERSTORE_RETURN_IF_ERROR(stream->PutCheckpoint(sequence, bytes));
  } else if (!takeover) {
    const uint64_t led = LedEpoch(env, store->directory(), stream->url());
    if (led == 0) {
      return MakeError(ErrorCode::kInvalidParameter,
                       absl::StrCat("ChangelogLeader::Start: the store in ", store->directory(),
                                    " has never led ", stream->url(), " (epoch ", epoch,
                                    " does): a follower takes a stream over "
                                    "by promotion"));
    }
    if (led != epoch) {
      return MakeError(
          ErrorCode::kForbidden,
          absl::StrCat("ChangelogLeader::Start: the store in ", store->directory(), " led ",
                       stream->url(), " in epoch ", led, ", and epoch ", epoch,
                       " has taken it over: this store was deposed; it "
                       "rejoins as a follower, in a new directory"));
    }
  }
  if (!last_id.empty() && store->last_sequence() != sequence) {
    return MakeError(
        ErrorCode::kInvalidParameter,
        absl::StrCat("ChangelogLeader::Start: the store is at sequence ", store->last_sequence(),
                     " and the stream ", stream->url(), " at ", sequence,
                     ": only a store that holds exactly what the stream holds can lead it"));
  }
  const uint64_t next_epoch = epoch + 1;
  // The fence: an entry of the new epoch with no event, appended only if the
  // stream still ends where this leader read it.
  std::string data;
  framing::FrameBatch(LeaderBatchHeader(*store, next_epoch), 0, absl::string_view(), &data);
  auto id = stream->AppendIf(last_id, sequence, next_epoch, data);
  if (!id.ok()) {
    if (absl::IsPermissionDenied(id.status())) {
      return MakeError(
          ErrorCode::kForbidden,
          absl::StrCat("ChangelogLeader::Start: ", stream->url(),
                       " was appended to meanwhile (another leader): ", id.status().message()));
    }
    return id.status();
  }
  USERSTORE_RETURN_IF_ERROR(RecordEpoch(env, store->directory(), stream->url(), next_epoch));
  auto leader_impl = std::make_unique<ChangelogLeader::Impl>(store, std::move(*log), options,
                                                             next_epoch, *id, sequence);
  if (!leader_impl->Tap(sequence)) {
    return MakeError(ErrorCode::kInvalidParameter,
                     "ChangelogLeader::Start: the store was written during the start");
  }
  leader_impl->Run();
  return std::make_unique<ChangelogLeader>(std::move(leader_impl));
}

}  // namespace changelog
}  // namespace internal

ChangelogLeader::ChangelogLeader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChangelogLeader::~ChangelogLeader() = default;

absl::StatusOr<std::unique_ptr<ChangelogLeader>> ChangelogLeader::Start(
    UserStore* store, std::unique_ptr<ChangelogLog> log, const ChangelogOptions& options) {
  return internal::changelog::StartLeader(store, &log, options, /*takeover=*/false);
}

absl::Status ChangelogLeader::Flush(absl::Duration timeout) { return impl_->Flush(timeout); }

absl::Status ChangelogLeader::Checkpoint() { return impl_->Checkpoint(); }

ChangelogLeader::Stats ChangelogLeader::stats() const { return impl_->stats(); }

}  // namespace userstore
