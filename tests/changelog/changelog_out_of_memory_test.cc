// The changelog's threads out of memory (docs/reliability.md, "Out of
// memory"): this binary's operator new (tests/testing/failing_operator_new.h)
// fails the k-th allocation of one chosen thread, for every k that thread
// reaches, and each test checks what follows:
//   - the leader's shipping thread, over the in-memory log and over a real
//     redis-server (where a failure may come after the server appended, or
//     in the middle of an exchange on the connection): the append is
//     retried, the thread goes on, every event reaches the stream exactly
//     once and in order, and a follower converges;
//   - ChangelogLeader::Checkpoint: RESOURCE_EXHAUSTED, the stream whole;
//   - a follower's Poll: out of memory before it applies anything is a 503
//     that the next Poll retries; while it applies, the follower stops with
//     RESOURCE_EXHAUSTED, and reopened it resumes from its directory and
//     converges.
// No std::bad_alloc may reach the thread's top (that would end the
// process).

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/changelog/changelog_fixture.h"
#include "tests/changelog/memory_log.h"
#include "tests/changelog/redis_server.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/failing_operator_new.h"

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/replication.h"
#include "userstore/user_store.h"

namespace {
// Set on the thread whose allocations are counted.
thread_local bool counted_thread = false;
// Only allocations of at least this many bytes are counted.
std::atomic<std::size_t> counted_size{0};
// The counted allocation to fail (0 the next one); negative: none.
std::atomic<int64_t> fail_at{-1};
std::atomic<int64_t> failures{0};
}  // namespace

bool userstore_testing::AllocationShouldFail(std::size_t size) {
  if (!counted_thread || fail_at.load(std::memory_order_relaxed) < 0) return false;
  if (size < counted_size.load(std::memory_order_relaxed)) return false;
  if (fail_at.fetch_sub(1) != 0) return false;
  failures.fetch_add(1);
  return true;
}

namespace userstore {
namespace {

using changelog_testing::ChangelogTest;
using changelog_testing::ExpectEntriesHoldEventsOnceInOrder;
using changelog_testing::MemoryLog;
using changelog_testing::MemoryStream;
using durable_testing::Fingerprint;
using durable_testing::SameState;
using userstore_testing::RedisServer;

// Fails the k-th allocation counted from now (on the counted thread).
void Arm(int64_t k) {
  failures.store(0);
  fail_at.store(k);
}
// Stops failing; returns whether an allocation failed since Arm.
bool Disarm() {
  fail_at.store(-1);
  return failures.load() > 0;
}

// A log that counts the allocations of the thread that appends through it
// other than the one that made it (the shipping thread; the leader's start
// appends its fence from the caller's). Everything else is `log`'s.
class ShippingThreadLog : public ChangelogLog {
 public:
  explicit ShippingThreadLog(std::unique_ptr<ChangelogLog> log)
      : log_(std::move(log)), maker_(std::this_thread::get_id()) {}

  std::string url() const override { return log_->url(); }
  absl::StatusOr<std::string> LastId() override { return log_->LastId(); }
  absl::StatusOr<std::string> AppendIf(absl::string_view expected_last_id, uint64_t last_sequence,
                                       uint64_t epoch, absl::string_view data) override {
    if (std::this_thread::get_id() != maker_) counted_thread = true;
    return log_->AppendIf(expected_last_id, last_sequence, epoch, data);
  }
  absl::StatusOr<std::vector<Entry>> ReadAfter(uint64_t after_sequence, size_t max,
                                               absl::Duration wait) override {
    return log_->ReadAfter(after_sequence, max, wait);
  }
  absl::Status PutCheckpoint(uint64_t sequence, absl::string_view bytes) override {
    return log_->PutCheckpoint(sequence, bytes);
  }
  absl::StatusOr<Checkpoint> GetCheckpoint() override { return log_->GetCheckpoint(); }
  absl::Status TrimThrough(uint64_t sequence) override { return log_->TrimThrough(sequence); }

