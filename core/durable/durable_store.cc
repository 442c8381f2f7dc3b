// DurableStore while the store runs (docs/durability.md): starting the
// journal, the background tick, checkpoints (forked or in process), their
// publication, and the stats. Opening a directory, recovery, is in
// recovery.cc.

#include "core/durable/durable_store.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userstore/event_codec.h"
#include "userstore/status.h"

#include "core/durable/event_encoding.h"
#include "core/durable/files.h"
#include "core/durable/format.h"
#include "core/huge_pages.h"
#include "core/store_impl.h"
#include "core/store_rules.h"

namespace userstore {
namespace internal {

using durable::JoinPath;

namespace {

// The checkpoint file's tail: a trailer frame with the record count.
std::string Trailer(uint64_t records) {
  std::string payload;
  durable::AppendU64(&payload, records);
  std::string out;
  durable::AppendFrame(&out, durable::RecordType::kTrailer, payload);
  return out;
}

// Counts the frames in a run of checkpoint records (each piece handed to a
// sink is whole frames).
uint64_t CountFrames(absl::string_view frames) {
  uint64_t count = 0;
  size_t offset = 0;
  while (offset + durable::kFrameHeaderSize <= frames.size()) {
    offset += durable::kFrameHeaderSize + durable::GetU32(frames.data() + offset + 4);
    ++count;
  }
  return count;
}

uint64_t NowUnix() { return static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())); }

}  // namespace

DurableStore::DurableStore(StoreImpl* impl, Env* env, std::string dir,
                           const DurableOptions& options, std::unique_ptr<FileLock> lock)
    : impl_(impl), env_(env), dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}

DurableStore::~DurableStore() {
  {
    absl::MutexLock lock(&state_mu_);
    stop_ = true;
    state_cv_.Signal();
  }
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  {
    absl::MutexLock lock(&checkpoint_mu_);  // a Checkpoint() under way
  }
  impl_->bus().set_journal(nullptr);
  journal_.reset();  // syncs
}

DurableOptions::CheckpointWriter DurableStore::EffectiveWriter() const {
  using Writer = DurableOptions::CheckpointWriter;
  switch (options_.checkpoint_writer) {
    case Writer::kInProcess:
    case Writer::kConcurrent:
      return options_.checkpoint_writer;
    case Writer::kFork:
      return env_->SupportsForkedWriters() ? Writer::kFork : Writer::kInProcess;
    case Writer::kAuto:
      break;
  }
  return Writer::kConcurrent;
}

absl::Status DurableStore::Start(uint64_t segment, uint64_t sequence, uint64_t journal_base,
                                 uint64_t checkpoint_bytes) {
  Journal::Options jo;
  jo.env = env_;
  jo.dir = dir_;
  jo.durability = options_.durability;
  jo.sync_interval = options_.sync_interval;
  jo.segment_bytes = std::max<uint64_t>(
      options_.segment_bytes, durable::kSegmentHeaderSize + 4 * impl_->JournalRecordBound());
  jo.record_bound = impl_->JournalRecordBound();
  jo.draws = impl_->draws_counter();
  jo.on_tick = [this] { OnTick(); };
  auto journal = Journal::Start(jo, segment, sequence);
  if (!journal.ok()) return journal.status();
  journal_ = std::move(*journal);
  tick_journal_.store(journal_.get(), std::memory_order_release);
  {
    absl::MutexLock lock(&state_mu_);
    journal_base_ = journal_base;
    checkpoint_bytes_ = checkpoint_bytes;
  }
  impl_->bus().set_journal(journal_.get());
  checkpoint_thread_ = std::thread([this] { CheckpointLoop(); });
  OnTick();  // a long journal replayed at open asks for a checkpoint at once
  return absl::OkStatus();
}

void DurableStore::OnTick() {
  if (options_.checkpoint_min_journal_bytes == 0) return;
  // Not journal_ (see tick_journal_). A tick before Start has stored the
  // pointer has nothing to measure yet; one during ~DurableStore runs before
  // the journal's destructor has joined this thread, so the journal's
  // members are all still there.
  const Journal* journal = tick_journal_.load(std::memory_order_acquire);
  if (journal == nullptr) return;
  const uint64_t written = journal->bytes_since_rotate();
  absl::MutexLock lock(&state_mu_);
  const uint64_t threshold = std::max<uint64_t>(
      options_.checkpoint_min_journal_bytes,
      static_cast<uint64_t>(options_.checkpoint_ratio * static_cast<double>(checkpoint_bytes_)));
  if (written + journal_base_ > threshold) {
    requested_ = true;
    state_cv_.Signal();
  }
}

void DurableStore::CheckpointLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&state_mu_);
      while (!stop_ && !requested_) state_cv_.Wait(&state_mu_);
      // A checkpoint asked for is taken even when the store is closing, so
      // that the next open does not replay the journal it would have cut.
      if (!requested_) return;
      requested_ = false;
    }
    (void)Checkpoint();  // its outcome is in Stats()
  }
}

