// ChangelogFollower (changelog.h): a read-only replica that bootstraps from
// the stream's checkpoint and then applies the stream's batches.
//
// The replica is a durable store in the follower's own directory: each
// applied event goes through its journal like any write, so its durable
// position is simply its last_sequence(), and a restarted follower reads the
// stream after it. Exactly once: an event at or before that position is
// skipped (a batch straddling it, or one read twice), one after it must be
// the next (a gap stops the follower). The store's WriteGate is the
// follower: writes answer 403/20403.
//
// An entry is checked whole before anything of it is applied: its framing
// and checksum (batch_framing.h), its epoch, its events' sequences (read
// from their headers) and, by UserStore::ApplyEncoded, the decoding of every
// event. Its events are applied as the bytes they are (ApplyEncoded: user
// events from views of the bytes, runs of them under one acquisition of the
// store's locks, journaled as they came), never decoded into ChangeEvents.
//
// A follower's directory holds a marker file, FOLLOWS (the stream's URL),
// written when it is bootstrapped and removed when it is promoted: a
// directory without it (a leader's, a deposed leader's whose tail the stream
// may not hold) is refused as a follower's.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/env.h"
#include "userstore/event_codec.h"
#include "userstore/replication.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/changelog/changelog_internal.h"
#include "core/durable/event_encoding.h"
#include "core/durable/files.h"
#include "core/durable/format.h"
#include "core/replication/batch_framing.h"

namespace userstore {
namespace {

namespace framing = internal::batch_framing;

constexpr char kMarker[] = "FOLLOWS";  // the follower's marker file

// The sequence in the header of the encoded event `event`; false when it has
// no header of the v1 encoding (it then does not decode).
bool PeekSequence(absl::string_view event, uint64_t* sequence) {
  if (event.size() < internal::kEventHeaderBytes ||
      static_cast<uint8_t>(event[0]) != kChangeEventEncodingVersion) {
    return false;
  }
  *sequence = internal::durable::GetU64(event.data() + internal::kEventSequenceOffset);
  return true;
}

// The most entries Poll reads at a time.
constexpr size_t kReadEntries = 64;

// Reads ahead: while Poll applies the entries it read, a thread of its own
// reads the ones after them (ReadAfter with no wait), so that the log's
// round trip, the server's work and the copy of its reply overlap the apply
// instead of following it. Poll takes what it read when it read after the
// follower's position; anything else (a read that failed or found nothing,
// a position that moved otherwise) is dropped and Poll reads as before.
class ReadAhead {
 public:
  // `log` is the follower's; null once it has given it away (a promotion).
  explicit ReadAhead(std::unique_ptr<ChangelogLog>* log) : log_(log) {}
  ~ReadAhead() { Stop(); }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // Starts reading up to `max` entries after `after` (the thread is started
  // when it is not running). REQUIRES: no read in flight (Take() since the
  // last Start()).
  void Start(uint64_t after, size_t max) {
    absl::MutexLock lock(&mu_);
    if (!thread_.joinable()) {
      stop_ = false;
      thread_ = std::thread([this] { Run(); });
    }
    after_ = after;
    max_ = max;
    requested_ = true;
    has_result_ = false;
    cv_.SignalAll();
  }

  // Waits for the read in flight, if any, and returns what it read when it
  // read after `after` and found entries; nullopt otherwise.
  std::optional<std::vector<ChangelogLog::Entry>> Take(uint64_t after) {
    absl::MutexLock lock(&mu_);
    while (requested_ || reading_) cv_.Wait(&mu_);
    if (!has_result_) return std::nullopt;
    has_result_ = false;
    if (result_after_ != after || !result_.ok() || result_->empty()) return std::nullopt;
    return *std::move(result_);
  }

