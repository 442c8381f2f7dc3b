#include "core/durable/journal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

#include "userstore/status.h"

#include "core/durable/format.h"

namespace userstore {
namespace internal {
namespace {

// The journal position the calling thread's last append ended at, and the
// journal it went to (a thread may write to several stores).
// A journal is named by a number never reused in the process (not by its
// address, which a later journal may get).
struct LastAppend {
  uint64_t journal = 0;
  uint64_t position = 0;
};
thread_local LastAppend tls_last_append;
std::atomic<uint64_t> next_journal_id{1};

absl::Status Unavailable(absl::string_view why) {
  return MakeError(
      ErrorCode::kServiceUnavailable,
      absl::StrCat("Service Unavailable: the journal could not be written (", why, ")"));
}

uint64_t NowUnix() { return static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())); }

}  // namespace

Journal::Journal(const Options& options)
    : options_(options), id_(next_journal_id.fetch_add(1, std::memory_order_relaxed)) {}

absl::StatusOr<std::unique_ptr<Journal>> Journal::Start(const Options& options,
                                                        uint64_t segment_number,
                                                        uint64_t first_sequence) {
  std::unique_ptr<Journal> journal(new Journal(options));
  auto segment = journal->MakeSegment(segment_number);
  if (!segment.ok()) return segment.status();
  durable::SegmentHeader header;
  header.segment_number = segment_number;
  header.first_sequence = first_sequence;
  header.created = NowUnix();
  durable::WriteSegmentHeader(header, (*segment)->data());
  absl::Status synced = (*segment)->file->Sync(0, durable::kSegmentHeaderSize);
  if (synced.ok()) synced = options.env->SyncDir(options.dir);
  if (!synced.ok()) return synced;
  {
    absl::MutexLock lock(&journal->mu_);
    journal->current_ = std::move(*segment);
    journal->next_number_ = segment_number + 1;
    journal->last_sequence_ = first_sequence - 1;
  }
  journal->background_ = std::thread([raw = journal.get()] { raw->BackgroundLoop(); });
  return journal;
}

Journal::~Journal() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    background_cv_.Signal();
  }
  if (background_.joinable()) background_.join();
  absl::MutexLock lock(&mu_);
  while (syncing_) state_cv_.Wait(&mu_);
  // The last sync also makes the header's watermark durable, so that after
  // a clean close every record counts as synced (damage to one is damage,
  // not a torn tail).
  final_sync_ = true;
  if (!failed_.ok()) return;
  if (written_ > synced_) {
    (void)LeadSyncLocked();
  } else if (current_->synced > durable::kSegmentHeaderSize) {
    (void)current_->file->Sync(0, durable::kSegmentHeaderSize);
  }
}

absl::StatusOr<std::unique_ptr<Journal::Segment>> Journal::MakeSegment(uint64_t number) {
  const std::string path = durable::JoinPath(options_.dir, durable::SegmentName(number));
  auto file = options_.env->NewMappedFile(path, options_.segment_bytes);
  if (!file.ok()) return file.status();
  // Synced once a second at most (or never): large pages spare the writers
  // page faults and the sync a TLB flush per 4 KiB page. A sync per write
  // would write each dirty large page whole.
  if (options_.durability != Durability::kSyncEachWrite) (*file)->PreferLargePages();
  auto segment = std::make_unique<Segment>();
  segment->file = std::move(*file);
  segment->number = number;
  segment->tail = durable::kSegmentHeaderSize;
  durable::SegmentHeader header;
  header.segment_number = number;
  header.created = NowUnix();
  durable::WriteSegmentHeader(header, segment->data());
  return segment;
}

uint64_t Journal::FreeLocked() const { return current_->file->size() - current_->tail; }

