// The durable store (durable.h): recovery of exactly the state that was
// acknowledged, in every mode, through power losses, torn tails, damage,
// full disks and failed syncs, simulated by FaultInjectionEnv; and the real
// file system for what only it has (the lock between processes, fork).

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible
#include <sys/wait.h>
#include <unistd.h>

#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

#include "core/durable/format.h"

namespace userstore {
namespace {

using durable_testing::Fingerprint;
using durable_testing::PullThePlug;
using durable_testing::SameState;
using durable_testing::TempDir;
using ::testing::HasSubstr;
using ::userstore_testing::IsError;
using ::userstore_testing::IsOk;

constexpr char kDir[] = "/store";

class DurableStoreTest : public ::testing::Test {
 protected:
  DurableOptions Options(Durability durability = Durability::kSyncEachWrite) {
    DurableOptions options;
    options.env = env_.get();
    options.durability = durability;
    options.store.seed = 42;
    options.store.clock = clock_;
    options.segment_bytes = 256 << 10;
    options.checkpoint_min_journal_bytes = 0;  // only explicit checkpoints
    return options;
  }
  std::unique_ptr<UserStore> Open(const DurableOptions& options, RecoveryReport* report = nullptr) {
    auto store = OpenUserStore(kDir, options, report);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::vector<std::string> Names() {
    auto names = env_->ListDir(kDir);
    EXPECT_TRUE(names.ok()) << names.status();
    return names.ok() ? *names : std::vector<std::string>();
  }

  std::unique_ptr<FaultInjectionEnv> env_ = NewFaultInjectionEnv();
  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(absl::FromUnixSeconds(1700000000));
};

// Writes a little of everything a store can hold.
std::string MakeHistory(UserStore* store) {
  auto service = store->CreateService({std::string("game")});
  EXPECT_THAT(service, IsOk());
  CreateRoleRequest role;
  role.friendly_name = "moderator";
  role.type = "deployment";
  role.permissions = {"sendMessage", "kick"};
  auto created_role = store->CreateRole(service->sid, role);
  EXPECT_THAT(created_role, IsOk());
  for (int i = 0; i < 20; ++i) {
    CreateUserRequest request;
    request.identity = absl::StrCat("user", i);
    if (i % 3 == 0) request.friendly_name = absl::StrCat("User ", i);
    request.attributes = absl::StrCat("{\"level\":", i, "}");
    if (i % 5 == 0) request.role_sid = created_role->sid;
    EXPECT_THAT(store->CreateUser(service->sid, request), IsOk());
  }
  UpdateServiceRequest reach;
  reach.reachability_enabled = true;
  EXPECT_THAT(store->UpdateService(service->sid, reach), IsOk());
  PresenceUpdate presence;
  presence.is_online = true;
  EXPECT_THAT(store->SetPresence(service->sid, "user4", presence), IsOk());
  EXPECT_THAT(store->JoinChannel(service->sid, "user5"), IsOk());
  EXPECT_THAT(store->JoinChannel(service->sid, "user5"), IsOk());
  UpdateUserRequest update;
  update.attributes = R"({"level":99})";
  EXPECT_THAT(store->UpdateUser(service->sid, "user6", update), IsOk());
  EXPECT_THAT(store->DeleteUser(service->sid, "user7"), IsOk());
  auto other = store->CreateService({std::string("doomed")});
  EXPECT_THAT(store->DeleteService(other->sid), IsOk());
  CreateUserRequest conv;
  conv.identity = "alice";
  EXPECT_THAT(store->CreateUser(store->default_conversation_service_sid(), conv), IsOk());
  return service->sid;
}

TEST_F(DurableStoreTest, ANewDirectoryIsAStoreAndReopensExactly) {
  RecoveryReport report;
  std::string fingerprint;
  std::string account;
  uint64_t last = 0;
  {
    auto store = Open(Options(), &report);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(report.created);
    EXPECT_TRUE(store->durable());
    MakeHistory(store.get());
    fingerprint = Fingerprint(*store);
    account = store->account_sid();
    last = store->last_sequence();
  }
  auto again = Open(Options(), &report);
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(report.created);
  EXPECT_EQ(again->account_sid(), account);
  EXPECT_EQ(again->last_sequence(), last);
  EXPECT_EQ(report.last_sequence, last);
  EXPECT_GT(report.journal_records, 0u);
  EXPECT_TRUE(SameState(Fingerprint(*again), fingerprint));
  EXPECT_THAT(again->CheckInvariants(), IsOk());
}

// A recovered store goes on exactly as the store it recovers would have: the
// same SIDs (its generator's state is kept: no SID is handed out twice), the
// same sequence numbers, the same page tokens.
TEST_F(DurableStoreTest, ARecoveredStoreContinuesLikeTheOriginal) {
  StoreOptions reference_options;
  reference_options.seed = 42;
  reference_options.clock = clock_;
  UserStore reference(reference_options);
  std::string service;
  std::string token;
  {
    auto store = Open(Options());
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(store->account_sid(), reference.account_sid());
    service = MakeHistory(store.get());
    ASSERT_EQ(MakeHistory(&reference), service);
    ListRequest list;
    list.page_size = 3;
    auto page = store->ListUsers(service, list);
    ASSERT_THAT(page, IsOk());
    token = page->next_page_token;
  }
  auto store = Open(Options());
  ASSERT_NE(store, nullptr);
  for (UserStore* s : {store.get(), &reference}) {
    CreateUserRequest request;
    request.identity = "after-restart";
    ASSERT_THAT(s->CreateUser(service, request), IsOk());
    ASSERT_THAT(s->CreateService({std::string("later")}), IsOk());
  }
  EXPECT_TRUE(SameState(Fingerprint(*store), Fingerprint(reference)));
  EXPECT_EQ(store->last_sequence(), reference.last_sequence());
  ListRequest next;
  next.page_size = 3;
  next.page_token = token;
  auto recovered_page = store->ListUsers(service, next);
  auto reference_page = reference.ListUsers(service, next);
  ASSERT_THAT(recovered_page, IsOk());
  ASSERT_THAT(reference_page, IsOk());
  ASSERT_EQ(recovered_page->items.size(), 3u);
  EXPECT_EQ(recovered_page->items[0].identity, reference_page->items[0].identity);
}

TEST_F(DurableStoreTest, CheckpointThenReopenAndTheJournalItCoversIsGone) {
  std::string fingerprint;
  {
    auto store = Open(Options());
    ASSERT_NE(store, nullptr);
    MakeHistory(store.get());
    ASSERT_THAT(store->Checkpoint(), IsOk());
    EXPECT_EQ(store->durability_stats().checkpoints, 1u);
    EXPECT_EQ(store->durability_stats().last_checkpoint_sequence, store->last_sequence());
    CreateUserRequest request;
    request.identity = "after-checkpoint";
    ASSERT_THAT(store->CreateUser(store->default_conversation_service_sid(), request), IsOk());
    fingerprint = Fingerprint(*store);
  }
  int checkpoints = 0;
  int segments = 0;
  for (const std::string& name : Names()) {
    checkpoints += internal::durable::ParseCheckpointName(name).has_value();
    segments += internal::durable::ParseSegmentName(name).has_value();
  }
  EXPECT_EQ(checkpoints, 1);
  EXPECT_EQ(segments, 1);  // the one after the checkpoint
  RecoveryReport report;
  auto store = Open(Options(), &report);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(report.journal_records, 1u);
  EXPECT_TRUE(SameState(Fingerprint(*store), fingerprint));
}

TEST_F(DurableStoreTest, ASecondOpenOfTheSameDirectoryIsRefused) {
  auto store = Open(Options());
  ASSERT_NE(store, nullptr);
  auto second = OpenUserStore(kDir, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(kDir));
  store.reset();
  EXPECT_TRUE(OpenUserStore(kDir, Options()).ok());
}

TEST_F(DurableStoreTest, SyncModeLosesNoAcknowledgedWriteToAPowerLoss) {
  std::vector<std::string> fingerprints;  // after each acknowledged write
  auto store = Open(Options(Durability::kSyncEachWrite));
  ASSERT_NE(store, nullptr);
  const std::string service = store->default_conversation_service_sid();
  for (int i = 0; i < 30; ++i) {
    CreateUserRequest request;
    request.identity = absl::StrCat("u", i);
    ASSERT_THAT(store->CreateUser(service, request), IsOk());
  }
  const std::string fingerprint = Fingerprint(*store);
  // The plug is pulled with the store still open: nothing more is synced.
  PullThePlug(env_.get(), &store);
  auto recovered = Open(Options());
  ASSERT_NE(recovered, nullptr);
  EXPECT_TRUE(SameState(Fingerprint(*recovered), fingerprint));
}

TEST_F(DurableStoreTest, BackgroundModeRecoversAPrefixAfterAPowerLoss) {
  DurableOptions options = Options(Durability::kBackgroundSync);
  options.sync_interval = absl::Hours(1);  // only explicit syncs
  std::vector<std::string> prefixes;
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  const std::string service = store->default_conversation_service_sid();
  prefixes.push_back(Fingerprint(*store));
  for (int i = 0; i < 40; ++i) {
    CreateUserRequest request;
    request.identity = absl::StrCat("u", i);
    ASSERT_THAT(store->CreateUser(service, request), IsOk());
    prefixes.push_back(Fingerprint(*store));
    if (i == 19) {
      ASSERT_THAT(store->Sync(), IsOk());
    }
  }
  PullThePlug(env_.get(), &store);
  auto recovered = Open(options);
  ASSERT_NE(recovered, nullptr);
  const std::string got = Fingerprint(*recovered);
  // What was synced survived; what was not is gone, whole records at a time.
  EXPECT_TRUE(SameState(got, prefixes[20]));
  EXPECT_THAT(recovered->CheckInvariants(), IsOk());
}

TEST_F(DurableStoreTest, AFullDiskFailsTheWriteAndChangesNothing) {
  DurableOptions options = Options(Durability::kBackgroundSync);
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  const std::string service = store->default_conversation_service_sid();
  env_->FailAfter(FaultInjectionEnv::Op::kNewMappedFile, 1, absl::StatusCode::kResourceExhausted);
  int created = 0;
  absl::Status refused;
  uint64_t before = 0;
  for (int i = 0; i < 10000 && refused.ok(); ++i) {
    before = store->last_sequence();
    CreateUserRequest request;
    request.identity = absl::StrCat("u", i);
    request.attributes = std::string(200, ' ') + "{}";
    auto user = store->CreateUser(service, request);
    if (user.ok()) {
      ++created;
    } else {
      refused = user.status();
    }
  }
  ASSERT_FALSE(refused.ok()) << "the segment never filled";
  EXPECT_THAT(refused, IsError(503, ErrorCode::kServiceUnavailable));
  // The refused write changed nothing: no event, no user.
  EXPECT_EQ(store->last_sequence(), before);
  EXPECT_EQ(*store->CountUsers(service), created);
  EXPECT_THAT(store->GetUser(service, absl::StrCat("u", created)),
              IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store->GetUser(service, "u0"), IsOk());  // reads go on
  env_->ClearFailures();                               // room again: writes go on
  CreateUserRequest request;
  request.identity = "after";
  EXPECT_THAT(store->CreateUser(service, request), IsOk());
  const std::string fingerprint = Fingerprint(*store);
  store.reset();
  auto recovered = Open(options);
  ASSERT_NE(recovered, nullptr);
  EXPECT_TRUE(SameState(Fingerprint(*recovered), fingerprint));
}

TEST_F(DurableStoreTest, AFailedSyncStopsWritesUntilReopened) {
  auto store = Open(Options(Durability::kSyncEachWrite));
  ASSERT_NE(store, nullptr);
  const std::string service = store->default_conversation_service_sid();
  CreateUserRequest request;
  request.identity = "kept";
  ASSERT_THAT(store->CreateUser(service, request), IsOk());
  env_->FailOnce(FaultInjectionEnv::Op::kMappedSync, 1, absl::StatusCode::kInternal);
  request.identity = "unknown-fate";
  EXPECT_THAT(store->CreateUser(service, request), IsError(503, ErrorCode::kServiceUnavailable));
  request.identity = "refused";
  EXPECT_THAT(store->CreateUser(service, request), IsError(503, ErrorCode::kServiceUnavailable));
  EXPECT_THAT(store->GetUser(service, "refused"), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store->GetUser(service, "kept"), IsOk());
  EXPECT_FALSE(store->durability_stats().journal_error.empty());
  store.reset();
  env_->SimulatePowerLoss();
  auto recovered = Open(Options());
  ASSERT_NE(recovered, nullptr);
  EXPECT_THAT(recovered->GetUser(service, "kept"), IsOk());
  EXPECT_THAT(recovered->GetUser(service, "refused"), IsError(404, ErrorCode::kNotFound));
  request.identity = "again";
  EXPECT_THAT(recovered->CreateUser(service, request), IsOk());
}

// A failure at each step of a checkpoint: the checkpoint fails, nothing
// acknowledged is lost, and the store goes on.
TEST_F(DurableStoreTest, ACheckpointFailingAtAnyStepLosesNothing) {
  using Op = FaultInjectionEnv::Op;
  for (Op op : {Op::kNewWritable, Op::kAppend, Op::kWritableSync, Op::kRename, Op::kSyncDir,
                Op::kRemove, Op::kNewMappedFile}) {
    SCOPED_TRACE(static_cast<int>(op));
    env_ = NewFaultInjectionEnv();
    auto store = Open(Options(Durability::kSyncEachWrite));
    ASSERT_NE(store, nullptr);
    const std::string service = MakeHistory(store.get());
    ASSERT_THAT(store->Checkpoint(), IsOk());  // an old checkpoint to remove
    CreateUserRequest request;
    request.identity = "before";
    ASSERT_THAT(store->CreateUser(service, request), IsOk());
    env_->FailOnce(op, 1, absl::StatusCode::kInternal);
    (void)store->Checkpoint();  // may fail, or not use `op` at all
    env_->ClearFailures();
    request.identity = "after";
    ASSERT_THAT(store->CreateUser(service, request), IsOk());
    const std::string fingerprint = Fingerprint(*store);
    PullThePlug(env_.get(), &store);
    auto recovered = Open(Options());
    ASSERT_NE(recovered, nullptr);
    EXPECT_TRUE(SameState(Fingerprint(*recovered), fingerprint));
  }
}

// Checkpoints that fail while nothing is written leave no segment behind
// each: a segment that holds no record already begins where a new one
// would, so the journal keeps it (64 MiB a file by default).
TEST_F(DurableStoreTest, FailedCheckpointsOfAnIdleStoreLeaveNoSegmentBehindEach) {
  auto store = Open(Options(Durability::kSyncEachWrite));
  ASSERT_NE(store, nullptr);
  MakeHistory(store.get());
  auto segments = [&] {
    int n = 0;
    for (const std::string& name : Names())
      n += internal::durable::ParseSegmentName(name).has_value();
    return n;
  };
  for (int i = 0; i < 6; ++i) {
    env_->FailOnce(FaultInjectionEnv::Op::kRename, 1, absl::StatusCode::kInternal);
    EXPECT_FALSE(store->Checkpoint().ok());
    env_->ClearFailures();
  }
  // The history's segment, the one the first attempt began, and a spare.
  EXPECT_LE(segments(), 3);
  const std::string fingerprint = Fingerprint(*store);
  ASSERT_THAT(store->Checkpoint(), IsOk());
  EXPECT_LE(segments(), 2);  // the current one, and a spare
  PullThePlug(env_.get(), &store);
  auto recovered = Open(Options());
  ASSERT_NE(recovered, nullptr);
  EXPECT_TRUE(SameState(Fingerprint(*recovered), fingerprint));
}

TEST_F(DurableStoreTest, DamageBeforeTheTailIsRefusedWithFileAndOffset) {
  {
    auto store = Open(Options());
    ASSERT_NE(store, nullptr);
    MakeHistory(store.get());
  }
  std::string segment;  // the first one (a spare may follow it)
  for (const std::string& name : Names()) {
    const std::string path = absl::StrCat(kDir, "/", name);
    if (internal::durable::ParseSegmentName(name) && (segment.empty() || path < segment)) {
      segment = path;
    }
  }
  std::string bytes = env_->Contents(segment);
  const size_t offset = internal::durable::kSegmentHeaderSize + 100;
  bytes[offset] ^= 0x40;
  env_->SetContents(segment, bytes);
  auto strict = OpenUserStore(kDir, Options());
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(strict.status().message(), HasSubstr(segment));
  EXPECT_THAT(strict.status().message(), HasSubstr("byte offset 4096"));
  // Nothing was changed: the same refusal again.
  EXPECT_EQ(env_->Contents(segment), bytes);
  // Salvage recovers the prefix before the damage and says so.
  DurableOptions salvage = Options();
  salvage.recovery = RecoveryMode::kSalvage;
  RecoveryReport report;
  auto salvaged = OpenUserStore(kDir, salvage, &report);
  ASSERT_TRUE(salvaged.ok()) << salvaged.status();
  EXPECT_GT(report.salvaged_bytes_dropped, 0u);
  EXPECT_THAT(report.salvage_note, HasSubstr(segment));
  EXPECT_THAT((*salvaged)->CheckInvariants(), IsOk());
}

TEST_F(DurableStoreTest, ADamagedCheckpointIsRefused) {
  {
    auto store = Open(Options());
    ASSERT_NE(store, nullptr);
    MakeHistory(store.get());
    ASSERT_THAT(store->Checkpoint(), IsOk());
  }
  std::string checkpoint;
  for (const std::string& name : Names()) {
    if (internal::durable::ParseCheckpointName(name)) checkpoint = absl::StrCat(kDir, "/", name);
  }
  std::string bytes = env_->Contents(checkpoint);
  bytes[bytes.size() / 2] ^= 0x01;
  env_->SetContents(checkpoint, bytes);
  auto opened = OpenUserStore(kDir, Options());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(opened.status().message(), HasSubstr(checkpoint));
  EXPECT_THAT(opened.status().message(), HasSubstr("byte offset"));
}

TEST_F(DurableStoreTest, AnUnknownVersionIsRefusedByName) {
  {
    auto store = Open(Options());
    ASSERT_NE(store, nullptr);
  }
  std::string checkpoint;
  for (const std::string& name : Names()) {
    if (internal::durable::ParseCheckpointName(name)) checkpoint = absl::StrCat(kDir, "/", name);
  }
  std::string bytes = env_->Contents(checkpoint);
  bytes[8] = 9;  // version 9
  env_->SetContents(checkpoint, bytes);
  auto opened = OpenUserStore(kDir, Options());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr("unsupported checkpoint version 9"));
}

TEST_F(DurableStoreTest, AnotherAccountIsRefused) {
  { ASSERT_NE(Open(Options()), nullptr); }
  DurableOptions options = Options();
  options.store.account_sid = "AC" + std::string(32, 'f');
  auto opened = OpenUserStore(kDir, options);
  EXPECT_THAT(opened, IsError(400, ErrorCode::kInvalidParameter));
}

// Many writers on several threads while checkpoints are taken: what was
// acknowledged is what is recovered.
TEST_F(DurableStoreTest, CheckpointsUnderConcurrentWrites) {
  auto store = Open(Options(Durability::kBackgroundSync));
  ASSERT_NE(store, nullptr);
  std::vector<std::string> services;
  for (int t = 0; t < 3; ++t) services.push_back(store->CreateService({std::string("s")})->sid);
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        CreateUserRequest request;
        request.identity = absl::StrCat("t", t, "-", i);
        EXPECT_THAT(store->CreateUser(services[t], request), IsOk());
        if (i % 7 == 0) {
          UpdateUserRequest update;
          update.friendly_name = absl::StrCat("n", i);
          EXPECT_THAT(store->UpdateUser(services[t], *request.identity, update), IsOk());
        }
      }
    });
  }
  for (int c = 0; c < 3; ++c) EXPECT_THAT(store->Checkpoint(), IsOk());
  for (auto& w : writers) w.join();
  const std::string fingerprint = Fingerprint(*store);
  store.reset();
  auto recovered = Open(Options());
  ASSERT_NE(recovered, nullptr);
  EXPECT_TRUE(SameState(Fingerprint(*recovered), fingerprint));
  EXPECT_THAT(recovered->CheckInvariants(), IsOk());
}