  // Waits for the read in flight and ends the thread (Start starts it again).
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    requested_ = false;
    has_result_ = false;
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    for (;;) {
      while (!stop_ && !requested_) cv_.Wait(&mu_);
      if (stop_) return;
      requested_ = false;
      reading_ = true;
      const uint64_t after = after_;
      const size_t max = max_;
      mu_.Unlock();
      ChangelogLog* log = log_->get();
      absl::StatusOr<std::vector<ChangelogLog::Entry>> read = out_of_memory_;
#if defined(__cpp_exceptions)
      try {
#endif
        read = log != nullptr ? log->ReadAfter(after, max, absl::ZeroDuration())
                              : absl::StatusOr<std::vector<ChangelogLog::Entry>>(
                                    absl::FailedPreconditionError("no log"));
#if defined(__cpp_exceptions)
      } catch (const std::bad_alloc&) {
        // Nothing read ahead: the follower's next Poll reads for itself.
      }
#endif
      mu_.Lock();
      result_ = std::move(read);
      result_after_ = after;
      has_result_ = true;
      reading_ = false;
      cv_.SignalAll();
    }
  }

  std::unique_ptr<ChangelogLog>* const log_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;  // Start()ed, not yet taken up by the thread
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t after_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_ ABSL_GUARDED_BY(mu_) = 0;
  bool has_result_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t result_after_ ABSL_GUARDED_BY(mu_) = 0;
  absl::StatusOr<std::vector<ChangelogLog::Entry>> result_ ABSL_GUARDED_BY(mu_);
  // A read that ran out of memory (made in advance: copying it allocates
  // nothing).
  const absl::Status out_of_memory_ = absl::ResourceExhaustedError("out of memory reading ahead");
  std::thread thread_;
};

// What DecodeChangelogBatch says of an event that does not decode.
std::string EventDecodeError(size_t index, absl::string_view event) {
  absl::StatusOr<ChangeEvent> decoded = DecodeChangeEvent(event);
  return absl::StrCat("Invalid changelog batch: event ", index, ": ",
                      decoded.ok() ? "decodes alone" : decoded.status().message());
}

}  // namespace

class ChangelogFollower::Impl : public WriteGate {
 public:
  Impl(std::unique_ptr<UserStore> store, std::unique_ptr<ChangelogLog> log,
       absl::Duration retry_interval, Env* env, std::string dir)
      : store_(std::move(store)),
        log_(std::move(log)),
        retry_interval_(retry_interval),
        env_(env),
        dir_(std::move(dir)) {
    log_sequence_ = store_->last_sequence();
    store_->SetWriteGate(this);
  }

  ~Impl() override {
    Stop();
    if (store_ != nullptr) store_->SetWriteGate(nullptr);
  }

  absl::Status BeforeWrite() override {
    return MakeError(ErrorCode::kForbidden,
                     absl::StrCat("this store follows the changelog ", log_->url(),
                                  ": it takes no writes; send them to the partition's leader"));
  }
  absl::Status AfterWrite(uint64_t) override { return absl::OkStatus(); }

  UserStore& store() { return *store_; }

  absl::StatusOr<uint64_t> Poll(absl::Duration wait) {
    absl::MutexLock poll_lock(&poll_mu_);
    bool applying = false;
#if defined(__cpp_exceptions)
    try {
#endif
      return PollLocked(wait, &applying);
#if defined(__cpp_exceptions)
    } catch (const std::bad_alloc&) {
      // Before the store applies anything (reading, checking the entries,
      // the log's client): nothing changed, and the follower retries (503,
      // as when the log cannot be reached). While it applies: the store may
      // hold a change it has not numbered (docs/reliability.md, "Out of
      // memory"), so the follower stops; reopening it recovers what its
      // directory holds, and it resumes from there.
      if (!applying) return out_of_memory_reading_;
      absl::MutexLock lock(&mu_);
      stopped_ = out_of_memory_applying_;
      return stopped_;
    }
#endif
  }