absl::Status Journal::EnsureSpareLocked() {
  while (making_spare_) state_cv_.Wait(&mu_);
  if (spare_ != nullptr) return absl::OkStatus();
  if (!failed_.ok()) return failed_;
  making_spare_ = true;
  const uint64_t number = next_number_++;
  mu_.Unlock();
  // Nothing may leave this stretch by an exception: the caller's lock must
  // be held again, and making_spare_ cleared, on every way out.
  std::unique_ptr<Segment> made;
  absl::Status status;
#if defined(__cpp_exceptions)
  try {
#endif
    absl::StatusOr<std::unique_ptr<Segment>> segment = MakeSegment(number);
    status = segment.status();
    if (status.ok()) made = std::move(*segment);
    // The new file's name must be durable before a record in it is.
    if (status.ok()) status = options_.env->SyncDir(options_.dir);
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    status = absl::ResourceExhaustedError("journal: out of memory making a segment");
  }
#endif
  if (!status.ok()) {
    // A file made before the failure holds no record: it goes, or each
    // failed attempt would leave one of segment_bytes behind.
    made.reset();
#if defined(__cpp_exceptions)
    try {
#endif
      (void)options_.env->RemoveFile(durable::JoinPath(options_.dir, durable::SegmentName(number)));
#if defined(__cpp_exceptions)
    } catch (const std::bad_alloc&) {
    }
#endif
  }
  mu_.Lock();
  making_spare_ = false;
  state_cv_.SignalAll();
  if (!status.ok()) return status;
  spare_ = std::move(made);
  return absl::OkStatus();
}

void Journal::SwitchToSpareLocked(uint64_t first_sequence) {
  if (spare_ == nullptr) {
    // Reserve keeps a spare whenever the current segment might not hold the
    // reserved records; reaching here is a broken invariant, and writing
    // past the mapping would corrupt memory.
    std::fprintf(stderr, "userstore: journal invariant broken: no spare segment\n");
    std::abort();
  }
  durable::SegmentHeader header;
  header.segment_number = spare_->number;
  header.first_sequence = first_sequence;
  header.created = NowUnix();
  durable::WriteSegmentHeader(header, spare_->data());
  spare_->base = written_;
  sealed_.push_back(std::move(current_));
  current_ = std::move(spare_);
  background_cv_.Signal();  // to make the next spare
}

absl::Status Journal::Reserve(int records) {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return Unavailable(failed_.message());
  const uint64_t need = static_cast<uint64_t>(reserved_ + records) * options_.record_bound;
  auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t spare =
        spare_ == nullptr ? 0 : spare_->file->size() - durable::kSegmentHeaderSize;
    return FreeLocked() + spare;
  };
  if (room() < need) {
    absl::Status made = EnsureSpareLocked();
    if (!made.ok()) return Unavailable(made.message());
    if (room() < need) {
      return Unavailable("too many writes in flight for the journal's segment size");
    }
  }
  reserved_ += records;
  return absl::OkStatus();
}

void Journal::Unreserve(int records) {
  absl::MutexLock lock(&mu_);
  reserved_ -= records;
}

uint64_t Journal::Append(absl::FunctionRef<uint64_t()> number,
                         absl::FunctionRef<char*(uint64_t, char*)> encode) noexcept {
  absl::MutexLock lock(&mu_);
  const uint64_t sequence = number();
  if (FreeLocked() < options_.record_bound) SwitchToSpareLocked(sequence);
  Segment* segment = current_.get();
  char* frame = segment->data() + segment->tail;
  char* payload = frame + durable::kFrameHeaderSize;
  durable::PutU64(payload,
                  options_.draws != nullptr ? options_.draws->load(std::memory_order_relaxed) : 0);
  char* end = encode(sequence, payload + 8);
  const uint32_t length = static_cast<uint32_t>(end - payload);
  durable::SealFrame(frame, durable::RecordType::kEvent, length);
  last_sequence_ = sequence;
  if (tap_ != nullptr)
    tap_->OnJournaled(sequence, absl::string_view(payload + 8, end - payload - 8));
  const uint64_t size = durable::kFrameHeaderSize + length;
  segment->tail += size;
  written_ += size;
  --reserved_;
  tls_last_append = {id_, written_};
  return sequence;
}

uint64_t Journal::SetTap(JournalTap* tap) {
  absl::MutexLock lock(&mu_);
  tap_ = tap;
  return last_sequence_;
}

absl::Status Journal::SyncTo(uint64_t position) {
  Waiter self;
  self.position = position;
  absl::MutexLock lock(&mu_);
  position = std::min(position, written_);
  for (;;) {
    if (!failed_.ok()) return Unavailable(failed_.message());
    if (synced_ >= position) return absl::OkStatus();
    if (!syncing_) {
      GatherLocked();
      (void)LeadSyncLocked();
      continue;
    }
    self.done = false;
    self.lead = false;
    waiters_.push_back(self);
    if (gathering_) gather_cv_.Signal();
    while (!self.done && !self.lead) self.cv.Wait(&mu_);
    if (self.is_linked()) waiters_.erase(waiters_.iterator_to(self));
  }
}

