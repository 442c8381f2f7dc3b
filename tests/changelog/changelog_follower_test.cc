// ChangelogFollower (changelog.h) over an in-memory log (memory_log.h) and a
// simulated disk: convergence with a leader, restarts and read-ahead through
// the log's outages, a full disk, and every kind of bad entry (malformed,
// gaps, events that do not apply, entries straddling the position). The
// leader's side is in changelog_leader_test.cc; the same scenarios against a
// real Redis are in redis_changelog_test.cc.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/changelog/changelog_fixture.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/fault_injection_env.h"
#include "userstore/replication.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/replication/batch_framing.h"

namespace userstore {
namespace {

using changelog_testing::ChangelogTest;
using durable_testing::Fingerprint;
using durable_testing::SameState;

TEST_F(ChangelogTest, ALeaderUnderLoadAndTwoFollowersConverge) {
  auto store = OpenStore("/leader");
  ASSERT_NE(store, nullptr);
  auto leader = Lead(store.get());
  ASSERT_NE(leader, nullptr);
  auto early = Follow("/f1");
  ASSERT_NE(early, nullptr);
  early->Start();
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] { Work(store.get(), absl::StrCat("w", t, "-"), 150); });
  }
  // A second follower bootstraps while the writers run.
  auto late = Follow("/f2");
  ASSERT_NE(late, nullptr);
  for (auto& w : writers) w.join();
  ASSERT_TRUE(leader->Flush(absl::Seconds(30)).ok());
  early->Stop();
  ASSERT_TRUE(early->CatchUp(absl::Seconds(30)).ok());
  ASSERT_TRUE(late->CatchUp(absl::Seconds(30)).ok());
  const std::string want = Fingerprint(*store);
  EXPECT_TRUE(SameState(Fingerprint(early->store()), want));
  EXPECT_TRUE(SameState(Fingerprint(late->store()), want));
  EXPECT_EQ(early->lag().events_behind, 0u);
  EXPECT_EQ(leader->stats().shipped_sequence, store->last_sequence());
  EXPECT_TRUE(early->store().CheckInvariants().ok());
}

TEST_F(ChangelogTest, AFollowerTakesNoWrites) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  const uint64_t before = follower->store().last_sequence();
  CreateUserRequest create;
  create.identity = "mallory";
  auto made =
      follower->store().CreateUser(follower->store().default_conversation_service_sid(), create);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(ErrorCodeOf(made.status()), ErrorCode::kForbidden) << made.status();
  EXPECT_EQ(follower->store().last_sequence(), before);
  // Through REST: 403 with code 20403.
  Dispatcher rest(&follower->store());
  HttpRequest request;
  request.method = "POST";
  request.url =
      absl::StrCat("/v1/Services/", follower->store().default_conversation_service_sid(), "/Users");
  request.body = "Identity=mallory";
  const HttpResponse response = rest.Handle(request);
  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_TRUE(absl::StrContains(response.body, "20403")) << response.body;
}

TEST_F(ChangelogTest, ARestartedFollowerResumesAndAppliesNothingTwice) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  Work(store.get(), "a", 40);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  uint64_t resumed_at = 0;
  {
    auto follower = Follow("/f");
    ASSERT_NE(follower, nullptr);
    ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
    resumed_at = follower->store().last_sequence();
  }
  Work(store.get(), "b", 40);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  EXPECT_EQ(follower->store().last_sequence(), resumed_at);  // its own durable position
  // Every event from then on is delivered to its feed exactly once, in order.
  std::vector<uint64_t> seen;
  follower->store().Subscribe([&](const ChangeEvent& e) { seen.push_back(e.sequence); });
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
  ASSERT_FALSE(seen.empty());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], resumed_at + 1 + i);
  EXPECT_TRUE(follower->last_error().ok());
}

