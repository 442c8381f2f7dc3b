// Regression test (fixed finding, docs/reliability.md "What they found"): a
// checkpoint whose user record has position 2^64-1 wrapped the service's
// next user position to 0, so the next record's position (6, say) passed the
// "positions only grow" check and went into the order index below the last
// block: OrderIndex::Append allocated a block for it that the directory
// already had (a leak, LeakSanitizer) and wrote the record into the last
// block's slots (an index that no longer matches its positions).
//
// Found by the checkpoint fuzzer (resealing pass): a leak of
// OrderIndex::NewBlock blocks from StoreImpl::RestoreUser under
// LoadCheckpoint. Its input is the checkpoint seed `user_position_wraps`.
//
// Expected: the record is refused like any out-of-order one; the open fails
// with INVALID_ARGUMENT or DATA_LOSS, in both recovery modes, and leaks
// nothing.

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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

TEST(CheckpointPositionWrapTest, AUserAtTheLastPositionIsRefused) {
  auto env = NewFaultInjectionEnv();
  {
    auto store = OpenUserStore(
        kDir, durable_testing::SimulatedDiskOptions(env.get(), RecoveryMode::kStrict));
    ASSERT_TRUE(store.ok()) << store.status();
    const std::string service = (*store)->default_conversation_service_sid();
    for (int i = 0; i < 3; ++i) {
      CreateUserRequest request;
      request.identity = absl::StrCat("user", i);
      ASSERT_TRUE((*store)->CreateUser(service, request).ok());
    }
    ASSERT_TRUE((*store)->Checkpoint().ok());
  }
  std::string path;
  auto names = env->ListDir(kDir);
  ASSERT_TRUE(names.ok()) << names.status();
  for (const std::string& name : *names) {
    if (durable::ParseCheckpointName(name)) path = durable::JoinPath(kDir, name);
  }
  ASSERT_FALSE(path.empty());
  std::string contents = env->Contents(path);
  // The first user record gets position 2^64-1, its frame a good CRC.
  uint64_t first_user = 0;
  durable::StoreIdentity identity;
  ASSERT_TRUE(
      durable::ReadCheckpoint(contents, path, &identity, [&](const durable::CheckpointRecord& r) {
        if (r.type == durable::RecordType::kUser && first_user == 0) {
          first_user = r.offset;
        }
        return absl::OkStatus();
      }).ok());
  ASSERT_NE(first_user, 0u);
  char* frame = &contents[first_user];
  durable::PutU64(frame + durable::kFrameHeaderSize, std::numeric_limits<uint64_t>::max());
  durable::SealFrame(frame, durable::RecordType::kUser, durable::GetU32(frame + 4));
  env->SetContents(path, contents);

  for (RecoveryMode mode : {RecoveryMode::kStrict, RecoveryMode::kSalvage}) {
    auto store = OpenUserStore(kDir, durable_testing::SimulatedDiskOptions(env.get(), mode));
    ASSERT_FALSE(store.ok()) << "mode " << static_cast<int>(mode);
    EXPECT_TRUE(absl::IsInvalidArgument(store.status()) || absl::IsDataLoss(store.status()))
        << store.status();
  }
}

}  // namespace
}  // namespace userstore
