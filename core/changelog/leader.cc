// ChangelogLeader (changelog.h): ships a durable store's journal to its
// partition's stream.
//
// The leader taps the store's journal (UserStore::SetJournalTap): as each
// event's record is appended, the tap copies the event's bytes, already in
// the event encoding a batch carries, into a queue (the write path never
// waits on the network, and no event is built, copied or encoded for the
// changelog). The queue is a list of 1 MiB blocks (TapBlock) that are
// recycled once shipped: a queue that grows while the log is behind takes
// another block, and no byte queued is ever moved again (a growing string
// had copied its whole backlog, into fresh pages, at every doubling, on the
// writer's thread). One shipping thread takes the queue (a splice), frames up to
// `max_batch_events` of its entries as one changelog batch (header,
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
#include <memory>
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
// them) back to back in bytes[0, used). Written only by the tap, until the
// shipping thread takes it; read only by the shipping thread after that.
struct TapBlock : public boost::intrusive::list_base_hook<> {
  static constexpr size_t kBytes = size_t{1} << 20;
  explicit TapBlock(size_t capacity) : bytes(new char[capacity]), capacity(capacity) {}
  const std::unique_ptr<char[]> bytes;
  const size_t capacity;  // kBytes, or more for an event that needs more
  size_t used = 0;
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
        unshipped_first_(shipped + 1),
        shipped_(shipped) {
    if (options_.max_batch_events == 0) options_.max_batch_events = 1;
  }

