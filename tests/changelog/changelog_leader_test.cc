// ChangelogLeader (changelog.h) over an in-memory log (memory_log.h) and a
// simulated disk: the two modes, the unshipped bound, lost answers, the
// tap's queue under several writers, fencing and promotion, checkpoints and
// trimming, restarts and batching. The follower's side is in
// changelog_follower_test.cc; the same scenarios against a real Redis are in
// redis_changelog_test.cc.

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
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
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/replication.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using changelog_testing::ChangelogTest;
using changelog_testing::MemoryLog;
using changelog_testing::MemoryStream;
using durable_testing::Fingerprint;
using durable_testing::SameState;

TEST_F(ChangelogTest, SyncModeAnswersOnlyOnceTheLogHasTheWrite) {
  auto store = OpenStore("/leader");
  ChangelogOptions options;
  options.mode = ChangelogOptions::Mode::kSync;
  options.ack_timeout = absl::Milliseconds(300);
  options.retry_interval = absl::Milliseconds(10);
  auto leader = Lead(store.get(), options);
  ASSERT_NE(leader, nullptr);
  const std::string service = store->default_conversation_service_sid();
  CreateUserRequest create;
  create.identity = "acked";
  ASSERT_TRUE(store->CreateUser(service, create).ok());
  // Acknowledged means in the log.
  EXPECT_EQ(leader->stats().shipped_sequence, store->last_sequence());

  stream_->SetAvailable(false);
  create.identity = "unacked";
  auto down = store->CreateUser(service, create);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(ErrorCodeOf(down.status()), ErrorCode::kServiceUnavailable) << down.status();
  EXPECT_TRUE(store->GetUser(service, "unacked").ok());  // kept locally
  EXPECT_LT(leader->stats().shipped_sequence, store->last_sequence());
  EXPECT_GT(leader->stats().retries, 0u);

  stream_->SetAvailable(true);  // shipped once the log is back
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(follower->store().GetUser(service, "unacked").ok());
}

TEST_F(ChangelogTest, AsyncModeRefusesWritesPastTheUnshippedBound) {
  auto store = OpenStore("/leader");
  ChangelogOptions options;
  options.max_unshipped_events = 5;
  options.retry_interval = absl::Milliseconds(10);
  auto leader = Lead(store.get(), options);
  ASSERT_NE(leader, nullptr);
  stream_->SetAvailable(false);
  const std::string service = store->default_conversation_service_sid();
  int accepted = 0;
  absl::Status refused;
  for (int i = 0; i < 20 && refused.ok(); ++i) {
    CreateUserRequest create;
    create.identity = absl::StrCat("u", i);
    const uint64_t before = store->last_sequence();
    auto made = store->CreateUser(service, create);
    if (made.ok()) {
      ++accepted;
    } else {
      refused = made.status();
      EXPECT_EQ(store->last_sequence(), before);  // nothing changed
    }
  }
  EXPECT_EQ(accepted, 5);  // async: they returned before the log had them
  EXPECT_EQ(ErrorCodeOf(refused), ErrorCode::kServiceUnavailable) << refused;
  stream_->SetAvailable(true);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  CreateUserRequest create;
  create.identity = "after";
  EXPECT_TRUE(store->CreateUser(service, create).ok());
}

TEST_F(ChangelogTest, AnAppendWhoseAnswerWasLostIsNotAppendedTwice) {
  auto store = OpenStore("/leader");
  ChangelogOptions options;
  options.retry_interval = absl::Milliseconds(10);
  auto leader = Lead(store.get(), options);
  ASSERT_NE(leader, nullptr);
  stream_->LoseAcks(3);
  Work(store.get(), "x", 20);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  EXPECT_FALSE(leader->stats().fenced);
  // Entries are consecutive, each event once: Work's 20 creates, 7 updates
  // and 4 deletes.
  ExpectEventsOnceInOrder(store->last_sequence(), 20 + 7 + 4, options.max_batch_events);
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
}