  // Poll, under poll_mu_; `*applying` is true while the store applies.
  absl::StatusOr<uint64_t> PollLocked(absl::Duration wait, bool* applying)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopped_.ok()) return stopped_;
    }
    uint64_t applied_through = store_->last_sequence();
    // What the last Poll read ahead, or a read now.
    std::optional<std::vector<ChangelogLog::Entry>> ahead = read_ahead_.Take(applied_through);
    absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
        ahead.has_value() ? *std::move(ahead)
                          : log_->ReadAfter(applied_through, kReadEntries, wait);
    if (!entries.ok()) {
      if (absl::IsUnavailable(entries.status())) return entries.status();  // retry
      // Something in the stream that is not a changelog entry (a foreign
      // writer's): no later read gets past it.
      return Stop(ChangelogLog::Entry{"after " + ChangelogLog::EntryId(applied_through, 0), ""},
                  entries.status().message());
    }
    // A full read: the stream likely holds more, read while these apply.
    uint64_t read_through = 0;
    uint64_t read_epoch = 0;
    if (entries->size() == kReadEntries &&
        ChangelogLog::ParseEntryId(entries->back().id, &read_through, &read_epoch)) {
      read_ahead_.Start(read_through, kReadEntries);
    }
    uint64_t applied = 0;
    for (const ChangelogLog::Entry& entry : *entries) {
      uint64_t entry_sequence = 0;
      uint64_t entry_epoch = 0;
      if (!ChangelogLog::ParseEntryId(entry.id, &entry_sequence, &entry_epoch)) {
        return Stop(entry, "its ID is not a userstore changelog entry's");
      }
      framing::BatchView batch;
      const absl::Status framed = framing::ParseBatch(entry.data, &batch);
      if (!framed.ok()) return Stop(entry, framed.message());
      const uint64_t epoch = batch.header.epoch;
      if (epoch != entry_epoch) return Stop(entry, "its batch's epoch is not its ID's");
      if (epoch < epoch_) {
        return Stop(entry, absl::StrCat("epoch ", epoch, " after epoch ", epoch_));
      }
      // The events and their sequences, consecutive (DecodeChangelogBatch's
      // checks, without decoding the events: ApplyEncoded decodes them all
      // before it applies any).
      events_.clear();
      framing::EntryReader reader(batch.entries);
      absl::string_view event;
      uint64_t first = 0;
      uint64_t last = entry_sequence;
      for (size_t i = 0; reader.Next(&event); ++i) {
        uint64_t sequence = 0;
        if (!PeekSequence(event, &sequence)) return Stop(entry, EventDecodeError(i, event));
        if (i == 0) {
          first = sequence;
        } else if (last == ~uint64_t{0} || sequence != last + 1) {
          return Stop(entry, absl::StrCat("Invalid changelog batch: event ", i, " has sequence ",
                                          sequence, " after ", last));
        }
        last = sequence;
        events_.push_back(event);
      }
      if (last != entry_sequence) return Stop(entry, "its events do not end at its ID's sequence");
      // Checked whole before anything of it is applied.
      if (!events_.empty() && first > applied_through + 1) {
        return Stop(
            entry, absl::StrCat("sequence gap: expected ", applied_through + 1, ", found ", first));
      }
      if (events_.empty() && entry_sequence > applied_through) {
        return Stop(entry, absl::StrCat("sequence gap: an entry at ", entry_sequence,
                                        " with no events after ", applied_through));
      }
      // Those applied before are skipped, but must decode too: a bad entry
      // is not applied at all.
      const size_t skip = events_.empty() || first > applied_through
                              ? 0
                              : static_cast<size_t>(std::min<uint64_t>(applied_through - first + 1,
                                                                       events_.size()));
      for (size_t i = 0; i < skip; ++i) {
        if (!DecodeChangeEvent(events_[i]).ok()) {
          return Stop(entry, EventDecodeError(i, events_[i]));
        }
      }
      if (skip < events_.size()) {
        size_t done = 0;
        *applying = true;
        const absl::Status status =
            store_->ApplyEncoded(absl::MakeConstSpan(events_).subspan(skip), &done);
        *applying = false;
        applied_through += done;
        applied += done;
        if (!status.ok()) {
          if (absl::IsUnavailable(status)) return status;  // our own disk: retry
          if (done == 0) {
            // Nothing applied: an event that does not decode, or the first
            // does not apply.
            for (size_t i = skip; i < events_.size(); ++i) {
              if (!DecodeChangeEvent(events_[i]).ok()) {
                return Stop(entry, EventDecodeError(i, events_[i]));
              }
            }
          }
          return Stop(entry, absl::StrCat("event ", applied_through + 1,
                                          " does not apply: ", status.ToString()));
        }
      }
      epoch_ = epoch;
      absl::MutexLock lock(&mu_);
      sid_draws_ = std::max(sid_draws_, batch.header.sid_draws);
      made_micros_ = batch.header.made_micros;
      log_sequence_ = std::max(log_sequence_, entry_sequence);
    }
    return applied;
  }

  absl::Status CatchUp(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string last_id;
    uint64_t target = 0;
    uint64_t epoch = 0;
    USERSTORE_RETURN_IF_ERROR(
        internal::changelog::ReadStreamEnd(log_.get(), &last_id, &target, &epoch));
    {
      absl::MutexLock lock(&mu_);
      log_sequence_ = std::max(log_sequence_, target);
    }
    while (store_->last_sequence() < target) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return MakeError(ErrorCode::kServiceUnavailable,
                         absl::StrCat("the follower of ", log_->url(), " reached sequence ",
                                      store_->last_sequence(), " of ", target, " in time"));
      }
      auto polled = Poll(std::min(left, absl::Milliseconds(200)));
      if (!polled.ok() && !absl::IsUnavailable(polled.status())) return polled.status();
      if (!polled.ok()) absl::SleepFor(std::min(left, retry_interval_));
    }
    return absl::OkStatus();
  }

  void Start() {
    if (thread_.joinable()) return;
    stop_thread_.store(false);
    thread_ = std::thread([this] {
      while (!stop_thread_.load()) {
        auto polled = Poll(absl::Milliseconds(100));
        if (polled.ok()) continue;
        if (!absl::IsUnavailable(polled.status())) return;  // stopped for good
        absl::SleepFor(retry_interval_);
      }
    });
  }

  void Stop() {
    stop_thread_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  absl::Status last_error() const {
    absl::MutexLock lock(&mu_);
    return stopped_;
  }

  ChangelogFollower::Lag lag() const {
    absl::MutexLock lock(&mu_);
    ChangelogFollower::Lag lag;
    lag.applied_sequence = store_->last_sequence();
    lag.log_sequence = std::max(log_sequence_, lag.applied_sequence);
    lag.events_behind = lag.log_sequence - lag.applied_sequence;
    if (lag.events_behind > 0 && made_micros_ > 0) {
      lag.behind = absl::Microseconds(internal::changelog::NowMicros() - made_micros_);
    }
    return lag;
  }

  // For a promotion: the SID draws of the newest batch that holds the last
  // applied event (re-read, since a restarted follower has not seen it).
  absl::StatusOr<uint64_t> LeaderDraws() {
    uint64_t draws;
    {
      absl::MutexLock lock(&mu_);
      draws = sid_draws_;
    }
    const uint64_t applied = store_->last_sequence();
    auto entries = log_->ReadAfter(applied > 0 ? applied - 1 : 0, 16, absl::ZeroDuration());
    if (!entries.ok()) return entries.status();
    for (const ChangelogLog::Entry& entry : *entries) {
      framing::BatchView batch;
      if (framing::ParseBatch(entry.data, &batch).ok()) {
        draws = std::max(draws, batch.header.sid_draws);
      }
    }
    return draws;
  }

  // The store, for a promotion (its gate is the new leader's by then).
  std::unique_ptr<UserStore> ReleaseStore() {
    Stop();
    return std::move(store_);
  }
  // (With no read ahead in flight: the caller may take the log.)
  std::unique_ptr<ChangelogLog>* log() {
    read_ahead_.Stop();
    return &log_;
  }
  Env* env() const { return env_; }
  // After a promotion: the directory is a leader's now.
  absl::Status DropMarker() {
    USERSTORE_RETURN_IF_ERROR(env_->RemoveFile(internal::durable::JoinPath(dir_, kMarker)));
    return env_->SyncDir(dir_);
  }
  void Regate() { store_->SetWriteGate(this); }

 private:
  // Stops the follower for good at `entry`.
  absl::Status Stop(const ChangelogLog::Entry& entry, absl::string_view why) {
    absl::MutexLock lock(&mu_);
    stopped_ =
        absl::DataLossError(absl::StrCat("the changelog ", log_->url(), ", entry ", entry.id, ": ",
                                         why, "; the follower stopped at sequence ",
                                         store_->last_sequence(), " and applies nothing more"));
    return stopped_;
  }

  std::unique_ptr<UserStore> store_;
  std::unique_ptr<ChangelogLog> log_;
  const absl::Duration retry_interval_;
  Env* const env_;
  const std::string dir_;
  // Poll's answers when it runs out of memory (made in advance: copying
  // them allocates nothing).
  const absl::Status out_of_memory_reading_ = MakeError(
      ErrorCode::kServiceUnavailable,
      absl::StrCat("the changelog ", log_->url(),
                   ": out of memory reading or checking its entries; the follower retries"));
  const absl::Status out_of_memory_applying_ = absl::ResourceExhaustedError(absl::StrCat(
      "the changelog ", log_->url(),
      ": out of memory applying its events; the follower stopped and applies nothing more "
      "(reopened, it resumes from what its directory holds)"));

  absl::Mutex poll_mu_;                           // one Poll at a time
  uint64_t epoch_ ABSL_GUARDED_BY(poll_mu_) = 0;  // of the last applied entry
  // The events of the entry Poll applies (views of its bytes; kept for
  // their capacity).
  std::vector<absl::string_view> events_ ABSL_GUARDED_BY(poll_mu_);
  mutable absl::Mutex mu_;
  absl::Status stopped_ ABSL_GUARDED_BY(mu_);
  uint64_t sid_draws_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t made_micros_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t log_sequence_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<bool> stop_thread_{false};
  std::thread thread_;
  // Reads with log_ (so declared after it: destroyed, and its thread
  // joined, first).
  ReadAhead read_ahead_{&log_};
};