absl::Status DurableStore::Checkpoint() {
  absl::MutexLock lock(&checkpoint_mu_);
  absl::Status status;
#if defined(__cpp_exceptions)
  try {
#endif
    status = CheckpointLocked();
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    // A step ran out of memory (building the image, the concurrent walk's
    // state or buffer, a path). The journal, perhaps cut into a new
    // segment, still holds every write the checkpoint would cover (its
    // segments go only after a published checkpoint), and the store was
    // unfrozen on the way out. An error, not an exception: the automatic
    // checkpoint runs on a thread of its own, where one would end the
    // process.
    status = absl::ResourceExhaustedError("checkpoint: out of memory (the journal is kept)");
  }
#endif
  if (!status.ok()) RemoveCheckpointTemps();
  last_checkpoint_status_ = status;
  if (status.ok()) ++checkpoints_;
  return status;
}

absl::Status DurableStore::CheckpointLocked() {
  durable::StoreIdentity identity;
  identity.created = NowUnix();
  absl::StatusOr<uint64_t> rotated = absl::UnknownError("not rotated");
  using Writer = DurableOptions::CheckpointWriter;
  const Writer writer = EffectiveWriter();
  const bool fork_writer = writer == Writer::kFork;
  pid_t child = -1;
  std::string image;
  std::unique_ptr<ConcurrentCheckpoint> concurrent;
  // The new segment is made before the store freezes (Rotate then only
  // switches to it, unless a write took it meanwhile).
  USERSTORE_RETURN_IF_ERROR(journal_->PrepareRotate());
  impl_->Frozen(&identity, [&] {
    rotated = journal_->Rotate(identity.sequence + 1);
    if (!rotated.ok()) return;
    if (writer == Writer::kConcurrent) {
      // Only the instant is taken here; the walk runs below, writers going on.
      concurrent = impl_->StartConcurrentCheckpoint();
      return;
    }
    if (fork_writer) {
      const pid_t parent = getpid();
      child = fork();
      if (child != 0) return;
      // The child: its memory is the store at this instant. It writes the
      // file and leaves (no destructor, no atexit handler of the parent's),
      // whatever happens: an exception must not unwind into the parent's
      // code running on in the child.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(3);
#if defined(__cpp_exceptions)
      try {
#endif
        const std::string path = JoinPath(dir_, durable::CheckpointTempName(identity.sequence));
        auto file = env_->NewWritableFile(path);
        if (!file.ok()) _exit(4);
        bool ok = (*file)->Append(durable::EncodeCheckpointHeader(identity)).ok();
        uint64_t records = 0;
        impl_->WriteCheckpointRecords([&](absl::string_view piece) {
          records += CountFrames(piece);
          if (ok) ok = (*file)->Append(piece).ok();
        });
        if (ok) ok = (*file)->Append(Trailer(records)).ok();
        if (ok) ok = (*file)->Sync().ok();
        if (ok) ok = (*file)->Close().ok();
        _exit(ok ? 0 : 5);
#if defined(__cpp_exceptions)
      } catch (...) {
        _exit(6);
      }
#endif
    }
    image = durable::EncodeCheckpointHeader(identity);
    uint64_t records = 0;
    impl_->WriteCheckpointRecords([&](absl::string_view piece) {
      records += CountFrames(piece);
      image.append(piece.data(), piece.size());
    });
    image += Trailer(records);
  });
  if (!rotated.ok()) return rotated.status();
  if (concurrent != nullptr) {
    USERSTORE_RETURN_IF_ERROR(WriteConcurrentCheckpointFile(identity, concurrent.get()));
  } else if (fork_writer) {
    if (child < 0) {
      return absl::InternalError(absl::StrCat("checkpoint: fork failed: ", std::strerror(errno)));
    }
    int wstatus = 0;
    pid_t waited;
    do {
      waited = waitpid(child, &wstatus, 0);
    } while (waited < 0 && errno == EINTR);
    // The fork split the huge pages this process wrote while the child ran
    // (core/huge_pages.h); gathered again, the next fork stays short.
    (void)internal::CollapseHugeChunks();
    if (waited != child || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      (void)env_->RemoveFile(JoinPath(dir_, durable::CheckpointTempName(identity.sequence)));
      return absl::InternalError(
          absl::StrCat("checkpoint: the writer process failed (status ", wstatus, ") writing ",
                       JoinPath(dir_, durable::CheckpointTempName(identity.sequence))));
    }
  } else {
    absl::Status written = WriteCheckpointFile(identity.sequence, image);
    if (!written.ok()) return written;
  }
  USERSTORE_RETURN_IF_ERROR(PublishCheckpoint(identity.sequence));
  USERSTORE_RETURN_IF_ERROR(journal_->RemoveSegmentsBelow(*rotated));
  last_checkpoint_sequence_ = identity.sequence;
  auto size = env_->FileSize(JoinPath(dir_, durable::CheckpointName(identity.sequence)));
  absl::MutexLock lock(&state_mu_);
  journal_base_ = 0;
  if (size.ok()) checkpoint_bytes_ = *size;
  return absl::OkStatus();
}

