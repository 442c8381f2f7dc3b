// Recovery applies records in runs: a checkpoint's user records go in
// through StoreImpl::RestoreUsers (which overlaps their cache misses), a
// segment's events through ApplyEncoded. These tests hold what that must not
// change: a record refused in the middle of a run is reported at its own
// byte offset; of two problems the earlier in the file is the one reported,
// whichever the read meets first; and salvage keeps exactly the records
// before the refused one.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

#include "core/durable/files.h"
#include "core/durable/format.h"

namespace userstore {
namespace {

namespace durable = internal::durable;

constexpr char kDir[] = "/d";
constexpr int kUsers = 700;  // more than two runs of either kind (256 records)

DurableOptions Options(FaultInjectionEnv* env, RecoveryMode mode) {
  DurableOptions options = durable_testing::SimulatedDiskOptions(env, mode);
  options.segment_bytes = 1 << 20;  // one segment holds every record
  return options;
}

// kUsers users u0, u1, ... in the default service, then (when `checkpoint`)
// a checkpoint; closed. Returns the sequence before the first create.
uint64_t Populate(FaultInjectionEnv* env, bool checkpoint) {
  auto store = OpenUserStore(kDir, Options(env, RecoveryMode::kStrict));
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return 0;
  const uint64_t before = (*store)->last_sequence();
  const std::string service = (*store)->default_conversation_service_sid();
  for (int i = 0; i < kUsers; ++i) {
    CreateUserRequest request;
    request.identity = absl::StrCat("u", i);
    EXPECT_TRUE((*store)->CreateUser(service, request).ok());
  }
  if (checkpoint) {
    EXPECT_TRUE((*store)->Checkpoint().ok());
  }
  return before;
}

// The path of the directory's one file `parse` accepts that `keep` keeps.
template <typename Parse, typename Keep>
std::string FindFile(FaultInjectionEnv* env, Parse parse, Keep keep) {
  std::string found;
  auto names = env->ListDir(kDir);
  EXPECT_TRUE(names.ok()) << names.status();
  for (const std::string& name : *names) {
    const std::string path = durable::JoinPath(kDir, name);
    if (parse(name) && keep(env->Contents(path))) {
      EXPECT_TRUE(found.empty()) << "two files: " << found << ", " << path;
      found = path;
    }
  }
  return found;
}

std::string NewestCheckpoint(FaultInjectionEnv* env) {
  std::string newest;
  uint64_t newest_sequence = 0;
  auto names = env->ListDir(kDir);
  EXPECT_TRUE(names.ok()) << names.status();
  for (const std::string& name : *names) {
    if (auto sequence = durable::ParseCheckpointName(name)) {
      if (newest.empty() || *sequence > newest_sequence) {
        newest = durable::JoinPath(kDir, name);
        newest_sequence = *sequence;
      }
    }
  }
  return newest;
}

// The offsets of a checkpoint's user records, in file order.
std::vector<uint64_t> UserRecordOffsets(const std::string& file) {
  durable::StoreIdentity identity;
  std::vector<uint64_t> offsets;
  const absl::Status read = durable::ReadCheckpoint(file, "checkpoint", &identity,
                                                    [&](const durable::CheckpointRecord& r) {
                                                      if (r.type == durable::RecordType::kUser)
                                                        offsets.push_back(r.offset);
                                                      return absl::OkStatus();
                                                    });
  EXPECT_TRUE(read.ok()) << read;
  return offsets;
}

// Gives the checkpoint user record at `offset` position 0, which is below
// the records' before it (refused: "user positions out of order"), and
// reseals its frame so that its checksum is good.
void RefuseCheckpointUser(std::string* file, uint64_t offset) {
  durable::Frame frame;
  ASSERT_EQ(durable::ReadFrame(*file, offset, &frame), durable::FrameStatus::kOk);
  durable::PutU64(&(*file)[offset + durable::kFrameHeaderSize], 0);
  durable::SealFrame(&(*file)[offset], frame.type,
                     static_cast<uint32_t>(frame.size - durable::kFrameHeaderSize));
}

// Flips a byte of the payload of the frame at `offset` (its checksum fails).
void Damage(std::string* file, uint64_t offset) {
  (*file)[offset + durable::kFrameHeaderSize + 2] ^= 0x40;
}

absl::Status OpenStatus(FaultInjectionEnv* env, RecoveryMode mode) {
  return OpenUserStore(kDir, Options(env, mode)).status();
}

// DATA_LOSS naming byte offset `offset`, and saying `what` when given.
::testing::AssertionResult IsDamageAt(const absl::Status& status, uint64_t offset,
                                      absl::string_view what = "") {
  if (!absl::IsDataLoss(status))
    return ::testing::AssertionFailure() << "not DATA_LOSS: " << status;
  if (!absl::StrContains(status.message(), absl::StrCat(" at byte offset ", offset))) {
    return ::testing::AssertionFailure() << "does not name offset " << offset << ": " << status;
  }
  if (!absl::StrContains(status.message(), what)) {
    return ::testing::AssertionFailure() << "does not say \"" << what << "\": " << status;
  }
  return ::testing::AssertionSuccess();
}

class CheckpointRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Populate(env_.get(), /*checkpoint=*/true);
    path_ = NewestCheckpoint(env_.get());
    ASSERT_FALSE(path_.empty());
    file_ = env_->Contents(path_);
    offsets_ = UserRecordOffsets(file_);
    ASSERT_EQ(offsets_.size(), static_cast<size_t>(kUsers));
  }