TEST_F(DurableStoreTest, SyncModeGroupCommitsConcurrentWriters) {
  auto store = Open(Options(Durability::kSyncEachWrite));
  ASSERT_NE(store, nullptr);
  const std::string service = store->default_conversation_service_sid();
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        CreateUserRequest request;
        request.identity = absl::StrCat("t", t, "-", i);
        EXPECT_THAT(store->CreateUser(service, request), IsOk());
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(*store->CountUsers(service), 400);
  // Every write waited for a sync that covered it; none needed its own.
  EXPECT_LE(store->durability_stats().syncs, 400u);
  const std::string fingerprint = Fingerprint(*store);
  PullThePlug(env_.get(), &store);
  auto recovered = Open(Options());
  ASSERT_NE(recovered, nullptr);
  EXPECT_TRUE(SameState(Fingerprint(*recovered), fingerprint));
}

TEST_F(DurableStoreTest, InMemoryStoresHaveNoDurability) {
  UserStore store;
  EXPECT_FALSE(store.durable());
  EXPECT_THAT(store.Checkpoint(), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store.Sync(), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_EQ(store.durability_stats().checkpoints, 0u);
}

// --- the real file system ------------------------------------------------------------------

TEST(DurablePosixTest, ForkedCheckpointAndReopen) {
  // Under ThreadSanitizer and AddressSanitizer the store checkpoints in
  // process (kAuto): their runtimes do not make fork safe in a threaded
  // process, and a forked child can deadlock (the plain build runs this).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a sanitizer runtime that does not make fork safe in a threaded process";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
  GTEST_SKIP() << "a sanitizer runtime that does not make fork safe in a threaded process";
#endif
#endif
  TempDir dir;
  DurableOptions options;
  options.store.seed = 7;
  options.checkpoint_writer = DurableOptions::CheckpointWriter::kFork;
  std::string fingerprint;
  {
    auto store = OpenUserStore(dir.path(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    MakeHistory(store->get());
    ASSERT_THAT((*store)->Checkpoint(), IsOk());
    CreateUserRequest request;
    request.identity = "after";
    ASSERT_THAT((*store)->CreateUser((*store)->default_conversation_service_sid(), request),
                IsOk());
    fingerprint = Fingerprint(**store);
  }
  RecoveryReport report;
  auto store = OpenUserStore(dir.path(), options, &report);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(report.journal_records, 1u);
  EXPECT_TRUE(SameState(Fingerprint(**store), fingerprint));
}

TEST(DurablePosixTest, AnotherProcessCannotOpenAnOpenDirectory) {
  TempDir dir;
  auto store = OpenUserStore(dir.path(), DurableOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  const pid_t child = fork();
  if (child == 0) {
    auto second = OpenUserStore(dir.path(), DurableOptions());
    _exit(!second.ok() && absl::IsFailedPrecondition(second.status()) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A crash mid-append leaves a torn record: cutting the last record short at
// every byte, recovery drops exactly it, and says so.
TEST(DurablePosixTest, ATornTailIsDroppedAtEveryByte) {
  TempDir dir;
  DurableOptions options;
  options.store.seed = 3;
  options.durability = Durability::kNoSync;
  options.segment_bytes = 64 << 10;  // (raised to the minimum the limits need)
  std::string before_last;
  std::string all;
  // A child writes and dies without closing (as kill -9 would).
  const pid_t child = fork();
  if (child == 0) {
    auto store = OpenUserStore(dir.path(), options);
    if (!store.ok()) _exit(1);
    for (int i = 0; i < 5; ++i) {
      CreateUserRequest request;
      request.identity = absl::StrCat("u", i);
      if (!(*store)->CreateUser((*store)->default_conversation_service_sid(), request).ok()) {
        _exit(2);
      }
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string segment = durable_testing::OnlySegment(dir.path());
  const std::string pristine = durable_testing::ReadAll(segment);
  const auto frames = durable_testing::FrameOffsets(pristine);
  ASSERT_EQ(frames.size(), 5u);
  const size_t last = frames.back().first;
  const size_t end = last + frames.back().second;
  for (size_t cut = last; cut <= end; ++cut) {
    SCOPED_TRACE(cut);
    std::string torn = pristine;
    std::fill(torn.begin() + cut, torn.end(), '\0');
    durable_testing::WriteAll(segment, torn);
    RecoveryReport report;
    auto store = OpenUserStore(dir.path(), options, &report);
    ASSERT_TRUE(store.ok()) << store.status();
    const std::string service = (*store)->default_conversation_service_sid();
    EXPECT_EQ(*(*store)->CountUsers(service), cut == end ? 5 : 4);
    if (cut == end || cut == last) {
      EXPECT_EQ(report.torn_bytes_dropped, 0u);
    } else {
      EXPECT_LE(report.torn_bytes_dropped, cut - last);
      if (report.torn_bytes_dropped > 0) {
        EXPECT_EQ(report.torn_file, segment);
      }
    }
    store->reset();
    // Recovery zeroed the torn bytes and moved on to a new segment: put the
    // directory back as the crash left it for the next cut.
    for (const std::string& name : durable_testing::Names(dir.path())) {
      if (internal::durable::ParseSegmentName(name) && dir.path() + "/" + name != segment) {
        std::remove((dir.path() + "/" + name).c_str());
      }
    }
  }
}

}  // namespace
}  // namespace userstore

namespace userstore {
namespace {

// Differential: random operations on a durable store, closed and reopened
// (or its power cut, in sync mode) at random points, against an in-memory
// store given the same seed, clock and operations: after every reopen the
// two hold the same state, and go on handing out the same SIDs.
TEST(DurableDifferentialTest, RandomOperationsWithReopensMatchAnInMemoryStore) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 random(seed);
    auto env = NewFaultInjectionEnv();
    auto clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1600000000));
    DurableOptions options;
    options.env = env.get();
    options.durability = seed % 2 == 0 ? Durability::kSyncEachWrite : Durability::kBackgroundSync;
    options.store.seed = seed;
    options.store.clock = clock;
    options.segment_bytes = 256 << 10;
    options.checkpoint_min_journal_bytes = 16 << 10;  // automatic checkpoints too
    StoreOptions reference_options;
    reference_options.seed = seed;
    reference_options.clock = clock;
    UserStore reference(reference_options);
    auto store = OpenUserStore("/d", options);
    ASSERT_TRUE(store.ok()) << store.status();
    std::vector<std::string> services = {reference.default_conversation_service_sid()};
    auto pick = [&](int n) { return static_cast<int>(random() % static_cast<uint64_t>(n)); };
    for (int step = 0; step < 400; ++step) {
      clock->Advance(absl::Seconds(pick(3)));
      const std::string service = services[pick(static_cast<int>(services.size()))];
      const std::string identity = absl::StrCat("id", pick(40));
      // The same call on both stores; their answers must agree too.
      auto both = [&](auto call) {
        const absl::Status want = userstore_testing::StatusOf(call(reference));
        const absl::Status got = userstore_testing::StatusOf(call(**store));
        ASSERT_EQ(got.ok(), want.ok()) << got << " vs " << want;
        if (!want.ok()) {
          ASSERT_EQ(ErrorCodeOf(got), ErrorCodeOf(want));
        }
      };
      switch (pick(10)) {
        case 0:
        case 1:
        case 2: {
          CreateUserRequest request;
          request.identity = identity;
          if (pick(2)) request.attributes = absl::StrCat("{\"s\":", step, "}");
          both([&](UserStore& s) { return s.CreateUser(service, request); });
          break;
        }
        case 3: {
          UpdateUserRequest request;
          request.friendly_name = absl::StrCat("name", step);
          both([&](UserStore& s) { return s.UpdateUser(service, identity, request); });
          break;
        }
        case 4:
          both([&](UserStore& s) { return s.DeleteUser(service, identity); });
          break;
        case 5: {
          PresenceUpdate update;
          update.is_online = pick(2) == 0;
          both([&](UserStore& s) { return s.SetPresence(service, identity, update); });
          break;
        }
        case 6:
          both([&](UserStore& s) { return s.JoinChannel(service, identity); });
          break;
        case 7:
          if (services.size() < 4) {
            auto created = reference.CreateService({absl::StrCat("s", step)});
            auto mine = (*store)->CreateService({absl::StrCat("s", step)});
            ASSERT_TRUE(created.ok() && mine.ok());
            ASSERT_EQ(created->sid, mine->sid);
            services.push_back(created->sid);
          } else if (service != services[0]) {
            both([&](UserStore& s) { return s.DeleteService(service); });
            services.erase(std::find(services.begin(), services.end(), service));
          }
          break;
        case 8: {
          UpdateServiceRequest request;
          request.reachability_enabled = pick(2) == 0;
          both([&](UserStore& s) { return s.UpdateService(service, request); });
          break;
        }
        default: {
          // Close and reopen (or, in sync mode, pull the plug first).
          if (options.durability == Durability::kSyncEachWrite && pick(2) == 0) {
            PullThePlug(env.get(), &store);
          } else {
            store->reset();
          }
          store = OpenUserStore("/d", options);
          ASSERT_TRUE(store.ok()) << store.status();
          ASSERT_TRUE(SameState(Fingerprint(**store), Fingerprint(reference)));
          ASSERT_TRUE((*store)->CheckInvariants().ok());
        }
      }
    }
    ASSERT_TRUE(SameState(Fingerprint(**store), Fingerprint(reference)));
  }
}

}  // namespace
}  // namespace userstore