// A stream of many entries (several reads of 64): the follower reads the
// next ones while it applies (follower.cc, ReadAhead); what it reads ahead
// is used only at its position, so an outage between reads, a read ahead
// that failed, and a stop before a read ahead is taken lose nothing and
// apply nothing twice.
TEST_F(ChangelogTest, AFollowerReadingAheadAppliesEveryEventOnceThroughOutages) {
  auto store = OpenStore("/leader");
  ChangelogOptions options;
  options.max_batch_events = 2;  // many small entries
  auto leader = Lead(store.get(), options);
  Work(store.get(), "r", 400);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  ASSERT_GT(stream_->Entries().size(), 4 * 64u);  // (at least 614 events, 2 an entry)
  uint64_t resumed_at = 0;
  {
    auto follower = Follow("/f");
    ASSERT_NE(follower, nullptr);
    auto first = follower->Poll(absl::ZeroDuration());  // a full read: reads ahead
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_GT(*first, 0u);
    resumed_at = follower->store().last_sequence();
  }  // closed with a read ahead not taken
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  EXPECT_EQ(follower->store().last_sequence(), resumed_at);
  std::vector<uint64_t> seen;
  follower->store().Subscribe([&](const ChangeEvent& e) { seen.push_back(e.sequence); });
  ASSERT_TRUE(follower->Poll(absl::ZeroDuration()).ok());
  // The log goes down while a read ahead may be in flight or done: the
  // follower answers 503 at some Poll, and applies nothing twice.
  stream_->SetAvailable(false);
  bool refused = false;
  for (int i = 0; i < 5 && !refused; ++i) {
    auto polled = follower->Poll(absl::ZeroDuration());
    if (!polled.ok()) {
      EXPECT_TRUE(absl::IsUnavailable(polled.status())) << polled.status();
      refused = true;
    }
  }
  EXPECT_TRUE(refused);
  stream_->SetAvailable(true);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
  ASSERT_FALSE(seen.empty());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], resumed_at + 1 + i);
  EXPECT_EQ(seen.back(), store->last_sequence());
  EXPECT_TRUE(follower->last_error().ok());
}

// The follower's own disk fills in the middle of an entry (503: the events
// before stay applied): what it read ahead meanwhile starts after its
// position, and is not used; once there is room it resumes exactly there.
TEST_F(ChangelogTest, AFollowerWhoseDiskFillsResumesAtItsPosition) {
  auto store = OpenStore("/leader");
  ChangelogOptions options;
  options.max_batch_events = 2;
  auto leader = Lead(store.get(), options);
  // More than the follower's two journal segments hold (the current one and
  // the spare, each a few record bounds: about 270 KiB).
  for (int i = 0; i < 400; ++i) {
    CreateUserRequest create;
    create.identity = absl::StrCat("d", i);
    create.attributes = absl::StrCat("\"", std::string(2000, 'x'), "\"");
    ASSERT_TRUE(store->CreateUser(store->default_conversation_service_sid(), create).ok());
  }
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  const uint64_t start = follower->store().last_sequence();
  std::vector<uint64_t> seen;
  follower->store().Subscribe([&](const ChangeEvent& e) { seen.push_back(e.sequence); });
  // No new journal segment can be made: the follower's journal fills.
  env_->FailAfter(FaultInjectionEnv::Op::kNewMappedFile, 1, absl::StatusCode::kResourceExhausted);
  absl::Status full;
  for (int i = 0; i < 1000 && full.ok(); ++i) full = follower->Poll(absl::ZeroDuration()).status();
  ASSERT_TRUE(absl::IsUnavailable(full)) << full;
  const uint64_t stuck_at = follower->store().last_sequence();
  EXPECT_GT(stuck_at, start);
  EXPECT_LT(stuck_at, store->last_sequence());
  EXPECT_TRUE(absl::IsUnavailable(follower->Poll(absl::ZeroDuration()).status()));
  env_->ClearFailures();
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
  ASSERT_EQ(seen.size(), store->last_sequence() - start);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], start + 1 + i);
  EXPECT_TRUE(follower->last_error().ok());
}