absl::Status Journal::AwaitThreadDurable() {
  if (options_.durability != Durability::kSyncEachWrite) return absl::OkStatus();
  if (tls_last_append.journal != id_) return absl::OkStatus();
  return SyncTo(tls_last_append.position);
}

absl::Status Journal::Sync() {
  uint64_t position;
  {
    absl::MutexLock lock(&mu_);
    position = written_;
  }
  return SyncTo(position);
}

void Journal::GatherLocked() {
  if (last_group_ <= 1 || waiters_.size() + 1 >= last_group_) return;
  // Writers arriving meanwhile queue as waiters of the coming sync.
  syncing_ = true;
  gathering_ = true;
  const absl::Time until = absl::Now() + std::min(last_sync_time_ / 4, absl::Microseconds(500));
  while (waiters_.size() + 1 < last_group_ && !stop_) {
    if (gather_cv_.WaitWithTimeout(&mu_, until - absl::Now())) break;
  }
  gathering_ = false;
  syncing_ = false;  // (LeadSyncLocked takes it at once)
}

absl::Status Journal::LeadSyncLocked() {
  syncing_ = true;
  const absl::Time started = absl::Now();
  const uint64_t target = written_;
  struct Work {
    Segment* segment;
    uint64_t tail;
  };
  std::vector<Work> work;
  for (auto& s : sealed_) work.push_back({s.get(), s->tail});
  work.push_back({current_.get(), current_->tail});
  mu_.Unlock();
  absl::Status status;
  for (const Work& w : work) {
    if (w.tail <= w.segment->synced) continue;
    status = w.segment->file->Sync(0, w.tail);
    if (!status.ok()) break;
    // How far this sync reached, for recovery to tell a torn tail from
    // damage (docs/file-format.md). Durable with the segment's next sync; a
    // sealed segment has none, so its header is synced again now.
    durable::PutU64(w.segment->data() + durable::kSyncedUntilOffset, w.tail);
    if (w.segment != work.back().segment || final_sync_) {
      status = w.segment->file->Sync(0, durable::kSegmentHeaderSize);
      if (!status.ok()) break;
    }
  }
  mu_.Lock();
  syncing_ = false;
  last_sync_time_ = absl::Now() - started;
  state_cv_.SignalAll();
  if (status.ok()) {
    syncs_.fetch_add(1, std::memory_order_relaxed);
    if (target > synced_) synced_ = target;
    for (const Work& w : work) {
      if (w.tail > w.segment->synced) w.segment->synced = w.tail;
    }
    for (auto it = sealed_.begin(); it != sealed_.end();) {
      it = (*it)->synced >= (*it)->tail ? sealed_.erase(it) : it + 1;
    }
  } else {
    Fail(status);
  }
  // Wake every waiter this sync covered (or that the failure concerns), and
  // hand the leadership to the first one left.
  uint64_t group = 1;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Waiter& w = *it;
    if (!failed_.ok() || w.position <= synced_) {
      ++group;
      it = waiters_.erase(it);
      w.done = true;
      w.cv.Signal();
    } else {
      ++it;
    }
  }
  last_group_ = group;
  if (!waiters_.empty()) {
    Waiter& next = waiters_.front();
    waiters_.pop_front();
    next.lead = true;
    next.cv.Signal();
  }
  return status;
}

void Journal::Fail(const absl::Status& status) {
  if (failed_.ok()) failed_ = status;
}

absl::Status Journal::health() const {
  absl::MutexLock lock(&mu_);
  return failed_.ok() ? absl::OkStatus() : Unavailable(failed_.message());
}

absl::Status Journal::PrepareRotate() {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return Unavailable(failed_.message());
  return EnsureSpareLocked();
}

absl::StatusOr<uint64_t> Journal::Rotate(uint64_t first_sequence) {
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return Unavailable(failed_.message());
  if (current_->tail == durable::kSegmentHeaderSize) {
    // Nothing appended since the current segment began, so it begins at
    // `first_sequence` already: the checkpoint needs no new one. (Each
    // checkpoint of an idle store, or each retry of one that failed, would
    // otherwise leave an empty segment file of segment_bytes behind until
    // a checkpoint succeeds.)
    rotate_position_ = written_;
    return current_->number;
  }
  absl::Status made = EnsureSpareLocked();
  if (!made.ok()) return made;
  SwitchToSpareLocked(first_sequence);
  rotate_position_ = written_;
  return current_->number;
}

