// ChangelogLeader (changelog.h): ships a durable store's change feed to its
// partition's stream.
//
// The store's feed delivers each committed event, in sequence order, to a
// subscription that only queues it (the write path never waits on the
// network). One shipping thread takes up to `max_batch_events` queued events,
// encodes them as one changelog batch and appends it to the stream with the
// log's conditional append, expecting the entry it appended last. Events
// leave the queue only once the log acknowledged them: an append that fails
// is retried after `retry_interval` with the same expectation, and one whose
// answer was lost is recognized by its entry ID (changelog.h: the ID says
// its last sequence and epoch). A refused append means another leader has
// appended: the leader is fenced, stops shipping, and its gate answers every
// later write 403/20403.
//
// The store's WriteGate is this leader: BeforeWrite refuses writes once
// fenced (403/20403) and, in kAsync, once `max_unshipped_events` are waiting
// (503/20503, nothing changed); AfterWrite, in kSync, waits until the log has
// the write's event (503/20503 after `ack_timeout`: the change is kept and
// still shipped).
//
// The leader's directory holds a file LEADS ("<stream URL>\n<epoch>\n"),
// written (synced, renamed, directory synced) once its fence entry is in the
// stream: a restarted leader resumes only when the stream's last epoch is
// still its own, so a deposed leader that restarts cannot take the stream
// back.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "userstore/changelog.h"
#include "userstore/env.h"
#include "userstore/replication.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/changelog/changelog_internal.h"
#include "core/durable/files.h"

namespace userstore {
namespace {

// The encoding of a batch of `events` (none for a fence) by the leader of
// `epoch` of `store`, made now.
absl::Status EncodeLeaderBatch(const UserStore& store, uint64_t epoch,
                               std::vector<ChangeEvent> events, std::string* data) {
  ChangelogBatch batch;
  batch.epoch = epoch;
  batch.sid_draws = store.sid_draws();
  batch.made_micros = internal::changelog::NowMicros();
  batch.events = std::move(events);
  return EncodeChangelogBatch(batch, data);
}

}  // namespace

class ChangelogLeader::Impl : public WriteGate {
 public:
  Impl(UserStore* store, std::unique_ptr<ChangelogLog> log, const ChangelogOptions& options,
       uint64_t epoch, std::string last_id, uint64_t shipped)
      : store_(store),
        log_(std::move(log)),
        options_(options),
        epoch_(epoch),
        last_id_(std::move(last_id)),
        shipped_(shipped) {
    if (options_.max_batch_events == 0) options_.max_batch_events = 1;
  }

  ~Impl() override { Stop(); }

  // Subscribes to the store's feed. Returns false when the store has moved
  // past `sequence` meanwhile (a write during Start).
  bool Subscribe(uint64_t sequence) {
    subscription_ = store_->Subscribe([this](const ChangeEvent& event) {
      absl::MutexLock lock(&mu_);
      pending_.push_back(event);
      cv_.SignalAll();
    });
    return store_->last_sequence() == sequence;
  }

  void Run() {
    thread_ = std::thread([this] { Ship(); });
    store_->SetWriteGate(this);
  }

  // Unsets the gate, stops the subscription, ships what is queued (until the
  // ack timeout), stops the thread.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    store_->SetWriteGate(nullptr);
    if (subscription_ != 0) store_->Unsubscribe(subscription_);
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      drain_deadline_ = absl::Now() + options_.ack_timeout;
      cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

  absl::Status BeforeWrite() override {
    absl::MutexLock lock(&mu_);
    if (fenced_) return Fenced();
    if (failed_) return Failed();
    if (options_.mode == ChangelogOptions::Mode::kAsync &&
        store_->last_sequence() - shipped_ >= options_.max_unshipped_events) {
      return MakeError(
          ErrorCode::kServiceUnavailable,
          absl::StrCat("the changelog ", log_->url(), " is ", store_->last_sequence() - shipped_,
                       " events behind; writes wait for it (", last_error_.message(), ")"));
    }
    return absl::OkStatus();
  }

  absl::Status AfterWrite(uint64_t sequence) override {
    if (options_.mode != ChangelogOptions::Mode::kSync) return absl::OkStatus();
    return AwaitShipped(sequence, options_.ack_timeout);
  }