namespace {

bool HasStore(Env* env, const std::string& dir) {
  auto names = env->ListDir(dir);
  if (!names.ok()) return false;
  for (const std::string& name : *names) {
    if (internal::durable::ParseCheckpointName(name)) return true;
  }
  return false;
}

// Writes the stream's checkpoint into `dir` as the store's first file, the
// way a durable store publishes a checkpoint (temporary, synced, renamed,
// directory synced).
absl::Status Bootstrap(Env* env, const std::string& dir, ChangelogLog* log) {
  auto checkpoint = log->GetCheckpoint();
  if (!checkpoint.ok()) {
    if (absl::IsNotFound(checkpoint.status())) {
      return MakeError(ErrorCode::kNotFound,
                       absl::StrCat(log->url(),
                                    " has no checkpoint to bootstrap from: no "
                                    "leader has started on it"));
    }
    return checkpoint.status();
  }
  if (!env->Exists(dir)) USERSTORE_RETURN_IF_ERROR(env->CreateDir(dir));
  namespace durable = internal::durable;
  USERSTORE_RETURN_IF_ERROR(
      durable::ReplaceFileDurably(env, dir, absl::StrCat(kMarker, ".tmp"), kMarker, log->url()));
  return durable::ReplaceFileDurably(env, dir, durable::CheckpointTempName(checkpoint->sequence),
                                     durable::CheckpointName(checkpoint->sequence),
                                     checkpoint->bytes);
}

}  // namespace