TEST_F(ChangelogTest, AMalformedEntryStopsTheFollowerBeforeItApplies) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  Work(store.get(), "m", 5);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  const uint64_t at = follower->store().last_sequence();
  const std::string state = Fingerprint(follower->store());
  stream_->Inject(ChangelogLog::EntryId(at + 1, 99), "not a batch");
  auto polled = follower->Poll(absl::ZeroDuration());
  ASSERT_FALSE(polled.ok());
  EXPECT_TRUE(absl::IsDataLoss(polled.status())) << polled.status();
  EXPECT_TRUE(absl::StrContains(polled.status().message(), ChangelogLog::EntryId(at + 1, 99)))
      << polled.status();
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), state));
  EXPECT_TRUE(absl::IsDataLoss(follower->Poll(absl::ZeroDuration()).status()));
  EXPECT_TRUE(absl::IsDataLoss(follower->last_error()));
}

TEST_F(ChangelogTest, AGapStopsTheFollower) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  const uint64_t at = follower->store().last_sequence();
  // A well-formed batch that skips one sequence.
  ChangelogBatch batch;
  batch.epoch = leader->stats().epoch;
  ChangeEvent event = store->Snapshot().events.front();  // the default service
  event.op = ChangeEvent::Op::kDelete;
  event.sequence = at + 2;
  batch.events.push_back(event);
  std::string data;
  ASSERT_TRUE(EncodeChangelogBatch(batch, &data).ok());
  stream_->Inject(ChangelogLog::EntryId(at + 2, batch.epoch), data);
  auto polled = follower->Poll(absl::ZeroDuration());
  ASSERT_FALSE(polled.ok());
  EXPECT_TRUE(absl::StrContains(polled.status().message(), "gap")) << polled.status();
  EXPECT_EQ(follower->store().last_sequence(), at);
}

// A changelog batch of `epoch` holding `events` (each encoded, as they are).
std::string BatchOf(uint64_t epoch, const std::vector<std::string>& events) {
  std::string entries;
  for (const std::string& e : events) internal::batch_framing::AppendEntry(e, &entries);
  std::string batch;
  internal::batch_framing::FrameBatch({epoch, 0, 0}, static_cast<uint32_t>(events.size()), entries,
                                      &batch);
  return batch;
}

// The encoding of a create of a user like `like` with SID US<fill*32> and
// identity `identity`, numbered `sequence`.
std::string CreateOf(const User& like, char fill, const std::string& identity, uint64_t sequence) {
  ChangeEvent e;
  e.entity = ChangeEvent::Entity::kUser;
  e.op = ChangeEvent::Op::kCreate;
  e.sequence = sequence;
  e.user = like;
  e.user->sid = "US" + std::string(32, fill);
  e.user->identity = identity;
  std::string out;
  EXPECT_TRUE(EncodeChangeEvent(e, &out).ok());
  return out;
}

// Records the sequences a store's feed delivers.
struct FeedSequences {
  std::mutex mu;
  std::vector<uint64_t> seen;
  ChangeListener Listener() {
    return [this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(e.sequence);
    };
  }
  std::vector<uint64_t> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  }
};

TEST_F(ChangelogTest, AnEntryIsCheckedWholeBeforeAnythingOfItApplies) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  Work(store.get(), "w", 3);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  const uint64_t at = follower->store().last_sequence();
  const std::string state = Fingerprint(follower->store());
  const User like = *store->GetUser(store->default_conversation_service_sid(), "w1");
  // Framing and checksum good; the last event cut short (its header whole).
  std::string cut = CreateOf(like, '3', "c", at + 3);
  cut.pop_back();
  const uint64_t epoch = leader->stats().epoch;
  stream_->Inject(
      ChangelogLog::EntryId(at + 3, epoch),
      BatchOf(epoch, {CreateOf(like, '1', "a", at + 1), CreateOf(like, '2', "b", at + 2), cut}));
  auto polled = follower->Poll(absl::ZeroDuration());
  ASSERT_FALSE(polled.ok());
  EXPECT_TRUE(absl::IsDataLoss(polled.status())) << polled.status();
  EXPECT_TRUE(absl::StrContains(polled.status().message(), ChangelogLog::EntryId(at + 3, epoch)))
      << polled.status();
  EXPECT_TRUE(absl::StrContains(polled.status().message(), "event 2: cannot decode event"))
      << polled.status();
  EXPECT_EQ(follower->store().last_sequence(), at);
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), state));
}