void DurableStore::RemoveCheckpointTemps() {
#if defined(__cpp_exceptions)
  try {
#endif
    auto listing = durable::ListDirectory(env_, dir_);
    if (!listing.ok()) return;
    for (const auto& entry : listing->temps) (void)env_->RemoveFile(JoinPath(dir_, entry.second));
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    // Recovery removes what is left (docs/durability.md).
  }
#endif
}

absl::Status DurableStore::WriteConcurrentCheckpointFile(const durable::StoreIdentity& identity,
                                                         ConcurrentCheckpoint* checkpoint) {
  const std::string path = JoinPath(dir_, durable::CheckpointTempName(identity.sequence));
  absl::Status status = [&]() -> absl::Status {
    USERSTORE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env_->NewWritableFile(path));
    USERSTORE_RETURN_IF_ERROR(file->Append(durable::EncodeCheckpointHeader(identity)));
    uint64_t records = 0;
    USERSTORE_RETURN_IF_ERROR(
        impl_->WriteConcurrentCheckpoint(checkpoint, [&](absl::string_view piece) {
          records += CountFrames(piece);
          return file->Append(piece);
        }));
    USERSTORE_RETURN_IF_ERROR(file->Append(Trailer(records)));
    USERSTORE_RETURN_IF_ERROR(file->Sync());
    return file->Close();
  }();
  if (!status.ok()) (void)env_->RemoveFile(path);
  return status;
}

absl::Status DurableStore::WriteCheckpointFile(uint64_t sequence, absl::string_view image) {
  return durable::WriteSyncedFile(env_, JoinPath(dir_, durable::CheckpointTempName(sequence)),
                                  image);
}

// The temporary file is complete and synced: rename it into place, make the
// rename durable, then drop what it supersedes.
absl::Status DurableStore::PublishCheckpoint(uint64_t sequence) {
  const std::string temp = JoinPath(dir_, durable::CheckpointTempName(sequence));
  const std::string final_path = JoinPath(dir_, durable::CheckpointName(sequence));
  absl::Status status = env_->RenameFile(temp, final_path);
  if (!status.ok()) {
    (void)env_->RemoveFile(temp);
    return status;
  }
  USERSTORE_RETURN_IF_ERROR(env_->SyncDir(dir_));
  auto listing = durable::ListDirectory(env_, dir_);
  if (!listing.ok()) return listing.status();
  bool removed = false;
  for (const auto& entry : listing->checkpoints) {
    if (entry.first >= sequence) continue;
    USERSTORE_RETURN_IF_ERROR(env_->RemoveFile(JoinPath(dir_, entry.second)));
    removed = true;
  }
  return removed ? env_->SyncDir(dir_) : absl::OkStatus();
}

absl::Status DurableStore::ReadLatestCheckpoint(uint64_t* sequence, std::string* bytes) {
  absl::MutexLock lock(&checkpoint_mu_);
  auto listing = durable::ListDirectory(env_, dir_);
  if (!listing.ok()) return listing.status();
  if (listing->checkpoints.empty()) {
    return absl::DataLossError(absl::StrCat(dir_, ": no checkpoint"));
  }
  const auto& newest = *listing->checkpoints.rbegin();
  auto read = env_->ReadFile(JoinPath(dir_, newest.second));
  if (!read.ok()) return read.status();
  *sequence = newest.first;
  *bytes = std::move(*read);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DurableStore::WriteFirstCheckpoint() {
  durable::StoreIdentity identity;
  identity.created = NowUnix();
  std::string image;
  impl_->Frozen(&identity, [&] {
    image = durable::EncodeCheckpointHeader(identity);
    uint64_t records = 0;
    impl_->WriteCheckpointRecords([&](absl::string_view piece) {
      records += CountFrames(piece);
      image.append(piece.data(), piece.size());
    });
    image += Trailer(records);
  });
  USERSTORE_RETURN_IF_ERROR(WriteCheckpointFile(identity.sequence, image));
  USERSTORE_RETURN_IF_ERROR(PublishCheckpoint(identity.sequence));
  {
    absl::MutexLock lock(&checkpoint_mu_);
    last_checkpoint_sequence_ = identity.sequence;
  }
  return image.size();
}

UserStore::DurabilityStats DurableStore::Stats() const {
  UserStore::DurabilityStats stats;
  stats.journal_bytes = journal_->written_position();
  stats.journal_synced_bytes = journal_->synced_position();
  stats.syncs = journal_->syncs();
  absl::Status health = journal_->health();
  if (!health.ok()) stats.journal_error = std::string(health.message());
  absl::MutexLock lock(&checkpoint_mu_);
  stats.checkpoints = checkpoints_;
  stats.last_checkpoint_sequence = last_checkpoint_sequence_;
  if (!last_checkpoint_status_.ok()) {
    stats.last_checkpoint_error = std::string(last_checkpoint_status_.message());
  }
  return stats;
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<UserStore>> OpenUserStore(const std::string& path,
                                                         const DurableOptions& options,
                                                         RecoveryReport* report) {
  return internal::DurableStore::Open(path, options, report);
}

}  // namespace userstore