ChangelogFollower::ChangelogFollower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChangelogFollower::~ChangelogFollower() = default;

absl::StatusOr<std::unique_ptr<ChangelogFollower>> ChangelogFollower::Open(
    const std::string& dir, const DurableOptions& options, std::unique_ptr<ChangelogLog> log) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  const bool bootstrapped = !HasStore(env, dir);
  if (bootstrapped) {
    USERSTORE_RETURN_IF_ERROR(Bootstrap(env, dir, log.get()));
  } else if (!env->Exists(internal::durable::JoinPath(dir, kMarker))) {
    return MakeError(ErrorCode::kInvalidParameter,
                     absl::StrCat("the store in ", dir,
                                  " was not made by a follower (a leader's, or a deposed "
                                  "leader's, whose last writes the stream may not hold): a "
                                  "follower starts in a new directory"));
  }
  auto store = OpenUserStore(dir, options);
  if (!store.ok()) return store.status();
  std::string last_id;
  uint64_t log_sequence = 0;
  uint64_t epoch = 0;
  USERSTORE_RETURN_IF_ERROR(
      internal::changelog::ReadStreamEnd(log.get(), &last_id, &log_sequence, &epoch));
  if ((*store)->last_sequence() > log_sequence) {
    return MakeError(
        ErrorCode::kInvalidParameter,
        absl::StrCat("the store in ", dir, " is at sequence ", (*store)->last_sequence(),
                     ", past the end of ", log->url(), " (", log_sequence,
                     "): it is not a follower of that stream (a deposed leader's "
                     "directory? a follower starts in a new one)"));
  }
  auto impl =
      std::make_unique<Impl>(std::move(*store), std::move(log), absl::Milliseconds(100), env, dir);
  return std::make_unique<ChangelogFollower>(std::move(impl));
}

