// Out of memory: a write that runs out of memory partway throws
// std::bad_alloc and changes nothing. This binary replaces the throwing
// operator new with one that can be told to fail at its k-th call; each test
// runs a write once for every k until the write no longer reaches the
// failure, and after each failed attempt checks that the store is as before
// (its snapshot) and consistent (CheckInvariants); then that the write
// succeeds once memory is back, with no failure swallowed on the way. The
// watched tests do the same with a change-feed subscriber and post-event
// hooks attached: a failed write publishes nothing and runs no hook, a
// write that succeeds publishes exactly its one event and runs its hook once. The nothrow operator
// new is left alone: it is what the engine's indexes allocate through (core/table_allocator.h),
// which end the process when it fails instead of throwing (tests/testing/failing_operator_new.h).

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/failing_operator_new.h"
#include "tests/testing/store_testing.h"

#include "userstore/durable.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/user_store.h"

namespace {

// Throwing allocations left before the next one fails; negative: never.
thread_local long allocations_until_failure = -1;
// Set when the failure was injected (whoever caught it).
thread_local bool failure_injected = false;

// Memory is back while it lives: for the test's own listener and hooks,
// which are the embedder's code, not the store's.
class NoFailures {
 public:
  NoFailures() : saved_(allocations_until_failure) { allocations_until_failure = -1; }
  ~NoFailures() { allocations_until_failure = saved_; }
  NoFailures(const NoFailures&) = delete;
  NoFailures& operator=(const NoFailures&) = delete;

 private:
  long saved_;
};

}  // namespace

bool userstore_testing::AllocationShouldFail(std::size_t) {
  if (allocations_until_failure == 0) {
    allocations_until_failure = -1;
    failure_injected = true;
    return true;
  }
  if (allocations_until_failure > 0) --allocations_until_failure;
  return false;
}

