// DurableStore::Open: recovery (docs/durability.md, "Recovery"). The newest
// checkpoint is loaded (its users in runs, StoreImpl::RestoreUsers), then the
// journal after it is replayed (in runs, through ApplyEncoded), the torn tail
// or, in kSalvage, the damage dropped; only once all of it has succeeded does
// the directory change. The running store's side (checkpoints, stats) is in
// durable_store.cc.

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#include "userstore/event_codec.h"
#include "userstore/status.h"

#include "core/durable/durable_store.h"
#include "core/durable/event_encoding.h"
#include "core/durable/files.h"
#include "core/durable/format.h"
#include "core/store_impl.h"
#include "core/store_rules.h"

namespace userstore {
namespace internal {

using durable::JoinPath;

namespace {

// A file recovery reads, mapped rather than copied into memory (a
// checkpoint of 10^6 users is some 200 MB: reading it into a string was
// two fifths of recovery's time). Recovery never writes through it.
absl::string_view ViewOf(MappedFile& file) {
  return absl::string_view(file.data(), static_cast<size_t>(file.size()));
}

// Loads checkpoint `name` into a new engine, whose user tables are sized for
// the checkpoint's users and `journal_user_creates` more.
absl::StatusOr<std::unique_ptr<StoreImpl>> LoadCheckpoint(Env* env, const std::string& dir,
                                                          const std::string& name,
                                                          const DurableOptions& options,
                                                          uint64_t journal_user_creates,
                                                          durable::StoreIdentity* identity,
                                                          RecoveryReport* report, uint64_t* bytes) {
  const std::string path = JoinPath(dir, name);
  auto file = env->OpenMappedFile(path);
  if (!file.ok()) return file.status();
  const absl::string_view contents = ViewOf(**file);
  *bytes = contents.size();
  // The identity comes first in the file; the engine is built once it is
  // known, then the records go in.
  std::unique_ptr<StoreImpl> impl;
  std::string pending_service;  // the service whose counters are still to set
  uint64_t pending_next_user = 0;
  uint64_t pending_next_role = 0;
  uint64_t records = 0;
  // User records wait in runs for RestoreUsers (which overlaps their cache
  // misses); a refused one is reported at its own offset, and whatever
  // stops the read first, the earliest problem is the one reported.
  constexpr size_t kRestoreRun = 256;
  std::vector<StoreImpl::RestoredUser> run;
  std::vector<uint64_t> run_offsets;
  run.reserve(kRestoreRun);
  run_offsets.reserve(kRestoreRun);
  absl::Status refused;  // a run's record's error, at its offset
  auto restore_run = [&]() -> absl::Status {
    if (run.empty()) return absl::OkStatus();
    size_t restored = 0;
    absl::Status s = impl->RestoreUsers(run, &restored);
    if (!s.ok()) refused = durable::BadCheckpointRecord(path, run_offsets[restored], s);
    run.clear();
    run_offsets.clear();
    return s;
  };
  auto finish_service = [&]() -> absl::Status {
    if (pending_service.empty()) return absl::OkStatus();
    absl::Status s =
        impl->FinishServiceRestore(pending_service, pending_next_user, pending_next_role);
    pending_service.clear();
    return s;
  };
  absl::Status status = durable::ReadCheckpoint(
      contents, path, identity, [&](const durable::CheckpointRecord& r) -> absl::Status {
        if (impl == nullptr) {
          StoreOptions so = options.store;
          so.account_sid = identity->account_sid;
          so.create_default_service = false;
          impl = std::make_unique<StoreImpl>(so);
          if (!impl->init_status().ok()) return impl->init_status();
          // The trailer's count (the file's last 8 bytes, checked when the
          // read reaches it) sizes the tables, when it is plausible, with
          // room for the journal's creates.
          if (contents.size() >= 8) {
            const uint64_t hint = durable::GetU64(contents.data() + contents.size() - 8);
            if (hint <= contents.size() / 16) impl->ReserveUsers(hint + journal_user_creates);
          }
        }
        ++records;
        if (r.type == durable::RecordType::kUser) {
          // The fast path: the record viewed in the file, no ChangeEvent.
          StoreImpl::RestoredUser& user = run.emplace_back();
          if (DecodeUserEventImage(r.event, &user.image)) {
            user.position = r.position;
            run_offsets.push_back(r.offset);
            return run.size() < kRestoreRun ? absl::OkStatus() : restore_run();
          }
          run.pop_back();
        }
        USERSTORE_RETURN_IF_ERROR(restore_run());
        USERSTORE_ASSIGN_OR_RETURN(ChangeEvent event, DecodeChangeEvent(r.event));
        switch (r.type) {
          case durable::RecordType::kService:
            USERSTORE_RETURN_IF_ERROR(finish_service());
            USERSTORE_RETURN_IF_ERROR(impl->RestoreService(event, r.position));
            pending_service = event.service->sid;
            pending_next_user = r.next_user_position;
            pending_next_role = r.next_role_position;
            return absl::OkStatus();
          case durable::RecordType::kRole:
            return impl->RestoreRole(event, r.position);
          case durable::RecordType::kUser:
            return impl->RestoreUser(event, r.position);
          default:
            return absl::InvalidArgumentError("unexpected record type");
        }
      });
  // What the read stopped at comes after the run's records: they go first.
  if (impl != nullptr && restore_run().ok() && status.ok()) status = finish_service();
  if (!refused.ok()) return refused;
  if (!status.ok()) return status;
  if (impl == nullptr) {  // a checkpoint of a store with no service at all
    StoreOptions so = options.store;
    so.account_sid = identity->account_sid;
    so.create_default_service = false;
    impl = std::make_unique<StoreImpl>(so);
  }
  impl->RestoreIdentity(*identity);
  report->checkpoint_sequence = identity->sequence;
  report->checkpoint_records = records;
  return impl;
}

// How far a journal record's SID draw count may pass the previous one's: a
// write draws at most five SIDs (a service and its four roles) plus, once in
// 2^100 or so, a collision's redraw; only a create that failed after its
// draw (out of memory) leaves a draw without a record.
constexpr uint64_t kMaxDrawsPerRecord = 1024;

// A journal problem at `offset` of `name`: what strict recovery refuses.
absl::Status JournalDamage(const std::string& path, uint64_t offset, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat(path, ": ", what, " at byte offset ", offset,
                   " (before the journal's tail: not a torn write; open with "
                   "RecoveryMode::kSalvage to recover up to the record before it)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<UserStore>> DurableStore::Open(const std::string& path,
                                                              const DurableOptions& options,
                                                              RecoveryReport* report_out) {
  const absl::Time start = absl::Now();
  RecoveryReport report;
  Env* env = options.env != nullptr ? options.env : Env::Default();
  if (path.empty()) return InvalidParameterError("OpenUserStore: empty directory path");
  if (!env->Exists(path)) {
    // A new directory's own entry must be durable too: its parent is synced.
    USERSTORE_RETURN_IF_ERROR(env->CreateDir(path));
    const size_t slash = path.find_last_of('/', path.size() > 1 ? path.size() - 2 : 0);
    const std::string parent =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    USERSTORE_RETURN_IF_ERROR(env->SyncDir(parent));
  }
  auto lock = env->LockDir(path);
  if (!lock.ok()) return lock.status();
  auto listing = durable::ListDirectory(env, path);
  if (!listing.ok()) return listing.status();

  std::unique_ptr<StoreImpl> impl;
  uint64_t sequence = 0;
  uint64_t next_segment = 1;
  uint64_t journal_bytes = 0;
  uint64_t checkpoint_bytes = 0;
  // Disk changes recovery makes once it has succeeded.
  struct TornTail {
    std::string path;
    uint64_t from = 0;
    uint64_t to = 0;
  };
  std::vector<TornTail> zero_out;
  std::vector<std::string> drop_files;  // segments after the tail
  bool created = false;

  if (listing->checkpoints.empty()) {
    if (!listing->segments.empty()) {
      return absl::DataLossError(
          absl::StrCat(path, ": journal segments but no checkpoint (the directory is damaged)"));
    }
    impl = std::make_unique<StoreImpl>(options.store);
    if (!impl->init_status().ok()) return impl->init_status();
    created = true;
  } else {
    const uint64_t newest_checkpoint = listing->checkpoints.rbegin()->first;
    // Every segment is scanned before the checkpoint is loaded, so that the
    // user tables are sized once, for the checkpoint's users and the
    // journal's user creates after it (the newest checkpoint's name says its
    // sequence): grown as the creates arrived, they rehashed every user they
    // held (measured: 14% of a recovery's profile, with 10^6 users of which
    // 40% were in the journal). A segment that does not open is reported
    // when the replay reaches it (a segment after the tail is dropped, opened
    // or not, as before).
    struct Scanned {
      uint64_t number;
      std::string path;
      absl::StatusOr<std::unique_ptr<MappedFile>> file;
      durable::SegmentScan scan;
    };
    std::vector<Scanned> scanned;
    scanned.reserve(listing->segments.size());
    uint64_t user_creates = 0;
    for (const auto& entry : listing->segments) {
      std::string seg_path = JoinPath(path, entry.second);
      auto file = env->OpenMappedFile(seg_path);
      Scanned& s = scanned.emplace_back(
          Scanned{entry.first, std::move(seg_path), std::move(file), durable::SegmentScan{}});
      if (!s.file.ok()) continue;
      s.scan = durable::ScanSegment(ViewOf(**s.file));
      for (const durable::JournalRecord& r : s.scan.records) {
        if (r.sequence > newest_checkpoint && IsUserCreateEvent(r.event)) ++user_creates;
      }
    }

    // The newest checkpoint; in kSalvage, an older one when it is damaged.
    durable::StoreIdentity identity;
    absl::Status last_error;
    for (auto it = listing->checkpoints.rbegin(); it != listing->checkpoints.rend(); ++it) {
      auto loaded = LoadCheckpoint(env, path, it->second, options, user_creates, &identity, &report,
                                   &checkpoint_bytes);
      if (loaded.ok()) {
        impl = std::move(*loaded);
        break;
      }
      last_error = loaded.status();
      if (options.recovery != RecoveryMode::kSalvage || absl::IsFailedPrecondition(last_error)) {
        return last_error;
      }
      report.salvage_note = absl::StrCat(report.salvage_note, "skipped damaged checkpoint ",
                                         it->second, ": ", last_error.message(), "; ");
    }
    if (impl == nullptr) return last_error;
    if (!options.store.account_sid.empty() && options.store.account_sid != identity.account_sid) {
      return InvalidParameterError(absl::StrCat("OpenUserStore: the store in ", path,
                                                " belongs to account ", identity.account_sid,
                                                ", not ", options.store.account_sid));
    }
    sequence = identity.sequence;
    uint64_t draws = identity.draws;
    bool stopped = false;  // the tail was reached: later segments are dropped
    for (const Scanned& segment : scanned) {
      next_segment = std::max(next_segment, segment.number + 1);
      const std::string& seg_path = segment.path;
      if (stopped) {
        drop_files.push_back(seg_path);
        continue;
      }
      if (!segment.file.ok()) return segment.file.status();
      const durable::SegmentScan& scan = segment.scan;
      if (scan.header_status != durable::HeaderStatus::kOk) {
        if (scan.data_end == 0) continue;  // made, never written
        if (scan.header_status == durable::HeaderStatus::kUnknownVersion) {
          return absl::FailedPreconditionError(absl::StrCat(
              seg_path, ": unsupported journal segment version ", scan.header.version));
        }
        if (options.recovery != RecoveryMode::kSalvage) {
          return JournalDamage(seg_path, 0, durable::HeaderStatusText(scan.header_status));
        }
        report.salvage_note = absl::StrCat(report.salvage_note, seg_path, ": ",
                                           durable::HeaderStatusText(scan.header_status), "; ");
        report.salvaged_bytes_dropped += scan.data_end;
        drop_files.push_back(seg_path);
        stopped = true;
        continue;
      }
      if (scan.records.empty() && scan.stop == durable::FrameStatus::kEnd &&
          scan.data_end <= durable::kSegmentHeaderSize) {
        // Made and never written (a spare, or a session with no write): it
        // holds nothing, so it goes.
        drop_files.push_back(seg_path);
        continue;
      }
      uint64_t stop_at = scan.end;  // where this segment's good data ends
      std::string problem;
      // The records are checked in runs, then applied through ApplyEncoded
      // (user events as views of the segment, no ChangeEvent), as a
      // follower applies its leader's; the first problem in file order is
      // the one reported, whether a check's or an apply's.
      constexpr size_t kReplayRun = 256;
      std::vector<const durable::JournalRecord*> run;
      std::vector<absl::string_view> events;
      run.reserve(kReplayRun);
      events.reserve(kReplayRun);
      size_t next = 0;
      while (problem.empty() && next < scan.records.size()) {
        run.clear();
        events.clear();
        uint64_t expect_sequence = sequence;
        uint64_t expect_draws = draws;
        std::string check_problem;
        uint64_t check_stop = 0;
        for (; next < scan.records.size() && run.size() < kReplayRun; ++next) {
          const durable::JournalRecord& r = scan.records[next];
          if (r.sequence <= identity.sequence) continue;  // a checkpoint covers it
          if (r.sequence != expect_sequence + 1) {
            check_problem = absl::StrCat("sequence gap (expected ", expect_sequence + 1, ", found ",
                                         r.sequence, ")");
            check_stop = r.offset;
            break;
          }
          // Draws only grow, and a write draws a handful of SIDs (a service
          // create five); a count past kMaxDrawsPerRecord more than the last
          // is damage, not a reason to step the generator that far.
          if (r.draws < expect_draws || r.draws - expect_draws > kMaxDrawsPerRecord) {
            check_problem = absl::StrCat("SID draw count out of range (", r.draws, " after ",
                                         expect_draws, ")");
            check_stop = r.offset;
            break;
          }
          expect_sequence = r.sequence;
          expect_draws = std::max(expect_draws, r.draws);
          run.push_back(&r);
          events.push_back(r.event);
        }
        size_t applied = 0;
        absl::Status status =
            events.empty() ? absl::OkStatus() : impl->ApplyEncoded(events, &applied);
        // ApplyEncoded decodes a whole run before it applies any of it: the
        // rest goes one at a time, to find the record refused (a refused
        // event changes nothing).
        if (!status.ok()) {
          for (; applied < events.size(); ++applied) {
            size_t one = 0;
            status = impl->ApplyEncoded(absl::MakeConstSpan(&events[applied], 1), &one);
            if (!status.ok()) break;
          }
        }
        for (size_t i = 0; i < applied; ++i) {
          sequence = run[i]->sequence;
          draws = std::max(draws, run[i]->draws);
          journal_bytes += run[i]->size;
          ++report.journal_records;
        }
        if (!status.ok()) {
          problem = absl::StrCat("record does not apply (", status.message(), ")");
          stop_at = run[applied]->offset;
        } else if (!check_problem.empty()) {
          problem = std::move(check_problem);
          stop_at = check_stop;
        }
      }
      // Bytes after the end of the data: an append torn before its frame
      // header was written (the header is written last), or damage.
      const bool trailing = scan.stop == durable::FrameStatus::kEnd && scan.data_end > scan.end;
      if (problem.empty() && scan.stop == durable::FrameStatus::kEnd && !trailing) continue;
      if (problem.empty()) {
        problem =
            trailing ? "bytes after the end of the data" : durable::FrameStatusName(scan.stop);
      }
      // A bad frame at or past the synced watermark is the torn tail of a
      // crash (or of a power loss in the unsynced window); before it, damage.
      const bool torn = (trailing || problem == durable::FrameStatusName(scan.stop)) &&
                        stop_at >= scan.header.synced_until;
      if (!torn) {
        if (options.recovery != RecoveryMode::kSalvage) {
          return JournalDamage(seg_path, stop_at, problem);
        }
        report.salvage_note = absl::StrCat(report.salvage_note, seg_path, ": ", problem,
                                           " at byte offset ", stop_at, "; ");
        report.salvaged_bytes_dropped += scan.data_end > stop_at ? scan.data_end - stop_at : 0;
      } else {
        report.torn_bytes_dropped = scan.data_end > stop_at ? scan.data_end - stop_at : 0;
        report.torn_file = seg_path;
      }
      zero_out.push_back({seg_path, stop_at, std::max<uint64_t>(scan.data_end, stop_at)});
      stopped = true;
    }
    impl->AdvanceDrawsTo(draws);
  }

  // Recovery succeeded: now (and only now) the directory changes.
  for (const TornTail& t : zero_out) {
    if (t.to <= t.from) continue;
    auto file = env->OpenMappedFile(t.path);
    if (!file.ok()) return file.status();
    const uint64_t to = std::min<uint64_t>(t.to, (*file)->size());
    if (options.recovery == RecoveryMode::kSalvage && report.salvaged_bytes_dropped > 0) {
      auto aside = env->NewWritableFile(JoinPath(
          path, absl::StrCat("salvaged-", t.from, "-", t.path.substr(t.path.rfind('/') + 1))));
      if (aside.ok()) {
        (void)(*aside)->Append(absl::string_view((*file)->data() + t.from, to - t.from));
        (void)(*aside)->Sync();
        (void)(*aside)->Close();
      }
    }
    std::memset((*file)->data() + t.from, 0, to - t.from);
    USERSTORE_RETURN_IF_ERROR((*file)->Sync(0, to));
  }
  for (const std::string& drop : drop_files) {
    if (options.recovery == RecoveryMode::kSalvage && report.salvaged_bytes_dropped > 0) {
      USERSTORE_RETURN_IF_ERROR(env->RenameFile(
          drop, JoinPath(path, absl::StrCat("salvaged-", drop.substr(drop.rfind('/') + 1)))));
    } else {
      USERSTORE_RETURN_IF_ERROR(env->RemoveFile(drop));
    }
  }
  for (const auto& entry : listing->temps) {
    USERSTORE_RETURN_IF_ERROR(env->RemoveFile(JoinPath(path, entry.second)));
  }
  if (!drop_files.empty() || !listing->temps.empty()) {
    USERSTORE_RETURN_IF_ERROR(env->SyncDir(path));
  }

  StoreImpl* raw = impl.get();
  std::unique_ptr<UserStore> store(new UserStore(std::move(impl)));
  auto durable = std::make_unique<DurableStore>(raw, env, path, options, std::move(*lock));
  if (created) {
    auto size = durable->WriteFirstCheckpoint();
    if (!size.ok()) return size.status();
    checkpoint_bytes = *size;
    sequence = raw->last_sequence();
  }
  USERSTORE_RETURN_IF_ERROR(
      durable->Start(next_segment, sequence + 1, journal_bytes, checkpoint_bytes));
  store->durable_ = std::move(durable);
  report.created = created;
  report.last_sequence = raw->last_sequence();
  report.duration = absl::Now() - start;
  if (report_out != nullptr) *report_out = report;
  return store;
}

}  // namespace internal
}  // namespace userstore