absl::Status Journal::RemoveSegmentsBelow(uint64_t number) {
  {
    absl::MutexLock lock(&mu_);
    while (syncing_) state_cv_.Wait(&mu_);
    for (auto it = sealed_.begin(); it != sealed_.end();) {
      it = (*it)->number < number ? sealed_.erase(it) : it + 1;
    }
  }
  auto names = options_.env->ListDir(options_.dir);
  if (!names.ok()) return names.status();
  bool removed = false;
  for (const std::string& name : *names) {
    std::optional<uint64_t> n = durable::ParseSegmentName(name);
    if (!n.has_value() || *n >= number) continue;
    absl::Status status = options_.env->RemoveFile(durable::JoinPath(options_.dir, name));
    if (!status.ok()) return status;
    removed = true;
  }
  return removed ? options_.env->SyncDir(options_.dir) : absl::OkStatus();
}

uint64_t Journal::bytes_since_rotate() const {
  absl::MutexLock lock(&mu_);
  return written_ - rotate_position_;
}
uint64_t Journal::written_position() const {
  absl::MutexLock lock(&mu_);
  return written_;
}
uint64_t Journal::synced_position() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool Journal::NeedsSpareLocked() const {
  return spare_ == nullptr && !making_spare_ && FreeLocked() < options_.segment_bytes / 2;
}

bool Journal::BackgroundShouldWake() const { return stop_ || NeedsSpareLocked(); }

namespace {

// How far past the current segment's tail the background thread keeps the
// mapping prefaulted, how much of a spare it prefaults before the spare is in
// use, and how much of a segment at most at one wake. The work follows the
// writes in steps of a few MiB instead of a whole segment at once: clearing
// 64 MiB of new pages took a vCPU for tens of milliseconds (on a 2-vCPU
// machine a follower on the same host lost its core for that long). At a
// wake every kBackgroundTick, the steps keep up with 400 MB/s of writes
// (a durable create journals ~200 bytes: two million creates a second);
// writers that outrun them take the page faults themselves.
constexpr uint64_t kPrefaultAhead = uint64_t{32} << 20;
constexpr uint64_t kSparePrefault = uint64_t{8} << 20;
constexpr uint64_t kPrefaultStep = uint64_t{4} << 20;
constexpr absl::Duration kBackgroundTick = absl::Milliseconds(10);

}  // namespace

void Journal::PrefaultLocked() {
  // The current segment first (writers are in it), then the spare.
  for (int pass = 0; pass < 2 && !stop_; ++pass) {
    Segment* segment = pass == 0 ? current_.get() : spare_.get();
    if (segment == nullptr) continue;
    const uint64_t start = pass == 0 ? segment->tail : durable::kSegmentHeaderSize;
    const uint64_t ahead = pass == 0 ? kPrefaultAhead : kSparePrefault;
    const uint64_t from = std::max(segment->prefaulted, start);
    const uint64_t target =
        std::min<uint64_t>({segment->file->size(), start + ahead, from + kPrefaultStep});
    if (from >= target) continue;
    segment->prefaulted = target;
    std::shared_ptr<MappedFile> file = segment->file;
    mu_.Unlock();
    file->Prefault(from, target - from);
    file.reset();  // (a segment retired meanwhile is unmapped here)
    mu_.Lock();
  }
}

void Journal::BackgroundLoop() {
  absl::MutexLock lock(&mu_);
  absl::Time next_sync = absl::Now() + options_.sync_interval;
  while (!stop_) {
    // Wake at the next sync, or early when the current segment runs low
    // (so the spare is ready before an append needs it), or to stop.
    const absl::Duration wait = std::max(absl::ZeroDuration(), next_sync - absl::Now());
    if (!BackgroundShouldWake()) {
      (void)background_cv_.WaitWithTimeout(&mu_, std::min(wait, kBackgroundTick));
    }
    if (stop_) break;
    if (NeedsSpareLocked() && failed_.ok()) {
      (void)EnsureSpareLocked();  // a failure shows in the next Reserve
    }
    // Writers then take no page fault in the segment (docs/durability.md).
    if (!stop_) PrefaultLocked();
    if (absl::Now() < next_sync) continue;
    next_sync = absl::Now() + options_.sync_interval;
    if (options_.durability == Durability::kBackgroundSync && failed_.ok() && !syncing_ &&
        written_ > synced_) {
      (void)LeadSyncLocked();
    }
    if (options_.on_tick) {
      mu_.Unlock();
      options_.on_tick();
      mu_.Lock();
    }
  }
}

}  // namespace internal
}  // namespace userstore