namespace userstore {
namespace {

// The same sequence number and the same users, every field (the writes here
// touch users only).
bool SameState(const UserStore::SnapshotData& a, const UserStore::SnapshotData& b) {
  if (a.sequence != b.sequence || a.events.size() != b.events.size()) return false;
  for (size_t i = 0; i < a.events.size(); ++i) {
    const ChangeEvent& x = a.events[i];
    const ChangeEvent& y = b.events[i];
    if (x.entity != y.entity || x.user.has_value() != y.user.has_value()) return false;
    if (x.user && !userstore_testing::SameUser(*x.user, *y.user)) return false;
  }
  return true;
}

void Ignore(const UserView&) {}

// The user `sid` names in `snapshot`, or nullptr.
const User* UserIn(const UserStore::SnapshotData& snapshot, const std::string& sid) {
  for (const ChangeEvent& e : snapshot.events) {
    if (e.user.has_value() && e.user->sid == sid) return &*e.user;
  }
  return nullptr;
}

class OutOfMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(USERSTORE_OOM_SKIP)
    GTEST_SKIP() << "operator new cannot be replaced under this sanitizer's runtime";
#endif
    StoreOptions options;
    options.seed = 7;
    options.clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719));
    store_ = std::make_unique<UserStore>(options);
    CreateServiceRequest service;
    service.friendly_name = "oom";
    service_ = store_->CreateService(service)->sid;
    for (int i = 0; i < 100; ++i) {
      CreateUserRequest user;
      user.identity = "user" + std::to_string(i);
      user.attributes = R"({"level":1})";
      ASSERT_TRUE(store_->CreateUser(service_, user).ok());
    }
  }

  // Attaches a change-feed subscriber and the two post-event hooks, which
  // record what they get (in `events_` and `hook_events_`).
  void Watch() {
    store_->Subscribe([this](const ChangeEvent& event) {
      NoFailures memory_is_back;
      events_.push_back(event);
    });
    for (HookType type : {HookType::kOnUserAdded, HookType::kOnUserUpdated}) {
      store_->AddHook(type, [this](const UserEvent& event) {
        NoFailures memory_is_back;
        hook_events_.push_back(event);
        return absl::OkStatus();
      });
    }
  }

  // Runs `write` once with the k-th throwing allocation failing; true when
  // it threw std::bad_alloc (`failure_injected` says whether the failure was
  // reached at all).
  template <typename Write>
  static bool ThrowsWithFailureAt(int k, Write& write) {
    allocations_until_failure = k;
    failure_injected = false;
    bool threw = false;
    try {
      write();
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    allocations_until_failure = -1;
    return threw;
  }

  // Runs `write` with the k-th throwing allocation failing, for k = 0, 1,
  // ... until it completes without reaching the failure; returns how many
  // attempts failed. A failed attempt must change nothing, publish nothing
  // and run no hook; the attempt that completes must not have swallowed the
  // failure (nothing after a write's commit may allocate), and, watched, it
  // publishes one event, the next number.
  template <typename Write>
  int FailEachAllocation(Write write) {
    for (int k = 0; k < 10000; ++k) {
      const UserStore::SnapshotData before = store_->Snapshot();
      const size_t events = events_.size();
      const size_t hook_events = hook_events_.size();
      const bool threw = ThrowsWithFailureAt(k, write);
      if (!threw) {
        EXPECT_FALSE(failure_injected) << "allocation " << k << " failed and was swallowed";
        if (!events_.empty()) {
          EXPECT_EQ(events_.size(), events + 1);
          EXPECT_EQ(events_.back().sequence, before.sequence + 1);
        }
        return k;
      }
      EXPECT_TRUE(store_->CheckInvariants().ok()) << "allocation " << k;
      EXPECT_TRUE(SameState(before, store_->Snapshot())) << "allocation " << k;
      EXPECT_EQ(events_.size(), events) << "allocation " << k << ": a failed write published";
      EXPECT_EQ(hook_events_.size(), hook_events) << "allocation " << k << ": a hook ran";
    }
    ADD_FAILURE() << "the write never completed";
    return -1;
  }

  // Watched, for the copying forms, whose returned copy is built after the
  // commit: runs `write` with the k-th allocation failing for each k until
  // it completes. Every attempt is all or nothing apart from that copy:
  // either nothing changed, nothing was published and no hook ran, or the
  // change is in (one number more) and, before the exception reached the
  // caller, its one event was delivered and its hook (when `hooked`) ran.
  // Returns how many attempts threw with the change made.
  template <typename Write>
  int FailEachAllocationAllOrNothing(Write write, bool hooked) {
    int made = 0;
    for (int k = 0; k < 10000; ++k) {
      const UserStore::SnapshotData before = store_->Snapshot();
      const size_t events = events_.size();
      const size_t hook_events = hook_events_.size();
      const bool threw = ThrowsWithFailureAt(k, write);
      EXPECT_TRUE(store_->CheckInvariants().ok()) << "allocation " << k;
      const UserStore::SnapshotData after = store_->Snapshot();
      if (threw && SameState(before, after)) {
        EXPECT_EQ(events_.size(), events) << "allocation " << k << ": a failed write published";
        EXPECT_EQ(hook_events_.size(), hook_events) << "allocation " << k << ": a hook ran";
        continue;
      }
      EXPECT_EQ(after.sequence, before.sequence + 1) << "allocation " << k;
      EXPECT_EQ(events_.size(), events + 1) << "allocation " << k << ": event not delivered";
      if (events_.size() == events + 1) {
        EXPECT_EQ(events_.back().sequence, after.sequence) << "allocation " << k;
      }
      EXPECT_EQ(hook_events_.size(), hook_events + (hooked ? 1 : 0)) << "allocation " << k;
      if (!threw) {
        EXPECT_FALSE(failure_injected) << "allocation " << k << " failed and was swallowed";
        return made;
      }
      ++made;
    }
    ADD_FAILURE() << "the write never completed";
    return -1;
  }

  // Watched: the last event is a `op` of the user `sid` as `state` holds it,
  // and, when `hook` is set, the last hook event the same user.
  void ExpectPublished(ChangeEvent::Op op, const std::string& sid,
                       const UserStore::SnapshotData& state, bool hook) {
    const User* user = UserIn(state, sid);
    ASSERT_NE(user, nullptr);
    ASSERT_FALSE(events_.empty());
    EXPECT_EQ(events_.back().op, op);
    ASSERT_TRUE(events_.back().user.has_value());
    EXPECT_TRUE(userstore_testing::SameUser(*events_.back().user, *user));
    if (!hook) return;
    ASSERT_FALSE(hook_events_.empty());
    const UserEvent& h = hook_events_.back();
    EXPECT_EQ(h.user_sid, user->sid);
    EXPECT_EQ(h.identity, user->identity);
    EXPECT_EQ(h.friendly_name, user->friendly_name);
    EXPECT_EQ(h.attributes, user->attributes);
    EXPECT_EQ(h.role_sid, user->role_sid);
    EXPECT_EQ(h.date_created, user->date_created);
    EXPECT_EQ(h.date_updated, user->date_updated);
  }

  std::unique_ptr<UserStore> store_;
  std::string service_;
  std::vector<ChangeEvent> events_;
  std::vector<UserEvent> hook_events_;
};