// The leader's queue is a list of 1 MiB blocks: a backlog of several MiB
// (the log down), batches that straddle blocks, an event bigger than a
// block, and lost answers: every event reaches the stream once, in order.
TEST_F(ChangelogTest, ABacklogSpanningManyQueueBlocksShipsEveryEventOnceInOrder) {
  DurableOptions options = Options();
  options.store.max_attributes_bytes = size_t{3} << 20;
  auto opened = OpenUserStore("/leader", options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<UserStore> store = std::move(*opened);
  ChangelogOptions lead;
  lead.retry_interval = absl::Milliseconds(5);
  lead.max_batch_events = 7;
  auto leader = Lead(store.get(), lead);
  ASSERT_NE(leader, nullptr);
  stream_->SetAvailable(false);
  const std::string service = store->default_conversation_service_sid();
  const std::string pad(9000, 'p');
  const std::string huge((size_t{3} << 19), 'h');  // 1.5 MiB: more than a block
  for (int i = 0; i < 700; ++i) {
    CreateUserRequest create;
    create.identity = absl::StrCat("b", i);
    create.attributes = absl::StrCat(R"({"pad":")", i == 350 ? huge : pad, R"("})");
    auto user = store->CreateUser(service, create);
    ASSERT_TRUE(user.ok()) << i << ": " << user.status();
    if (i % 4 == 0) {
      ASSERT_TRUE(store->DeleteUser(service, user->sid).ok());
    }
  }
  EXPECT_EQ(leader->stats().shipped_sequence < store->last_sequence(), true);
  stream_->LoseAcks(3);
  stream_->SetAvailable(true);
  ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(leader->stats().shipped_sequence, store->last_sequence());
  // The creates and deletes, nothing twice.
  ExpectEventsOnceInOrder(store->last_sequence(), 700 + 175, 7);
  auto follower = ChangelogFollower::Open("/f", options, Log());
  ASSERT_TRUE(follower.ok()) << follower.status();
  ASSERT_TRUE((*follower)->CatchUp(absl::Seconds(30)).ok());
  EXPECT_TRUE(SameState(Fingerprint((*follower)->store()), Fingerprint(*store)));
}

// Several writers and the shipping thread share the tap's queue: blocks are
// filled while the thread ships from them, shipped blocks are reused by the
// tap, and Flushes wake a thread waiting for a batch to fill. In every mode,
// no write is refused (the log keeps up) and every event reaches the stream
// once, in order.
TEST_F(ChangelogTest, TheTapAndTheShippingThreadShareTheQueueWhileBlocksAreReused) {
  struct Mode {
    ChangelogOptions::Mode mode;
    absl::Duration batch_delay;
  };
  const Mode modes[] = {{ChangelogOptions::Mode::kAsync, absl::Milliseconds(1)},
                        {ChangelogOptions::Mode::kAsync, absl::ZeroDuration()},
                        {ChangelogOptions::Mode::kSync, absl::Milliseconds(1)}};
  int round = 0;
  for (const Mode& mode : modes) {
    SCOPED_TRACE(round);
    stream_ = std::make_shared<MemoryStream>();
    const std::string dir = absl::StrCat("/leader", round);
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    ChangelogOptions lead;
    lead.mode = mode.mode;
    lead.batch_delay = mode.batch_delay;
    lead.max_batch_events = 16;
    lead.ack_timeout = absl::Seconds(30);
    auto leader = Lead(store.get(), lead);
    ASSERT_NE(leader, nullptr);
    const std::string service = store->default_conversation_service_sid();
    // ~6 KiB per event, 1,200 events: about seven 1 MiB blocks, and the
    // first ones shipped and reused long before the last is written.
    const std::string pad(6000, 'p');
    std::atomic<bool> writing{true};
    std::thread flusher([&] {
      while (writing.load()) {
        EXPECT_TRUE(leader->Flush(absl::Seconds(30)).ok());
        const ChangelogLeader::Stats stats = leader->stats();
        EXPECT_GE(stats.committed_sequence, stats.shipped_sequence);
      }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 400; ++i) {
          CreateUserRequest create;
          create.identity = absl::StrCat("w", t, "-", i);
          create.attributes = absl::StrCat(R"({"pad":")", pad, R"("})");
          auto user = store->CreateUser(service, create);
          ASSERT_TRUE(user.ok()) << user.status();
        }
      });
    }
    for (auto& w : writers) w.join();
    writing.store(false);
    flusher.join();
    ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
    EXPECT_EQ(leader->stats().shipped_sequence, store->last_sequence());
    ExpectEventsOnceInOrder(store->last_sequence(), 1200, 16);
    auto follower = Follow(absl::StrCat("/f", round));
    ASSERT_NE(follower, nullptr);
    ASSERT_TRUE(follower->CatchUp(absl::Seconds(30)).ok());
    EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
    ++round;
  }
}

