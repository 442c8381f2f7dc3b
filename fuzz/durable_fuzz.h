// Shared pieces of the durable store's fuzz targets (journal, checkpoint):
// the options of the store they recover, the files of a fresh store (the
// valid checkpoint a fuzzed segment is recovered after), a fingerprint of a
// store's whole state, the whole-recovery check, and "resealing": the
// checksums of a mutated file recomputed, so that mutations of what the
// checksums cover (events, identities) reach the decoders and recovery
// rather than stopping at a checksum mismatch.
//
// Header-only, used by one translation unit per binary.

#ifndef USERSTORE_FUZZ_DURABLE_FUZZ_H_
#define USERSTORE_FUZZ_DURABLE_FUZZ_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz_common.h"

#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/fault_injection_env.h"
#include "userstore/options.h"
#include "userstore/user_store.h"

#include "core/durable/crc32c.h"
#include "core/durable/format.h"

namespace userstore {
namespace fuzz {

// The directory every target's simulated disk holds the store in.
inline constexpr char kDurableDir[] = "/d";

// The options of every store the targets open: deterministic (seed, a fixed
// clock), synced on each write, small segments, only explicit checkpoints,
// written in process (a simulated Env has no forked writer).
inline DurableOptions FuzzDurableOptions(Env* env, RecoveryMode recovery) {
  static const std::shared_ptr<ManualClock> clock =
      std::make_shared<ManualClock>(absl::FromUnixSeconds(1700000000));
  DurableOptions options;
  options.env = env;
  options.durability = Durability::kSyncEachWrite;
  options.recovery = recovery;
  options.store.seed = 20260101;
  options.store.clock = clock;
  options.segment_bytes = 16 << 10;
  options.checkpoint_min_journal_bytes = 0;
  options.checkpoint_writer = DurableOptions::CheckpointWriter::kInProcess;
  return options;
}

// The files of `dir` on `env`, by name (the LOCK file left out).
inline std::vector<std::pair<std::string, std::string>> DirFiles(FaultInjectionEnv* env,
                                                                 const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  auto names = env->ListDir(dir);
  FUZZ_CHECK(names.ok(), "ListDir: %s", names.status().ToString().c_str());
  for (const std::string& name : *names) {
    if (name == "LOCK") continue;
    out.emplace_back(name, env->Contents(internal::durable::JoinPath(dir, name)));
  }
  return out;
}

// A fresh store's directory: created, then closed with no write. Its
// checkpoint is the base a fuzzed journal segment is recovered after, and
// `segment_name` the name a store opened on it gives its first segment.
struct FreshStore {
  std::string checkpoint_name;
  std::string checkpoint;
  std::string segment_name;
};

inline FreshStore MakeFreshStore() {
  auto env = NewFaultInjectionEnv();
  {
    auto store = OpenUserStore(kDurableDir, FuzzDurableOptions(env.get(), RecoveryMode::kStrict));
    FUZZ_CHECK(store.ok(), "fresh store: %s", store.status().ToString().c_str());
  }
  FreshStore fresh;
  for (const auto& file : DirFiles(env.get(), kDurableDir)) {
    if (internal::durable::ParseCheckpointName(file.first)) {
      fresh.checkpoint_name = file.first;
      fresh.checkpoint = file.second;
    }
  }
  FUZZ_CHECK(!fresh.checkpoint.empty(), "a fresh store has no checkpoint");
  // The segment a store opened on this directory writes into first.
  {
    auto store = OpenUserStore(kDurableDir, FuzzDurableOptions(env.get(), RecoveryMode::kStrict));
    FUZZ_CHECK(store.ok(), "reopened fresh store: %s", store.status().ToString().c_str());
    for (const auto& file : DirFiles(env.get(), kDurableDir)) {
      if (internal::durable::ParseSegmentName(file.first) &&
          (fresh.segment_name.empty() || file.first < fresh.segment_name)) {
        fresh.segment_name = file.first;
      }
    }
  }
  FUZZ_CHECK(!fresh.segment_name.empty(), "an open store has no journal segment");
  return fresh;
}

inline const FreshStore& Fresh() {
  static const FreshStore* fresh = new FreshStore(MakeFreshStore());
  return *fresh;
}

// Whether `part` lies wholly inside `whole` (a view a reader returned points
// into the input it was given).
inline bool Inside(absl::string_view part, absl::string_view whole) {
  return part.data() >= whole.data() && part.size() <= whole.size() &&
         static_cast<size_t>(part.data() - whole.data()) <= whole.size() - part.size();
}

// The whole state of a store as text: account, last sequence, and the
// encoding of every event of its snapshot (services, roles, users in order,
// with dates, presence and counts).
inline std::string Fingerprint(const UserStore& store) {
  std::string out = absl::StrCat(store.account_sid(), "#", store.last_sequence(), "\n");
  for (const ChangeEvent& event : store.Snapshot().events) {
    std::string bytes;
    const absl::Status s = EncodeChangeEvent(event, &bytes);
    FUZZ_CHECK(s.ok(), "a snapshot event does not encode: %s", s.ToString().c_str());
    out += Escape(bytes, bytes.size());
    out += "\n";
  }
  return out;
}

// Recomputes the checksum of every frame of `file` from `offset` on (each
// frame found by its declared length) and clears its padding, up to the
// first frame whose header is all zero or that runs past the end. With
// `bound_draws`, a journal record's SID-draw count is cut to its low 16 bits
// (see ResealSegment).
inline void ResealFrames(std::string* file, size_t offset, bool bound_draws) {
  namespace durable = internal::durable;
  while (file->size() - offset >= durable::kFrameHeaderSize) {
    char* frame = &(*file)[offset];
    const uint32_t length = durable::GetU32(frame + 4);
    if (durable::GetU32(frame) == 0 && length == 0 && durable::GetU32(frame + 8) == 0) return;
    if (length > durable::kMaxPayload ||
        length > file->size() - offset - durable::kFrameHeaderSize) {
      return;
    }
    if (bound_draws &&
        static_cast<uint8_t>(frame[8]) == static_cast<uint8_t>(durable::RecordType::kEvent) &&
        length >= 8) {
      char* draws = frame + durable::kFrameHeaderSize;
      durable::PutU64(draws, durable::GetU64(draws) & 0xFFFF);
    }
    durable::SealFrame(frame, static_cast<durable::RecordType>(frame[8]), length);
    offset += durable::kFrameHeaderSize + length;
  }
}

// A journal segment with a correct header checksum (when it has the magic
// and the version) and every frame resealed. (The SID-draw counts are left
// as they are: recovery bounds the draws between two records, the fix of
// this fuzzer's first finding, tests/regress/journal_huge_draws_test.cc.)
inline std::string ResealSegment(absl::string_view bytes) {
  namespace durable = internal::durable;
  std::string file(bytes);
  if (file.size() < durable::kSegmentHeaderSize) return file;
  char* page = &file[0];
  if (std::memcmp(page, durable::kSegmentMagic, 8) == 0 &&
      durable::GetU32(page + 8) == durable::kSegmentVersion) {
    uint32_t crc = internal::crc32c::Value(page, 12);
    crc = internal::crc32c::Extend(crc, page + 16, 24);
    durable::PutU32(page + 12, internal::crc32c::Mask(crc));
  }
  ResealFrames(&file, durable::kSegmentHeaderSize, /*bound_draws=*/false);
  return file;
}

// A checkpoint with a correct header checksum (when its header length fits)
// and every frame resealed.
inline std::string ResealCheckpoint(absl::string_view bytes) {
  namespace durable = internal::durable;
  constexpr size_t kPrefix = 20;  // magic, version, header length, header CRC
  std::string file(bytes);
  if (file.size() < kPrefix) return file;
  const uint32_t header_length = durable::GetU32(&file[12]);
  if (header_length > file.size() - kPrefix) return file;
  durable::PutU32(&file[16],
                  internal::crc32c::Mask(internal::crc32c::Value(&file[kPrefix], header_length)));
  ResealFrames(&file, kPrefix + header_length, /*bound_draws=*/false);
  return file;
}

// Whether `status` is an error a recovery may give for damaged files: the
// data is bad (DATA_LOSS), of an unknown version (FAILED_PRECONDITION), or
// decodes to something invalid (INVALID_ARGUMENT: the codec's 400/20001).
inline bool IsRecoveryRefusal(const absl::Status& status) {
  return absl::IsDataLoss(status) || absl::IsFailedPrecondition(status) ||
         absl::IsInvalidArgument(status);
}

// Puts `files` (name, contents) into a new simulated disk's kDurableDir and
// opens the store there in `recovery` mode. The open must fail with a
// refusal (IsRecoveryRefusal) or give a store whose invariants hold; that
// store must then take a write, and reopen (closed cleanly, same mode) to
// exactly its state. Aborts otherwise.
inline void CheckRecovery(const std::vector<std::pair<std::string, std::string>>& files,
                          RecoveryMode recovery) {
  auto env = NewFaultInjectionEnv();
  FUZZ_CHECK(env->CreateDir(kDurableDir).ok(), "CreateDir");
  for (const auto& file : files) {
    env->SetContents(internal::durable::JoinPath(kDurableDir, file.first), file.second);
  }
  const char* mode = recovery == RecoveryMode::kStrict ? "strict" : "salvage";
  const DurableOptions options = FuzzDurableOptions(env.get(), recovery);
  std::string before;
  {
    auto store = OpenUserStore(kDurableDir, options);
    if (!store.ok()) {
      FUZZ_CHECK(IsRecoveryRefusal(store.status()), "%s recovery failed with %s", mode,
                 store.status().ToString().c_str());
      return;
    }
    const absl::Status inv = (*store)->CheckInvariants();
    FUZZ_CHECK(inv.ok(), "%s recovery: CheckInvariants: %s", mode, inv.ToString().c_str());
    // A write after recovery goes to the recovered journal; it succeeds
    // unless the recovered state refuses it (the SID it would take exists).
    CreateServiceRequest service;
    service.friendly_name = "after";
    auto created = (*store)->CreateService(service);
    FUZZ_CHECK(created.ok() || absl::IsInvalidArgument(created.status()) ||
                   absl::IsAlreadyExists(created.status()),
               "%s recovery: a write after it failed with %s", mode,
               created.status().ToString().c_str());
    const absl::Status inv2 = (*store)->CheckInvariants();
    FUZZ_CHECK(inv2.ok(), "%s recovery, after a write: CheckInvariants: %s", mode,
               inv2.ToString().c_str());
    before = Fingerprint(**store);
  }
  auto again = OpenUserStore(kDurableDir, options);
  FUZZ_CHECK(again.ok(), "%s recovery: the recovered store does not reopen: %s", mode,
             again.status().ToString().c_str());
  const std::string after = Fingerprint(**again);
  FUZZ_CHECK(after == before, "%s recovery: the reopened store differs:\n%s\n---\n%s", mode,
             before.c_str(), after.c_str());
}

}  // namespace fuzz
}  // namespace userstore

#endif  // USERSTORE_FUZZ_DURABLE_FUZZ_H_