  // Files the changed checkpoint and opens the store strictly.
  absl::Status OpenChanged() {
    env_->SetContents(path_, file_);
    return OpenStatus(env_.get(), RecoveryMode::kStrict);
  }

  std::unique_ptr<FaultInjectionEnv> env_ = NewFaultInjectionEnv();
  std::string path_;
  std::string file_;
  std::vector<uint64_t> offsets_;
};

TEST_F(CheckpointRunTest, ARecordRefusedInARunIsReportedAtItsOwnOffset) {
  // Record 300 sits inside the second run of 256 (records 256..511).
  RefuseCheckpointUser(&file_, offsets_[300]);
  EXPECT_TRUE(IsDamageAt(OpenChanged(), offsets_[300], "positions out of order"));
}

TEST_F(CheckpointRunTest, ARefusedRecordBeforeDamageInTheSameRunIsTheOneReported) {
  // The read meets the damage at 310 before the run holding 300 is applied.
  RefuseCheckpointUser(&file_, offsets_[300]);
  Damage(&file_, offsets_[310]);
  EXPECT_TRUE(IsDamageAt(OpenChanged(), offsets_[300], "positions out of order"));
}

TEST_F(CheckpointRunTest, DamageBeforeARefusedRecordIsTheOneReported) {
  Damage(&file_, offsets_[290]);
  RefuseCheckpointUser(&file_, offsets_[300]);
  const absl::Status status = OpenChanged();
  EXPECT_TRUE(IsDamageAt(status, offsets_[290]));
  EXPECT_FALSE(absl::StrContains(status.message(), "positions out of order")) << status;
}

TEST_F(CheckpointRunTest, ARefusedLastRecordIsReportedAfterTheTrailerIsRead) {
  // The last run is applied once the read has checked the trailer.
  RefuseCheckpointUser(&file_, offsets_.back());
  EXPECT_TRUE(IsDamageAt(OpenChanged(), offsets_.back(), "positions out of order"));
}

TEST_F(CheckpointRunTest, AnUntouchedCheckpointRecoversEveryUser) {
  auto store = OpenUserStore(kDir, Options(env_.get(), RecoveryMode::kStrict));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string service = (*store)->default_conversation_service_sid();
  EXPECT_EQ(*(*store)->CountUsers(service), kUsers);
  for (int i = 0; i < kUsers; i += 37) {
    EXPECT_TRUE((*store)->GetUser(service, absl::StrCat("u", i)).ok()) << i;
  }
  EXPECT_TRUE((*store)->CheckInvariants().ok());
}