TEST_F(ChangelogTest, APromotedFollowerFencesTheOldLeader) {
  auto old_store = OpenStore("/leader");
  ChangelogOptions options;
  options.mode = ChangelogOptions::Mode::kSync;
  options.ack_timeout = absl::Seconds(5);
  auto old_leader = Lead(old_store.get(), options);
  ASSERT_NE(old_leader, nullptr);
  const std::string service = old_store->default_conversation_service_sid();
  std::set<std::string> old_sids;
  for (int i = 0; i < 10; ++i) {
    CreateUserRequest create;
    create.identity = absl::StrCat("old", i);
    auto user = old_store->CreateUser(service, create);
    ASSERT_TRUE(user.ok()) << user.status();
    old_sids.insert(user->sid);
  }
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ChangelogOptions promote_options = options;
  promote_options.env = env_.get();
  auto promoted = ChangelogFollower::Promote(std::move(follower), promote_options);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->leader->stats().epoch, old_leader->stats().epoch + 1);
  // Every acknowledged write of the old leader is on the new one.
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(promoted->store->GetUser(service, absl::StrCat("old", i)).ok());
  }

  // The old leader comes back: its write is applied locally but refused by
  // the log (403), and every later write is refused before it changes
  // anything.
  CreateUserRequest create;
  create.identity = "deposed";
  auto refused = old_store->CreateUser(service, create);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorCodeOf(refused.status()), ErrorCode::kForbidden) << refused.status();
  EXPECT_TRUE(old_leader->stats().fenced);
  const uint64_t old_sequence = old_store->last_sequence();
  create.identity = "deposed2";
  EXPECT_EQ(ErrorCodeOf(old_store->CreateUser(service, create).status()), ErrorCode::kForbidden);
  EXPECT_EQ(old_store->last_sequence(), old_sequence);

  // The new leader writes; its SIDs are none of the old leader's.
  for (int i = 0; i < 10; ++i) {
    CreateUserRequest mine;
    mine.identity = absl::StrCat("new", i);
    auto user = promoted->store->CreateUser(service, mine);
    ASSERT_TRUE(user.ok()) << user.status();
    EXPECT_EQ(old_sids.count(user->sid), 0u) << user->sid;
  }
  // A follower of the stream has the new leader's state and nothing of the
  // deposed leader's refused write.
  auto fresh = Follow("/f2");
  ASSERT_NE(fresh, nullptr);
  ASSERT_TRUE(fresh->CatchUp(absl::Seconds(10)).ok());
  EXPECT_FALSE(fresh->store().GetUser(service, "deposed").ok());
  EXPECT_TRUE(SameState(Fingerprint(fresh->store()), Fingerprint(*promoted->store)));
  // The deposed leader's directory cannot follow the stream: its tail holds
  // a write the stream does not.
  old_leader.reset();
  old_store.reset();
  // Restarted, it cannot lead again: its epoch was superseded.
  {
    auto restarted = OpenStore("/leader");
    ASSERT_NE(restarted, nullptr);
    ChangelogOptions again;
    again.env = env_.get();
    auto lead = ChangelogLeader::Start(restarted.get(), Log(), again);
    ASSERT_FALSE(lead.ok());
    EXPECT_EQ(ErrorCodeOf(lead.status()), ErrorCode::kForbidden) << lead.status();
    EXPECT_TRUE(absl::StrContains(lead.status().message(), "deposed")) << lead.status();
  }
  auto rejoin = ChangelogFollower::Open("/leader", Options(), Log());
  ASSERT_FALSE(rejoin.ok());
  EXPECT_TRUE(absl::StrContains(rejoin.status().message(), "new directory")) << rejoin.status();
  // It rejoins in a new one.
  auto rejoined = Follow("/leader-again");
  ASSERT_NE(rejoined, nullptr);
  ASSERT_TRUE(rejoined->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(rejoined->store()), Fingerprint(*promoted->store)));
}

