// A changelog leader whose journal tap cannot allocate the next block of its
// shipping queue: the event is committed, and the leader can neither ship
// nor skip it, so the process ends with a message naming the event
// (docs/reliability.md, "Out of memory"). This binary's operator new
// (tests/testing/failing_operator_new.h) fails allocations of a megabyte or
// more on a thread that asks for it: only the tap's blocks are that large
// here.

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/changelog/memory_log.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/failing_operator_new.h"

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

namespace {
// Set on a thread whose allocations of kLarge bytes or more fail.
thread_local bool fail_large_allocations = false;
constexpr std::size_t kLarge = std::size_t{1} << 20;
}  // namespace

bool userstore_testing::AllocationShouldFail(std::size_t size) {
  return fail_large_allocations && size >= kLarge;
}

namespace userstore {
namespace {

TEST(ChangelogLeaderOutOfMemoryDeathTest, ATapThatCannotQueueItsEventEndsTheProcess) {
#if defined(USERSTORE_OOM_SKIP)
  GTEST_SKIP() << "operator new cannot be replaced under this sanitizer's runtime";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the leader runs a thread
  auto run = [] {
    std::unique_ptr<FaultInjectionEnv> env = NewFaultInjectionEnv();
    DurableOptions options =
        durable_testing::SimulatedDiskOptions(env.get(), RecoveryMode::kStrict);
    options.durability = Durability::kNoSync;
    auto store = OpenUserStore("/leader", options);
    if (!store.ok()) return;
    auto stream = std::make_shared<changelog_testing::MemoryStream>();
    ChangelogOptions changelog;
    changelog.env = env.get();
    auto leader = ChangelogLeader::Start(
        store->get(), std::make_unique<changelog_testing::MemoryLog>(stream), changelog);
    if (!leader.ok()) return;
    const std::string service = (*store)->default_conversation_service_sid();
    const std::string pad(9000, 'p');
    fail_large_allocations = true;  // this thread: the writer's, where the tap runs
    // 9 KB events: the first block (1 MiB, allocated at the start) fills
    // after about 115 of them.
    for (int i = 0; i < 400; ++i) {
      CreateUserRequest create;
      create.identity = absl::StrCat("u", i);
      create.attributes = absl::StrCat(R"({"pad":")", pad, R"("})");
      if (!(*store)->CreateUser(service, create).ok()) return;
    }
  };
  EXPECT_DEATH(run(), "userstore: out of memory queuing event [0-9]+ for the changelog");
}

}  // namespace
}  // namespace userstore