// Creates through the zero-copy form (the copying form's `User` is built
// after the commit: its allocation failing is a committed create whose
// result could not be copied, not a partial write).
TEST_F(OutOfMemoryTest, CreateChangesNothingWhenMemoryRunsOut) {
  int failed = 0;
  // Across new order-index blocks (every 64 positions) and new arena chunks.
  for (int i = 0; i < 150; ++i) {
    CreateUserRequest user;
    user.identity = "new" + std::to_string(i);
    user.attributes = R"({"level":2})";
    failed += FailEachAllocation([&] { (void)store_->CreateUser(service_, user, Ignore); });
    ASSERT_TRUE(store_->GetUser(service_, *user.identity).ok()) << i;
  }
  EXPECT_GT(failed, 0);  // failures were injected, and refused cleanly
}

TEST_F(OutOfMemoryTest, UpdateChangesNothingWhenMemoryRunsOut) {
  UpdateUserRequest update;
  // Longer than the inline text: the update allocates a buffer.
  update.attributes = R"({"level":3,"about":")" + std::string(600, 'x') + R"("})";
  update.friendly_name = "renamed";
  const int failed =
      FailEachAllocation([&] { (void)store_->UpdateUser(service_, "user5", update, Ignore); });
  EXPECT_GT(failed, 0);
  EXPECT_EQ(store_->GetUser(service_, "user5")->friendly_name, "renamed");
}

TEST_F(OutOfMemoryTest, DeleteChangesNothingWhenMemoryRunsOut) {
  for (int i = 0; i < 100; i += 3) {
    const std::string identity = "user" + std::to_string(i);
    FailEachAllocation([&] { (void)store_->DeleteUser(service_, identity); });
    EXPECT_FALSE(store_->GetUser(service_, identity).ok()) << i;
  }
  EXPECT_TRUE(store_->CheckInvariants().ok());
}

TEST_F(OutOfMemoryTest, WatchedCreatePublishesOnlyWhatItCommits) {
  Watch();
  int failed = 0;
  for (int i = 0; i < 70; ++i) {  // across a new order-index block
    CreateUserRequest user;
    user.identity = "watched" + std::to_string(i);
    user.attributes = R"({"level":2})";
    user.webhooks_enabled = true;
    const size_t hooks_before = hook_events_.size();
    failed += FailEachAllocation([&] { (void)store_->CreateUser(service_, user, Ignore); });
    absl::StatusOr<User> created = store_->GetUser(service_, *user.identity);
    ASSERT_TRUE(created.ok()) << i;
    ASSERT_EQ(hook_events_.size(), hooks_before + 1) << i;
    ExpectPublished(ChangeEvent::Op::kCreate, created->sid, store_->Snapshot(), true);
    EXPECT_EQ(hook_events_.back().event_type, "onUserAdded");
  }
  EXPECT_GT(failed, 0);
}

TEST_F(OutOfMemoryTest, WatchedUpdatePublishesOnlyWhatItCommits) {
  Watch();
  UpdateUserRequest update;
  update.attributes = R"({"level":3,"about":")" + std::string(600, 'x') + R"("})";
  update.friendly_name = "renamed";
  update.webhooks_enabled = true;
  const int failed =
      FailEachAllocation([&] { (void)store_->UpdateUser(service_, "user5", update, Ignore); });
  EXPECT_GT(failed, 0);
  absl::StatusOr<User> updated = store_->GetUser(service_, "user5");
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->friendly_name, "renamed");
  ASSERT_EQ(hook_events_.size(), 1u);
  ExpectPublished(ChangeEvent::Op::kUpdate, updated->sid, store_->Snapshot(), true);
  EXPECT_EQ(hook_events_.back().event_type, "onUserUpdated");
}