TEST_F(ChangelogTest, ACheckpointTrimsTheStreamAndNewFollowersBootstrapFromIt) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  Work(store.get(), "c", 30);
  ASSERT_TRUE(leader->Checkpoint().ok());
  const size_t kept = stream_->Entries().size();
  Work(store.get(), "d", 10);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  EXPECT_GT(stream_->Entries().size(), kept);
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
}

TEST_F(ChangelogTest, ARestartedLeaderResumesWithANewEpoch) {
  uint64_t epoch = 0;
  std::string state;
  {
    auto store = OpenStore("/leader");
    auto leader = Lead(store.get());
    ASSERT_NE(leader, nullptr);
    Work(store.get(), "r", 10);
    ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
    epoch = leader->stats().epoch;
    leader.reset();
    state = Fingerprint(*store);
  }
  auto store = OpenStore("/leader");
  ASSERT_NE(store, nullptr);
  auto leader = Lead(store.get());
  ASSERT_NE(leader, nullptr);
  EXPECT_EQ(leader->stats().epoch, epoch + 1);
  Work(store.get(), "s", 10);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
}

TEST_F(ChangelogTest, StartRefusesAStoreThatIsNotTheStreams) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  ASSERT_NE(leader, nullptr);
  auto other = OpenStore("/other");
  ASSERT_NE(other, nullptr);
  CreateUserRequest create;
  create.identity = "elsewhere";
  ASSERT_TRUE(other->CreateUser(other->default_conversation_service_sid(), create).ok());
  ChangelogOptions options;
  options.env = env_.get();
  auto refused = ChangelogLeader::Start(other.get(), Log(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "never led")) << refused.status();
  UserStore in_memory;
  EXPECT_FALSE(ChangelogLeader::Start(&in_memory, Log(), {}).ok());
  EXPECT_EQ(ErrorCodeOf(ChangelogFollower::Open(
                            "/new", Options(),
                            std::make_unique<MemoryLog>(std::make_shared<MemoryStream>()))
                            .status()),
            ErrorCode::kNotFound);
}

TEST_F(ChangelogTest, AnAsyncLeaderWaitsForAFullBatchButNotWhenFlushed) {
  auto store = OpenStore("/leader");
  ASSERT_NE(store, nullptr);
  ChangelogOptions options;
  options.max_batch_events = 4;
  options.batch_delay = absl::Hours(1);  // only a full batch or a Flush ships
  auto leader = Lead(store.get(), options);
  ASSERT_NE(leader, nullptr);
  const uint64_t start = store->last_sequence();
  const auto batches_after = [&](uint64_t sequence) {
    for (const ChangelogLog::Entry& entry : stream_->Entries()) {
      uint64_t last = 0;
      uint64_t epoch = 0;
      if (ChangelogLog::ParseEntryId(entry.id, &last, &epoch) && last >= sequence) return true;
    }
    return false;
  };

  // Four creates fill a batch: it is shipped without a Flush, as one entry.
  Work(store.get(), "full", 4);  // creates 0..3, update 0 and 3, delete 0: 7 events
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!batches_after(start + 4) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(batches_after(start + 4));
  std::string first_batch;
  for (const ChangelogLog::Entry& entry : stream_->Entries()) {
    if (entry.id == ChangelogLog::EntryId(start + 4, leader->stats().epoch))
      first_batch = entry.data;
  }
  auto first = DecodeChangelogBatch(first_batch);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->events.size(), 4u);
  EXPECT_EQ(first->events.front().sequence, start + 1);

  // The three events left are not a full batch; a Flush ships them at once.
  ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(leader->stats().shipped_sequence, store->last_sequence());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
  // Stopping ships what is queued too.
  Work(store.get(), "tail", 1);
  const uint64_t last = store->last_sequence();
  leader.reset();
  EXPECT_TRUE(batches_after(last));
}

}  // namespace
}  // namespace userstore