  ~Impl() override {
    Stop();
    DeleteBlocks(&unshipped_);
    DeleteBlocks(&shipped_blocks_);
    absl::MutexLock lock(&tap_mu_);
    DeleteBlocks(&queued_);
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
      absl::MutexLock lock(&tap_mu_);
      stop_ = true;
      drain_deadline_ = absl::Now() + options_.ack_timeout;
      tap_cv_.Signal();
    }
    {
      absl::MutexLock lock(&mu_);
      cv_.SignalAll();  // a kSync writer waiting is told the leader stops
    }
    if (thread_.joinable()) thread_.join();
  }

  // The journal's tap: queues the event's bytes as a batch entry.
  void OnJournaled(uint64_t sequence, absl::string_view encoded) noexcept override {
    absl::MutexLock lock(&tap_mu_);
    const size_t need = framing::kEntryLengthBytes + encoded.size();
    if (queued_.empty() || queued_.back().capacity - queued_.back().used < need) {
      queued_.push_back(NewBlockLocked(need));
    }
    TapBlock& block = queued_.back();
    framing::WriteEntry(encoded, block.bytes.get() + block.used);
    block.used += need;
    ++tapped_count_;
    tapped_last_ = sequence;
    if (shipper_idle_ || tapped_count_ == fill_count_ || sequence == awaited_) tap_cv_.Signal();
  }

  absl::Status BeforeWrite() override {
    // No lock on the write path: the flags and the shipped count are atomics.
    if (fenced_.load(std::memory_order_acquire)) {
      absl::MutexLock lock(&mu_);
      return Fenced();
    }
    if (options_.mode == ChangelogOptions::Mode::kAsync) {
      const uint64_t behind = store_->last_sequence() - shipped_.load(std::memory_order_acquire);
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
      absl::MutexLock lock(&tap_mu_);
      awaited_ = std::max(awaited_, sequence);
      tap_cv_.Signal();
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
    stats.committed_sequence = store_->last_sequence();
    stats.shipped_sequence = shipped_.load(std::memory_order_acquire);
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

  // Moves what the tap queued behind the shipping thread's unshipped
  // entries, waiting for some when there is nothing to ship. False when the
  // thread is to end: stopping, and everything shipped or the drain's time
  // is up.
  bool Take() {
    uint64_t count = 0;
    uint64_t last = 0;
    bool end = false;
    {
      // Only a swap under the lock: the journal's Append (a writer holding
      // the store's locks) waits for this lock.
      absl::MutexLock lock(&tap_mu_);
      while (tapped_count_ == 0 && unshipped_count_ == 0 && !stop_) {
        shipper_idle_ = true;
        tap_cv_.Wait(&tap_mu_);
        shipper_idle_ = false;
      }
      // kAsync: a short wait for a full batch (ChangelogOptions::batch_delay).
      if (linger_ && unshipped_count_ + tapped_count_ < options_.max_batch_events) {
        const absl::Time until = absl::Now() + options_.batch_delay;
        fill_count_ = options_.max_batch_events - unshipped_count_;
        while (tapped_count_ < fill_count_ && !stop_ && !AwaitedIsQueued()) {
          if (tap_cv_.WaitWithTimeout(&tap_mu_, until - absl::Now())) break;
        }
        fill_count_ = kNoFill;
      }
      // The queue's blocks move behind the unshipped ones (no byte is
      // copied); the shipped ones go back for the tap to reuse.
      unshipped_.splice(unshipped_.end(), queued_);
      count = tapped_count_;
      last = tapped_last_;
      tapped_count_ = 0;
      RecycleLocked(&shipped_blocks_);
      end = stop_ && absl::Now() >= drain_deadline_;
    }
    if (count != 0) {
      if (unshipped_count_ == 0) unshipped_first_ = last - count + 1;
      unshipped_count_ += count;
    }
    return unshipped_count_ != 0 && !end;  // false: stopping, and all shipped (or out of time)
  }

  // Whether a Flush waits for an event that is queued (and not shipped):
  // then a batch is not held back to fill.
  bool AwaitedIsQueued() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(tap_mu_) {
    return awaited_ > shipped_.load(std::memory_order_acquire) && tapped_last_ >= awaited_;
  }

  // A block for an entry of `need` bytes: a recycled one, or a new one.
  TapBlock& NewBlockLocked(size_t need) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tap_mu_) {
    if (need <= TapBlock::kBytes && !free_blocks_.empty()) {
      TapBlock& block = free_blocks_.front();
      free_blocks_.pop_front();
      block.used = 0;
      return block;
    }
    return *new TapBlock(std::max(need, TapBlock::kBytes));
  }

  // Moves `*blocks` (shipped) to the free list, but for oversized ones.
  // The free list keeps every block: a queue's memory stays at its peak
  // until the leader stops (freed and mapped again, each burst's blocks
  // cost the writer its page faults again, and the unmapping an interrupt
  // of every core the process runs on: measured, 10% of Ship_Create).
  void RecycleLocked(TapBlockList* blocks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tap_mu_) {
    while (!blocks->empty()) {
      TapBlock* block = &blocks->front();
      blocks->pop_front();
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
  template <typename Visit>
  std::pair<TapBlock*, size_t> SpanUnshipped(uint64_t n, Visit visit) {
    TapBlock* end_block = nullptr;
    size_t end_at = 0;
    size_t at = unshipped_at_;
    for (auto it = unshipped_.begin(); n != 0 && it != unshipped_.end(); ++it, at = 0) {
      const char* bytes = it->bytes.get();
      framing::EntryReader reader(absl::string_view(bytes + at, it->used - at));
      absl::string_view event;
      const size_t from = at;
      while (n != 0 && reader.Next(&event)) {
        at = static_cast<size_t>(event.data() + event.size() - bytes);
        --n;
      }
      visit(absl::string_view(bytes + from, at - from));
      end_block = &*it;
      end_at = at;
    }
    return {end_block, end_at};
  }

  // Drops the first `n` unshipped entries (they are in the log), which end
  // at `end` (SpanUnshipped(n)'s answer); the blocks they emptied wait in
  // shipped_blocks_ for the next Take.
  void DropShipped(uint64_t n, std::pair<TapBlock*, size_t> end) {
    if (end.first == nullptr) return;
    while (&unshipped_.front() != end.first) {
      TapBlock& block = unshipped_.front();
      unshipped_.pop_front();
      shipped_blocks_.push_back(block);
    }
    unshipped_at_ = end.second;
    if (unshipped_at_ == end.first->used) {
      unshipped_.pop_front();
      shipped_blocks_.push_back(*end.first);
      unshipped_at_ = 0;
    }
    unshipped_first_ += n;
    unshipped_count_ -= n;
  }

  // The shipping thread.
  void Ship() {
    std::string data;
    absl::InlinedVector<absl::string_view, 4> pieces;
    while (Take()) {
      // The next batch: up to max_batch_events entries from the front.
      const uint64_t n = std::min<uint64_t>(unshipped_count_, options_.max_batch_events);
      pieces.clear();
      const auto batch_end =
          SpanUnshipped(n, [&](absl::string_view piece) { pieces.push_back(piece); });
      const uint64_t last = unshipped_first_ + n - 1;
      data.clear();
      framing::FrameBatch(LeaderBatchHeader(*store_, epoch_), static_cast<uint32_t>(n), pieces,
                          &data);
      absl::StatusOr<std::string> id = log_->AppendIf(last_id_, last, epoch_, data);
      // Refused: fenced, unless the stream ends with an entry of this epoch
      // (only this leader appends in it): an earlier append whose answer was
      // lost (a timeout, the log restarting) landed after all, possibly with
      // fewer events than this attempt. What it holds is shipped.
      uint64_t landed = 0;
      if (!id.ok() && absl::IsPermissionDenied(id.status())) {
        auto log_end = log_->LastId();
        uint64_t end_sequence = 0;
        uint64_t end_epoch = 0;
        if (log_end.ok() && ChangelogLog::ParseEntryId(*log_end, &end_sequence, &end_epoch) &&
            end_epoch == epoch_ && *log_end != last_id_ && end_sequence >= unshipped_first_ &&
            end_sequence <= last) {
          last_id_ = *log_end;
          landed = end_sequence;
        }
      }
      if (id.ok()) {
        last_id_ = *id;
        landed = last;
      }
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
        last_error_ = id.status();
        if (absl::IsPermissionDenied(id.status())) {
          // Fenced: nothing more is shipped.
          fenced_.store(true, std::memory_order_release);
          cv_.SignalAll();
          return;
        }
        ++retries_;
      }
      absl::MutexLock lock(&tap_mu_);
      const absl::Time retry_at = absl::Now() + options_.retry_interval;
      while (!stop_ && absl::Now() < retry_at) {
        if (tap_cv_.WaitWithTimeout(&tap_mu_, retry_at - absl::Now())) break;
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

  // The shipping thread's own: the last entry ID it appended (Start's before
  // it); the entries taken from the tap that the log has not acknowledged,
  // from unshipped_.front().bytes[unshipped_at_] on: unshipped_count_ of them,
  // the first with sequence unshipped_first_; and the blocks it emptied,
  // which the next Take recycles.
  std::string last_id_;
  TapBlockList unshipped_;
  size_t unshipped_at_ = 0;
  uint64_t unshipped_count_ = 0;
  uint64_t unshipped_first_;
  TapBlockList shipped_blocks_;

  // The tap's queue: taken by the journal's Append under its lock, then this.
  absl::Mutex tap_mu_;
  absl::CondVar tap_cv_;  // entries queued while the shipper is idle, or stop_
  TapBlockList queued_ ABSL_GUARDED_BY(tap_mu_);  // the queued entries' blocks
  // Shipped blocks for the tap to reuse (their pages are mapped already).
  TapBlockList free_blocks_ ABSL_GUARDED_BY(tap_mu_);
  uint64_t tapped_count_ ABSL_GUARDED_BY(tap_mu_) = 0;
  uint64_t tapped_last_ ABSL_GUARDED_BY(tap_mu_) = 0;
  bool shipper_idle_ ABSL_GUARDED_BY(tap_mu_) = false;
  // While the shipper waits for a batch to fill: the queued count that
  // completes it (kNoFill otherwise).
  static constexpr uint64_t kNoFill = ~uint64_t{0};
  uint64_t fill_count_ ABSL_GUARDED_BY(tap_mu_) = kNoFill;
  // The highest sequence a Flush (or Checkpoint) waits for.
  uint64_t awaited_ ABSL_GUARDED_BY(tap_mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(tap_mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(tap_mu_) = absl::InfiniteFuture();

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