 private:
  const std::unique_ptr<ChangelogLog> log_;
  const std::thread::id maker_;
};

class ChangelogOutOfMemoryTest : public ChangelogTest {
 protected:
  void SetUp() override {
#if defined(USERSTORE_OOM_SKIP)
    GTEST_SKIP() << "operator new cannot be replaced under this sanitizer's runtime";
#endif
  }
  void TearDown() override {
    Disarm();
    counted_thread = false;
    counted_size.store(0);
  }

  // Runs `attempt(k)` for k = 0, 1, ... until an attempt fails no
  // allocation (k is past what the thread allocates), at least `min_failing`
  // of them failing one.
  template <typename Attempt>
  void ForEachAllocation(int min_failing, Attempt attempt) {
    int failing = 0;
    for (int64_t k = 0; k < 2000; ++k) {
      SCOPED_TRACE(absl::StrCat("the allocation failed: #", k));
      bool failed = false;
      attempt(k, &failed);
      if (HasFailure()) return;
      if (!failed) break;
      ++failing;
    }
    EXPECT_GE(failing, min_failing);
    RecordProperty("failing_allocations", failing);
  }

  static constexpr size_t kMaxBatch = 8;

  ChangelogOptions ShippingOptions() {
    ChangelogOptions options;
    options.env = env_.get();
    options.max_batch_events = kMaxBatch;  // many batches
    options.batch_delay = absl::ZeroDuration();
    options.retry_interval = absl::Milliseconds(1);
    return options;
  }
};

TEST_F(ChangelogOutOfMemoryTest, TheShippingThreadRetriesAndShipsEachEventOnce) {
  ForEachAllocation(/*min_failing=*/5, [&](int64_t k, bool* failed) {
    auto stream = std::make_shared<MemoryStream>();
    const std::string dir = absl::StrCat("/leader", k);
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    auto leader = ChangelogLeader::Start(
        store.get(), std::make_unique<ShippingThreadLog>(std::make_unique<MemoryLog>(stream)),
        ShippingOptions());
    ASSERT_TRUE(leader.ok()) << leader.status();
    const uint64_t first = store->last_sequence() + 1;
    Arm(k);
    Work(store.get(), "u", 40);
    const absl::Status flushed = (*leader)->Flush(absl::Seconds(30));
    *failed = Disarm();
    ASSERT_TRUE(flushed.ok()) << flushed;
    const ChangelogLeader::Stats stats = (*leader)->stats();
    EXPECT_EQ(stats.shipped_sequence, store->last_sequence());
    EXPECT_FALSE(stats.fenced);
    if (*failed) {
      EXPECT_GE(stats.retries, 1u);
      EXPECT_TRUE(absl::IsResourceExhausted(stats.last_error)) << stats.last_error;
    }
    ExpectEntriesHoldEventsOnceInOrder(stream->Entries(), store->last_sequence(),
                                       store->last_sequence() + 1 - first, kMaxBatch);
    // A follower converges.
    auto follower = ChangelogFollower::Open(absl::StrCat("/follower", k), Options(),
                                            std::make_unique<MemoryLog>(stream));
    ASSERT_TRUE(follower.ok()) << follower.status();
    ASSERT_TRUE((*follower)->CatchUp(absl::Seconds(30)).ok());
    EXPECT_TRUE(SameState(Fingerprint((*follower)->store()), Fingerprint(*store)));
  });
}

// Over a real redis-server: a failure between the commands of an exchange
// drops the connection (the next command must not read another's reply), and
// one after the server appended (reading its answer) is a lost answer that
// the leader recognizes on its retry.
TEST_F(ChangelogOutOfMemoryTest, TheShippingThreadRetriesOverRedis) {
  if (RedisServer::Binary().empty()) GTEST_SKIP() << RedisServer::kNotFound;
  signal(SIGPIPE, SIG_IGN);
  RedisServer server(/*appendonly=*/false);
  const absl::Status started = server.Start();
  ASSERT_TRUE(started.ok()) << started;
  ForEachAllocation(/*min_failing=*/5, [&](int64_t k, bool* failed) {
    const std::string url = server.Url(absl::StrCat("users-p", k));
    auto log = OpenChangelogLog(url);
    ASSERT_TRUE(log.ok()) << log.status();
    auto store = OpenStore(absl::StrCat("/leader", k));
    ASSERT_NE(store, nullptr);
    ChangelogOptions options = ShippingOptions();
    auto leader = ChangelogLeader::Start(
        store.get(), std::make_unique<ShippingThreadLog>(std::move(*log)), options);
    ASSERT_TRUE(leader.ok()) << leader.status();
    const uint64_t first = store->last_sequence() + 1;
    Arm(k);
    // Large events, so that some batches take the watched append (4 KiB and
    // more) and some the script.
    const std::string service = store->default_conversation_service_sid();
    for (int i = 0; i < 40; ++i) {
      CreateUserRequest create;
      create.identity = absl::StrCat("u", i);
      if (i % 2 == 0) create.attributes = absl::StrCat("\"", std::string(1500, 'a'), "\"");
      ASSERT_TRUE(store->CreateUser(service, create).ok());
    }
    const absl::Status flushed = (*leader)->Flush(absl::Seconds(30));
    *failed = Disarm();
    ASSERT_TRUE(flushed.ok()) << flushed;
    const ChangelogLeader::Stats stats = (*leader)->stats();
    EXPECT_EQ(stats.shipped_sequence, store->last_sequence());
    EXPECT_FALSE(stats.fenced) << stats.last_error;
    auto reader = OpenChangelogLog(url);
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto entries = (*reader)->ReadAfter(0, 100000, absl::ZeroDuration());
    ASSERT_TRUE(entries.ok()) << entries.status();
    ExpectEntriesHoldEventsOnceInOrder(*entries, store->last_sequence(),
                                       store->last_sequence() + 1 - first, kMaxBatch);
    // The leader goes on: a write after the failures ships too.
    CreateUserRequest create;
    create.identity = "after";
    ASSERT_TRUE(store->CreateUser(service, create).ok());
    ASSERT_TRUE((*leader)->Flush(absl::Seconds(30)).ok());
    auto follower =
        ChangelogFollower::Open(absl::StrCat("/follower", k), Options(), std::move(*reader));
    ASSERT_TRUE(follower.ok()) << follower.status();
    ASSERT_TRUE((*follower)->CatchUp(absl::Seconds(30)).ok());
    EXPECT_TRUE(SameState(Fingerprint((*follower)->store()), Fingerprint(*store)));
  });
}

// ChangelogLeader::Checkpoint (on this thread) out of memory: an error,
// and the stream stays whole (a follower bootstrapping from it converges);
// the leader ships on, and the next checkpoint succeeds. The allocations
// that fail are those of 16 KiB or more: the checkpoint's bytes (the store's
// own checkpoint fails every allocation in CheckpointOutOfMemoryTest,
// tests/out_of_memory_test.cc).
TEST_F(ChangelogOutOfMemoryTest, ACheckpointOutOfMemoryLeavesTheStreamWhole) {
  auto store = OpenStore("/leader");
  ASSERT_NE(store, nullptr);
  auto leader = Lead(store.get());
  ASSERT_NE(leader, nullptr);
  const std::string service = store->default_conversation_service_sid();
  for (int i = 0; i < 30; ++i) {  // a checkpoint of about 60 KB
    CreateUserRequest create;
    create.identity = absl::StrCat("big", i);
    create.attributes = absl::StrCat("\"", std::string(2000, 'x'), "\"");
    ASSERT_TRUE(store->CreateUser(service, create).ok());
  }
  ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
  counted_size.store(16 << 10);
  ForEachAllocation(/*min_failing=*/2, [&](int64_t k, bool* failed) {
    Work(store.get(), absl::StrCat("k", k, "-"), 3);
    ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
    counted_thread = true;
    Arm(k);
    const absl::Status checkpointed = leader->Checkpoint();
    *failed = Disarm();
    counted_thread = false;
    if (*failed) {
      EXPECT_TRUE(absl::IsResourceExhausted(checkpointed)) << checkpointed;
    } else {
      EXPECT_TRUE(checkpointed.ok()) << checkpointed;
    }
    Work(store.get(), absl::StrCat("after", k, "-"), 2);
    ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
    auto follower = Follow(absl::StrCat("/follower", k));
    ASSERT_NE(follower, nullptr);
    ASSERT_TRUE(follower->CatchUp(absl::Seconds(30)).ok());
    EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
  });
  EXPECT_TRUE(leader->Checkpoint().ok());
}

// A follower's Poll (on this thread) out of memory: retried when nothing was
// applied; stopped when the store was applying, and then reopened from its
// directory it resumes and converges, applying nothing twice.
TEST_F(ChangelogOutOfMemoryTest, AFollowerRetriesOrStopsAndResumesWhenReopened) {
  auto store = OpenStore("/leader");
  ASSERT_NE(store, nullptr);
  ChangelogOptions options;
  options.max_batch_events = 8;
  auto leader = Lead(store.get(), options);
  ASSERT_NE(leader, nullptr);
  Work(store.get(), "u", 60);
  ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
  const std::string want = Fingerprint(*store);
  int retried = 0;
  int stopped = 0;
  ForEachAllocation(/*min_failing=*/5, [&](int64_t k, bool* failed) {
    const std::string dir = absl::StrCat("/follower", k);
    auto follower = Follow(dir);
    ASSERT_NE(follower, nullptr);
    std::vector<uint64_t> seen;
    seen.reserve(10000);  // the callback allocates nothing on the counted thread
    follower->store().Subscribe([&](const ChangeEvent& e) { seen.push_back(e.sequence); });
    const uint64_t start = follower->store().last_sequence();
    counted_thread = true;
    Arm(k);
    absl::Status stop;
    for (int polls = 0; polls < 1000 && follower->store().last_sequence() < store->last_sequence();
         ++polls) {
      absl::StatusOr<uint64_t> polled = follower->Poll(absl::ZeroDuration());
      if (polled.ok()) continue;
      if (absl::IsUnavailable(polled.status())) {
        EXPECT_TRUE(absl::StrContains(polled.status().message(), "out of memory"))
            << polled.status();
        ++retried;
        continue;
      }
      stop = polled.status();
      break;
    }
    *failed = Disarm();
    counted_thread = false;
    if (!stop.ok()) {
      ++stopped;
      EXPECT_TRUE(absl::IsResourceExhausted(stop)) << stop;
      EXPECT_EQ(follower->last_error(), stop);
      EXPECT_FALSE(follower->Poll(absl::ZeroDuration()).ok());  // stays stopped
      const uint64_t at = follower->store().last_sequence();
      follower.reset();
      follower = Follow(dir);
      ASSERT_NE(follower, nullptr);
      EXPECT_LE(follower->store().last_sequence(), at);
      const uint64_t resumed = follower->store().last_sequence();
      seen.clear();
      follower->store().Subscribe([&](const ChangeEvent& e) { seen.push_back(e.sequence); });
      ASSERT_TRUE(follower->CatchUp(absl::Seconds(30)).ok());
      for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], resumed + 1 + i);
    } else {
      // Every event once, in order, across the retries.
      for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], start + 1 + i);
    }
    EXPECT_TRUE(SameState(Fingerprint(follower->store()), want));
    EXPECT_TRUE(follower->store().CheckInvariants().ok());
  });
  // Both kinds happened.
  EXPECT_GT(retried, 0);
  EXPECT_GT(stopped, 0);
}

}  // namespace
}  // namespace userstore
