// Regression test (fixed finding, docs/reliability.md "What they found"): the
// journal's background thread called DurableStore::OnTick, which read the
// store's `journal_` pointer while another thread was assigning it (in
// Start, after Journal::Start had launched the thread) or had just cleared it
// (in ~DurableStore: unique_ptr::reset nulls the pointer before the journal's
// destructor joins that thread). A tick at either moment called a member of
// a null Journal: a crash when a store is closed while a tick runs.
//
// Found by the ops fuzzer in its durable mode (sync_interval 1 ms, a close
// at every reopen): UBSan "member call on null pointer of type
// 'userstore::internal::Journal'" at durable_store.cc OnTick, from
// Journal::BackgroundLoop.
//
// The test opens and closes a store whose background thread ticks without
// pause (a sync interval of a nanosecond, automatic checkpoints on), many
// times: before the fix it crashed within a few dozen rounds.

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

TEST(DurableTickRaceTest, OpenAndCloseWhileTheBackgroundThreadTicks) {
  auto env = NewFaultInjectionEnv();
  DurableOptions options;
  options.env = env.get();
  options.durability = Durability::kSyncEachWrite;
  options.sync_interval = absl::Nanoseconds(1);
  options.store.seed = 7;
  options.segment_bytes = 16 << 10;
  options.checkpoint_min_journal_bytes = 1 << 20;  // on, but never reached
  options.checkpoint_writer = DurableOptions::CheckpointWriter::kInProcess;
  for (int round = 0; round < 100; ++round) {
    auto store = OpenUserStore("/d", options);
    ASSERT_TRUE(store.ok()) << store.status();
    CreateUserRequest request;
    request.identity = absl::StrCat("u", round);
    ASSERT_TRUE((*store)->CreateUser((*store)->default_conversation_service_sid(), request).ok());
    ASSERT_EQ((*store)->CheckInvariants(), absl::OkStatus());
  }
  auto store = OpenUserStore("/d", options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto count = (*store)->CountUsers((*store)->default_conversation_service_sid());
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 100);
}

}  // namespace
}  // namespace userstore