// The journal: the same users, replayed from one segment (no checkpoint
// after the writes).
class JournalRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    before_ = Populate(env_.get(), /*checkpoint=*/false);
    path_ = FindFile(
        env_.get(), [](const std::string& name) { return durable::ParseSegmentName(name); },
        [](const std::string& contents) {
          return !durable::ScanSegment(contents).records.empty();
        });
    ASSERT_FALSE(path_.empty());
    file_ = env_->Contents(path_);
    records_ = durable::ScanSegment(file_).records;
    ASSERT_EQ(records_.size(), static_cast<size_t>(kUsers));
  }

  // Makes record `i` a create of user i - 1's identity (refused: 409), with
  // its sequence and draws kept and its checksum good: copies record i - 1's
  // event in, with record i's sequence. Both records have the same length
  // (identities of equal length).
  void RefuseRecord(size_t i) {
    const durable::JournalRecord& r = records_[i];
    const durable::JournalRecord& previous = records_[i - 1];
    ASSERT_EQ(r.size, previous.size);
    const size_t event_at = r.offset + durable::kFrameHeaderSize + 8;
    const size_t previous_event_at = previous.offset + durable::kFrameHeaderSize + 8;
    std::string event = file_.substr(previous_event_at, previous.event.size());
    durable::PutU64(&event[4], r.sequence);  // the sequence field: bytes 4..11
    file_.replace(event_at, event.size(), event);
    Reseal(i);
    ASSERT_EQ(durable::ScanSegment(file_).records.size(), records_.size());
  }

  // Makes record `i` claim a sequence two past its predecessor's (a gap
  // before it), with its checksum good.
  void SkipSequence(size_t i) {
    const durable::JournalRecord& r = records_[i];
    // The event's sequence field: bytes 4..11, after the draw count.
    durable::PutU64(&file_[r.offset + durable::kFrameHeaderSize + 8 + 4], r.sequence + 1);
    Reseal(i);
  }

  // Recomputes record `i`'s frame checksum over its changed bytes.
  void Reseal(size_t i) {
    const durable::JournalRecord& r = records_[i];
    durable::SealFrame(&file_[r.offset], durable::RecordType::kEvent,
                       static_cast<uint32_t>(r.size - durable::kFrameHeaderSize));
  }

  std::unique_ptr<FaultInjectionEnv> env_ = NewFaultInjectionEnv();
  uint64_t before_ = 0;
  std::string path_;
  std::string file_;
  std::vector<durable::JournalRecord> records_;
};

TEST_F(JournalRunTest, ARecordRefusedInARunIsReportedAtItsOffsetAndSalvageKeepsThoseBefore) {
  // Records 300 and 301 hold identities u300 and u301 (same length).
  RefuseRecord(301);
  env_->SetContents(path_, file_);
  EXPECT_TRUE(IsDamageAt(OpenStatus(env_.get(), RecoveryMode::kStrict), records_[301].offset,
                         "record does not apply"));

  auto salvaged = OpenUserStore(kDir, Options(env_.get(), RecoveryMode::kSalvage));
  ASSERT_TRUE(salvaged.ok()) << salvaged.status();
  const std::string service = (*salvaged)->default_conversation_service_sid();
  EXPECT_EQ((*salvaged)->last_sequence(), before_ + 301);
  EXPECT_EQ(*(*salvaged)->CountUsers(service), 301);
  EXPECT_TRUE((*salvaged)->GetUser(service, "u300").ok());
  EXPECT_FALSE((*salvaged)->GetUser(service, "u302").ok());
  EXPECT_TRUE((*salvaged)->CheckInvariants().ok());
}

TEST_F(JournalRunTest, ASequenceGapAfterARefusedRecordInTheSameRunIsNotTheOneReported) {
  RefuseRecord(301);
  SkipSequence(320);
  env_->SetContents(path_, file_);
  EXPECT_TRUE(IsDamageAt(OpenStatus(env_.get(), RecoveryMode::kStrict), records_[301].offset,
                         "record does not apply"));
}

TEST_F(JournalRunTest, ASequenceGapMidRunKeepsTheRecordsBeforeIt) {
  SkipSequence(400);
  env_->SetContents(path_, file_);
  EXPECT_TRUE(IsDamageAt(OpenStatus(env_.get(), RecoveryMode::kStrict), records_[400].offset,
                         "sequence gap"));
  auto salvaged = OpenUserStore(kDir, Options(env_.get(), RecoveryMode::kSalvage));
  ASSERT_TRUE(salvaged.ok()) << salvaged.status();
  EXPECT_EQ((*salvaged)->last_sequence(), before_ + 400);
  EXPECT_TRUE((*salvaged)->CheckInvariants().ok());
}

}  // namespace
}  // namespace userstore