TEST_F(OutOfMemoryTest, WatchedDeletePublishesOnlyWhatItCommits) {
  Watch();
  for (int i = 1; i < 100; i += 7) {
    const std::string identity = "user" + std::to_string(i);
    const UserStore::SnapshotData before = store_->Snapshot();
    const std::string sid = store_->GetUser(service_, identity)->sid;
    FailEachAllocation([&] { (void)store_->DeleteUser(service_, identity); });
    EXPECT_FALSE(store_->GetUser(service_, identity).ok()) << i;
    // A delete's event carries the user as it was.
    ExpectPublished(ChangeEvent::Op::kDelete, sid, before, false);
  }
  EXPECT_TRUE(store_->CheckInvariants().ok());
}

// The copying forms build their result after the commit; when that runs out
// of memory the change stays, and its event and hooks still go out before
// the exception reaches the caller (the call's own work is finished first).
TEST_F(OutOfMemoryTest, WatchedCopyingFormsFinishTheirChangeWhenTheCopyFails) {
  Watch();
  int made = 0;
  int round = 0;
  made += FailEachAllocationAllOrNothing(
      [&] {
        PresenceUpdate presence;
        presence.is_online = ++round % 2 == 1;  // a change at every attempt
        presence.webhooks_enabled = true;
        (void)store_->SetPresence(service_, "user7", presence);
      },
      /*hooked=*/true);
  made += FailEachAllocationAllOrNothing([&] { (void)store_->JoinChannel(service_, "user8"); },
                                         /*hooked=*/false);
  made += FailEachAllocationAllOrNothing(
      [&] {
        CreateUserRequest user;
        user.identity = "fetched-or-made" + std::to_string(++round);  // new at every attempt
        user.webhooks_enabled = true;
        (void)store_->GetOrCreateUser(service_, user);
      },
      /*hooked=*/true);
  EXPECT_GT(made, 0);  // some copies did fail after their commit
}

// A service delete builds its event before it marks the service deleted:
// out of memory, the service and its users are all still there.
TEST_F(OutOfMemoryTest, WatchedServiceDeleteChangesNothingWhenMemoryRunsOut) {
  Watch();
  CreateServiceRequest request;
  request.friendly_name = "doomed";
  const std::string doomed = store_->CreateService(request)->sid;
  CreateUserRequest user;
  user.identity = "resident";
  const std::string resident = store_->CreateUser(doomed, user)->sid;
  int failed = 0;
  for (int k = 0;; ++k) {
    ASSERT_LT(k, 10000) << "the delete never completed";
    const size_t events = events_.size();
    auto remove = [&] { (void)store_->DeleteService(doomed); };
    if (!ThrowsWithFailureAt(k, remove)) break;
    ++failed;
    EXPECT_EQ(events_.size(), events) << "allocation " << k;
    EXPECT_TRUE(store_->GetService(doomed).ok()) << "allocation " << k;
    EXPECT_TRUE(store_->GetUser(doomed, resident).ok()) << "allocation " << k;  // by SID
    EXPECT_TRUE(store_->CheckInvariants().ok()) << "allocation " << k;
  }
  EXPECT_GT(failed, 0);
  EXPECT_FALSE(store_->GetService(doomed).ok());
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().entity, ChangeEvent::Entity::kService);
  EXPECT_EQ(events_.back().op, ChangeEvent::Op::kDelete);
}

// A checkpoint that runs out of memory on its caller's thread, at any of its
// allocations, answers an error instead of throwing (the automatic one runs
// on a thread of its own, where an exception would end the process),
// publishes nothing, and leaves the store as it was and unfrozen; once
// memory is back, a checkpoint succeeds and the directory recovers to the
// same state. With the fork writer, an allocation that fails in the child
// (which inherits the countdown) ends the child only: the parent answers
// the writer's failure, and the test process is never continued by the
// child.
class CheckpointOutOfMemoryTest
    : public ::testing::TestWithParam<DurableOptions::CheckpointWriter> {};