  absl::Status AwaitShipped(uint64_t sequence, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&mu_);
    while (shipped_ < sequence && !fenced_ && !failed_ && !stop_) {
      if (cv_.WaitWithTimeout(&mu_, deadline - absl::Now())) break;
    }
    if (shipped_ >= sequence) return absl::OkStatus();
    if (fenced_) return Fenced();
    if (failed_) return Failed();
    return MakeError(ErrorCode::kServiceUnavailable,
                     absl::StrCat("the changelog ", log_->url(), " has not acknowledged event ",
                                  sequence, " (", stop_ ? "the leader is stopping" : "timed out",
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
    stats.shipped_sequence = shipped_;
    stats.batches = batches_;
    stats.retries = retries_;
    stats.fenced = fenced_;
    stats.last_error = last_error_;
    return stats;
  }

 private:
  absl::Status Fenced() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return MakeError(ErrorCode::kForbidden,
                     absl::StrCat("this store no longer leads ", log_->url(), " (epoch ", epoch_,
                                  "): another leader took it; rejoin as a follower"));
  }

  absl::Status Failed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return MakeError(
        ErrorCode::kServiceUnavailable,
        absl::StrCat("the leader of ", log_->url(), " stopped shipping: ", last_error_.message()));
  }

  // The shipping thread.
  void Ship() {
    for (;;) {
      std::vector<ChangeEvent> events;
      {
        absl::MutexLock lock(&mu_);
        while (pending_.empty() && !stop_) cv_.Wait(&mu_);
        if (pending_.empty()) return;  // stopping, and all shipped
        if (stop_ && absl::Now() >= drain_deadline_) return;
        const size_t n = std::min(pending_.size(), options_.max_batch_events);
        events.assign(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(n));
      }
      const uint64_t last = events.back().sequence;
      std::string data;
      absl::Status status = EncodeLeaderBatch(*store_, epoch_, std::move(events), &data);
      absl::StatusOr<std::string> id = status.ok() ? log_->AppendIf(last_id_, last, epoch_, data)
                                                   : absl::StatusOr<std::string>(status);
      // Refused: fenced, unless the stream ends with an entry of this epoch
      // (only this leader appends in it): an earlier append whose answer was
      // lost (a timeout, the log restarting) landed after all, possibly with
      // fewer events than this attempt. What it holds is shipped.
      uint64_t landed = 0;
      if (!id.ok() && absl::IsPermissionDenied(id.status())) {
        auto end = log_->LastId();
        uint64_t end_sequence = 0;
        uint64_t end_epoch = 0;
        if (end.ok() && ChangelogLog::ParseEntryId(*end, &end_sequence, &end_epoch) &&
            end_epoch == epoch_ && *end != last_id_) {
          last_id_ = *end;
          landed = end_sequence;
        }
      }
      absl::MutexLock lock(&mu_);
      if (id.ok() || landed != 0) {
        if (id.ok()) {
          last_id_ = *id;
          landed = last;
        }
        while (!pending_.empty() && pending_.front().sequence <= landed) pending_.pop_front();
        shipped_ = std::max(shipped_, landed);
        ++batches_;
        cv_.SignalAll();
        continue;
      }
      last_error_ = id.status();
      if (absl::IsPermissionDenied(id.status()) || !status.ok()) {
        // Fenced; or an event that does not encode (no later attempt changes
        // that; the store never commits one): nothing more is shipped.
        fenced_ = absl::IsPermissionDenied(id.status());
        failed_ = !fenced_;
        cv_.SignalAll();
        return;
      }
      ++retries_;
      const absl::Time retry_at = absl::Now() + options_.retry_interval;
      while (!stop_ && absl::Now() < retry_at) {
        if (cv_.WaitWithTimeout(&mu_, retry_at - absl::Now())) break;
      }
      if (stop_ && absl::Now() >= drain_deadline_) return;
    }
  }

  UserStore* const store_;
  const std::unique_ptr<ChangelogLog> log_;
  ChangelogOptions options_;
  const uint64_t epoch_;
  std::string last_id_;  // the shipping thread's (and Start's, before it)
  uint64_t subscription_ = 0;
  bool stopped_ = false;
  std::thread thread_;

  mutable absl::Mutex mu_;
  // pending_, shipped_, fenced_ or stop_ changed. Waited on with Wait and
  // WaitWithTimeout, which the tests' ThreadSanitizer shim makes visible.
  absl::CondVar cv_;
  std::deque<ChangeEvent> pending_ ABSL_GUARDED_BY(mu_);  // delivered, not acknowledged
  uint64_t shipped_ ABSL_GUARDED_BY(mu_);
  bool fenced_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
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
  USERSTORE_RETURN_IF_ERROR(EncodeLeaderBatch(*store, next_epoch, {}, &data));
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
  if (!leader_impl->Subscribe(sequence)) {
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
