// Regression test (fixed finding, docs/reliability.md "What they found"): a
// checkpoint header may hold counters a store can never reach, and recovery
// took them as they were.
//
// 1. A sequence of 2^63 or more: the change feed keeps its sequence in 63
//    bits, so the recovered store numbered its next events from the header's
//    value with the top bit gone, while recovery compared the journal's
//    records with the header's value. The records of every write after the
//    open were skipped at the next open as "covered by the checkpoint": a
//    silent loss of acknowledged writes.
// 2. A next service position of 2^64-1: the next service create took it and
//    wrapped the counter to 0 (CheckInvariants: "service positions").
//
// Found by the checkpoint fuzzer (resealing pass; the inputs are the seeds
// `sequence_past_feed` and `service_position_wraps` of corpus/checkpoint/).
//
// Expected: files hold sequences and positions of at most 2^62
// (durable::kMaxSequence, kMaxPosition); a header past them is damage
// (DATA_LOSS naming the file, in both recovery modes); one at the limit
// recovers, takes writes, and reopens to the same state.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

#include "core/durable/crc32c.h"
#include "core/durable/files.h"
#include "core/durable/format.h"

namespace userstore {
namespace {

namespace durable = internal::durable;

constexpr char kDir[] = "/d";
constexpr size_t kBody = 20;  // the checkpoint header body's offset

// A store with one user, checkpointed and closed; returns its checkpoint's
// path. The directory then holds only that checkpoint.
std::string MakeCheckpoint(FaultInjectionEnv* env) {
  {
    auto store =
        OpenUserStore(kDir, durable_testing::SimulatedDiskOptions(env, RecoveryMode::kStrict));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return "";
    CreateUserRequest request;
    request.identity = "alice";
    EXPECT_TRUE((*store)->CreateUser((*store)->default_conversation_service_sid(), request).ok());
    EXPECT_TRUE((*store)->Checkpoint().ok());
  }
  std::string path;
  auto names = env->ListDir(kDir);
  EXPECT_TRUE(names.ok()) << names.status();
  for (const std::string& name : *names) {
    if (durable::ParseCheckpointName(name)) {
      path = durable::JoinPath(kDir, name);
    } else if (durable::ParseSegmentName(name)) {
      EXPECT_TRUE(env->RemoveFile(durable::JoinPath(kDir, name)).ok());
    }
  }
  return path;
}

// Rewrites the u64 at `offset` of the header body, recomputes the header's
// checksum, and files the checkpoint under the name its new sequence gives.
void PatchHeader(FaultInjectionEnv* env, const std::string& path, size_t offset, uint64_t value) {
  std::string file = env->Contents(path);
  durable::PutU64(&file[kBody + offset], value);
  const uint32_t header_length = durable::GetU32(&file[12]);
  durable::PutU32(&file[16],
                  internal::crc32c::Mask(internal::crc32c::Value(&file[kBody], header_length)));
  ASSERT_TRUE(env->RemoveFile(path).ok());
  env->SetContents(durable::JoinPath(kDir, durable::CheckpointName(durable::GetU64(&file[kBody]))),
                   file);
}

size_t NextServicePositionOffset(FaultInjectionEnv* env, const std::string& path) {
  const std::string file = env->Contents(path);
  return 12 + durable::GetU32(&file[kBody + 8]) + 32 + 32;
}

void ExpectRefused(FaultInjectionEnv* env, absl::string_view what) {
  for (RecoveryMode mode : {RecoveryMode::kStrict, RecoveryMode::kSalvage}) {
    auto store = OpenUserStore(kDir, durable_testing::SimulatedDiskOptions(env, mode));
    ASSERT_FALSE(store.ok()) << "mode " << static_cast<int>(mode);
    EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
    EXPECT_TRUE(absl::StrContains(store.status().message(), what)) << store.status();
    EXPECT_TRUE(absl::StrContains(store.status().message(), "checkpoint-")) << store.status();
  }
}

TEST(CheckpointCounterRangeTest, ASequencePastTheLimitIsDamage) {
  auto env = NewFaultInjectionEnv();
  const std::string path = MakeCheckpoint(env.get());
  ASSERT_FALSE(path.empty());
  PatchHeader(env.get(), path, 0, durable::kMaxSequence + 1);
  ExpectRefused(env.get(), "sequence out of range");
}

TEST(CheckpointCounterRangeTest, TheFuzzersSequenceIsDamage) {
  // The finding's value: 2^63 + 8791026472627208218.
  auto env = NewFaultInjectionEnv();
  const std::string path = MakeCheckpoint(env.get());
  ASSERT_FALSE(path.empty());
  PatchHeader(env.get(), path, 0, uint64_t{18014398509481984026u});
  ExpectRefused(env.get(), "sequence out of range");
}

TEST(CheckpointCounterRangeTest, ANextServicePositionPastTheLimitIsDamage) {
  auto env = NewFaultInjectionEnv();
  const std::string path = MakeCheckpoint(env.get());
  ASSERT_FALSE(path.empty());
  PatchHeader(env.get(), path, NextServicePositionOffset(env.get(), path), UINT64_MAX);
  ExpectRefused(env.get(), "next service position out of range");
}

// Counters at the limit recover, take writes (whose records the next open
// replays), and reopen to the same state.
TEST(CheckpointCounterRangeTest, CountersAtTheLimitRecoverAndKeepTheirWrites) {
  auto env = NewFaultInjectionEnv();
  const std::string path = MakeCheckpoint(env.get());
  ASSERT_FALSE(path.empty());
  PatchHeader(env.get(), path, NextServicePositionOffset(env.get(), path), durable::kMaxPosition);
  // (The sequence is unchanged, so the file kept its name.)
  PatchHeader(env.get(), path, 0, durable::kMaxSequence);
  std::string service;
  {
    auto store = OpenUserStore(
        kDir, durable_testing::SimulatedDiskOptions(env.get(), RecoveryMode::kStrict));
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->last_sequence(), durable::kMaxSequence);
    CreateServiceRequest request;
    request.friendly_name = "after";
    auto created = (*store)->CreateService(request);
    ASSERT_TRUE(created.ok()) << created.status();
    service = created->sid;
    CreateUserRequest user;
    user.identity = "bob";
    ASSERT_TRUE((*store)->CreateUser(service, user).ok());
    EXPECT_GT((*store)->last_sequence(), durable::kMaxSequence);
    EXPECT_TRUE((*store)->CheckInvariants().ok());
  }
  RecoveryReport report;
  auto again = OpenUserStore(
      kDir, durable_testing::SimulatedDiskOptions(env.get(), RecoveryMode::kStrict), &report);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GT(report.journal_records, 0u);
  EXPECT_GT((*again)->last_sequence(), durable::kMaxSequence);
  EXPECT_TRUE((*again)->GetUser(service, "bob").ok());
  EXPECT_TRUE((*again)->CheckInvariants().ok());
}

}  // namespace
}  // namespace userstore