TEST_F(ChangelogTest, AnEventThatDoesNotApplyStopsTheFollowerAfterThoseBeforeIt) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  Work(store.get(), "w", 3);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  auto follower = Follow("/f");
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
  const uint64_t at = follower->store().last_sequence();
  FeedSequences feed;
  follower->store().Subscribe(feed.Listener());
  const User like = *store->GetUser(store->default_conversation_service_sid(), "w1");
  const uint64_t epoch = leader->stats().epoch;
  // The second create takes the first's identity: 409.
  stream_->Inject(
      ChangelogLog::EntryId(at + 2, epoch),
      BatchOf(epoch, {CreateOf(like, '1', "a", at + 1), CreateOf(like, '2', "a", at + 2)}));
  auto polled = follower->Poll(absl::ZeroDuration());
  ASSERT_FALSE(polled.ok());
  EXPECT_TRUE(absl::IsDataLoss(polled.status())) << polled.status();
  EXPECT_TRUE(absl::StrContains(polled.status().message(),
                                absl::StrCat("event ", at + 2, " does not apply")))
      << polled.status();
  EXPECT_EQ(follower->store().last_sequence(), at + 1);
  EXPECT_TRUE(follower->store().GetUser(like.service_sid, "a").ok());
  EXPECT_EQ(feed.Get(), std::vector<uint64_t>{at + 1});
}

TEST_F(ChangelogTest, AnEntryStraddlingThePositionAppliesWhatFollowsIt) {
  auto store = OpenStore("/leader");
  auto leader = Lead(store.get());
  Work(store.get(), "w", 3);
  ASSERT_TRUE(leader->Flush(absl::Seconds(10)).ok());
  const User like = *store->GetUser(store->default_conversation_service_sid(), "w1");
  const uint64_t epoch = leader->stats().epoch;
  // (The second follower catches up through the first one's entry.)
  for (const bool skipped_is_malformed : {false, true}) {
    SCOPED_TRACE(skipped_is_malformed);
    auto follower = Follow(skipped_is_malformed ? "/f2" : "/f1");
    ASSERT_NE(follower, nullptr);
    ASSERT_TRUE(follower->CatchUp(absl::Seconds(10)).ok());
    const uint64_t at = follower->store().last_sequence();
    FeedSequences feed;
    follower->store().Subscribe(feed.Listener());
    // Its first event, at the follower's position, was applied before: it is
    // skipped, but a bad entry is not applied at all.
    std::string skipped = CreateOf(like, '0', "z", at);
    if (skipped_is_malformed) skipped += "x";
    const char fill = skipped_is_malformed ? '2' : '1';
    stream_->Inject(ChangelogLog::EntryId(at + 1, epoch),
                    BatchOf(epoch, {skipped, CreateOf(like, fill, std::string(3, fill), at + 1)}));
    auto polled = follower->Poll(absl::ZeroDuration());
    if (skipped_is_malformed) {
      ASSERT_FALSE(polled.ok());
      EXPECT_TRUE(absl::IsDataLoss(polled.status())) << polled.status();
      EXPECT_EQ(follower->store().last_sequence(), at);
      EXPECT_TRUE(feed.Get().empty());
    } else {
      ASSERT_TRUE(polled.ok()) << polled.status();
      EXPECT_EQ(*polled, 1u);
      EXPECT_EQ(follower->store().last_sequence(), at + 1);
      EXPECT_TRUE(follower->store().GetUser(like.service_sid, "111").ok());
      EXPECT_FALSE(follower->store().GetUser(like.service_sid, "z").ok());
      EXPECT_EQ(feed.Get(), std::vector<uint64_t>{at + 1});
    }
  }
}

}  // namespace
}  // namespace userstore