TEST_P(CheckpointOutOfMemoryTest, AnswersAnErrorAndPublishesNothing) {
#if defined(USERSTORE_OOM_SKIP)
  GTEST_SKIP() << "operator new cannot be replaced under this sanitizer's runtime";
#endif
  const durable_testing::TempDir temp;  // removed with its files at the end
  const std::string& dir = temp.path();
  ASSERT_FALSE(dir.empty());
  DurableOptions options;
  options.store.seed = 7;
  options.durability = Durability::kNoSync;
  options.checkpoint_writer = GetParam();
  options.segment_bytes = 1 << 20;
  auto opened = OpenUserStore(dir, options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<UserStore> store = std::move(*opened);
  const std::string service = store->default_conversation_service_sid();
  for (int i = 0; i < 40; ++i) {
    CreateUserRequest user;
    user.identity = "user" + std::to_string(i);
    user.attributes = R"({"level":1})";
    ASSERT_TRUE(store->CreateUser(service, user).ok());
  }
  const UserStore::SnapshotData before = store->Snapshot();
  const uint64_t checkpoints = store->durability_stats().checkpoints;
  int failed = 0;
  int injected = 0;
  for (int k = 0;; ++k) {
    ASSERT_LT(k, 20000) << "the checkpoint never completed";
    failure_injected = false;
    allocations_until_failure = k;
    const absl::Status status = store->Checkpoint();
    allocations_until_failure = -1;
    if (failure_injected) ++injected;
    if (status.ok()) {
      EXPECT_FALSE(failure_injected) << "a failed allocation was swallowed, at " << k;
      break;
    }
    ++failed;
    // This thread's failures are out of memory. The fork writer's child
    // inherits the countdown: its failure is the writer process's (and the
    // parent may then fail an allocation of its clean-up, which it skips).
    if (status.code() != absl::StatusCode::kResourceExhausted) {
      EXPECT_EQ(GetParam(), DurableOptions::CheckpointWriter::kFork) << k << ": " << status;
      EXPECT_NE(status.message().find("the writer process failed"), absl::string_view::npos)
          << k << ": " << status;
    }
    EXPECT_EQ(store->durability_stats().checkpoints, checkpoints) << "allocation " << k;
    EXPECT_FALSE(store->durability_stats().last_checkpoint_error.empty()) << "allocation " << k;
    EXPECT_TRUE(SameState(before, store->Snapshot())) << "allocation " << k;
    // No file left behind by each attempt: the segment the first one began
    // is kept by the next (nothing was written), and temporary files go.
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      ++files;
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
          << entry.path() << " after allocation " << k;
    }
    ASSERT_LE(files, 8) << "allocation " << k;
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(injected, 0);
  EXPECT_EQ(store->durability_stats().checkpoints, checkpoints + 1);
  EXPECT_TRUE(store->durability_stats().last_checkpoint_error.empty());
  // Still writable, and what the directory holds recovers to the same state.
  CreateUserRequest late;
  late.identity = "late";
  ASSERT_TRUE(store->CreateUser(service, late).ok());
  const UserStore::SnapshotData after = store->Snapshot();
  store.reset();
  auto reopened = OpenUserStore(dir, options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(SameState(after, (*reopened)->Snapshot()));
  EXPECT_TRUE((*reopened)->CheckInvariants().ok());
}

INSTANTIATE_TEST_SUITE_P(
    Writers, CheckpointOutOfMemoryTest,
    ::testing::Values(DurableOptions::CheckpointWriter::kInProcess,
                      DurableOptions::CheckpointWriter::kFork,
                      DurableOptions::CheckpointWriter::kConcurrent),
    [](const ::testing::TestParamInfo<DurableOptions::CheckpointWriter>& info) {
      switch (info.param) {
        case DurableOptions::CheckpointWriter::kInProcess:
          return std::string("InProcess");
        case DurableOptions::CheckpointWriter::kFork:
          return std::string("Fork");
        default:
          return std::string("Concurrent");
      }
    });

}  // namespace
}  // namespace userstore