UserStore& ChangelogFollower::store() { return impl_->store(); }

absl::StatusOr<uint64_t> ChangelogFollower::Poll(absl::Duration wait) { return impl_->Poll(wait); }

absl::Status ChangelogFollower::CatchUp(absl::Duration timeout) { return impl_->CatchUp(timeout); }

void ChangelogFollower::Start() { impl_->Start(); }

void ChangelogFollower::Stop() { impl_->Stop(); }

absl::Status ChangelogFollower::last_error() const { return impl_->last_error(); }

ChangelogFollower::Lag ChangelogFollower::lag() const { return impl_->lag(); }

absl::StatusOr<ChangelogFollower::Promoted> ChangelogFollower::Promote(
    std::unique_ptr<ChangelogFollower> follower, const ChangelogOptions& options) {
  Impl* impl = follower->impl_.get();
  impl->Stop();
  absl::Status last;
  // The old leader may append between the catch-up and the fence: then the
  // fence is refused, and the promotion catches up again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    USERSTORE_RETURN_IF_ERROR(impl->CatchUp(options.ack_timeout));
    auto draws = impl->LeaderDraws();
    if (!draws.ok()) return draws.status();
    UserStore& store = impl->store();
    // A leader draws a handful of SIDs per write: a count this far ahead of
    // the checkpoint's is damage, not a reason to step the generator for hours.
    if (*draws > store.sid_draws() + (uint64_t{1} << 36)) {
      return absl::DataLossError(absl::StrCat("the changelog's SID draw count ", *draws,
                                              " is implausibly far ahead of this store's (",
                                              store.sid_draws(), "); not promoting"));
    }
    USERSTORE_RETURN_IF_ERROR(store.AdvanceSidDraws(*draws));
    store.SetWriteGate(nullptr);
    ChangelogOptions leader_options = options;
    if (leader_options.env == nullptr) leader_options.env = impl->env();
    auto leader = internal::changelog::StartLeader(&store, impl->log(), leader_options,
                                                   /*takeover=*/true);
    if (leader.ok()) {
      // The stream is led from this directory now; should the marker stay
      // (a crash here), the directory still refuses to follow only when it
      // is ahead of the stream, as any leader's may be.
      (void)impl->DropMarker();
      Promoted promoted;
      promoted.store = impl->ReleaseStore();
      promoted.leader = std::move(*leader);
      return promoted;
    }
    impl->Regate();
    last = leader.status();
    const bool moved = absl::IsPermissionDenied(last) || absl::IsInvalidArgument(last);
    if (!moved) return last;
  }
  return last;
}

}  // namespace userstore
