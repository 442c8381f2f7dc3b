// UserStore::SetJournalTap (user_store.h, replication.h): every event a
// durable store journals reaches the tap, once, in order, as its encoding.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/events.h"
#include "userstore/replication.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using durable_testing::TempDir;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using userstore_testing::IsError;
using userstore_testing::IsOk;

// Keeps what it is given.
class RecordingTap : public JournalTap {
 public:
  void OnJournaled(uint64_t sequence, absl::string_view encoded) noexcept override {
    absl::MutexLock lock(&mu_);
    sequences_.push_back(sequence);
    events_.emplace_back(encoded);
  }
  std::vector<uint64_t> sequences() const {
    absl::MutexLock lock(&mu_);
    return sequences_;
  }
  std::vector<std::string> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> sequences_;
  std::vector<std::string> events_;
};

class JournalTapTest : public ::testing::Test {
 protected:
  std::unique_ptr<UserStore> Open(DurableOptions options = {}) {
    options.store.seed = 11;
    options.checkpoint_writer = DurableOptions::CheckpointWriter::kInProcess;
    auto store = OpenUserStore(dir_.path() + "/store", options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static absl::Status Create(UserStore* store, const std::string& identity) {
    CreateUserRequest request;
    request.identity = identity;
    request.attributes = absl::StrCat("{\"n\":\"", identity, "\"}");
    return store->CreateUser(store->default_conversation_service_sid(), request).status();
  }

  TempDir dir_;
};

TEST_F(JournalTapTest, AnInMemoryStoreHasNoJournalToTap) {
  UserStore store;
  RecordingTap tap;
  EXPECT_THAT(store.SetJournalTap(&tap).status(), IsError(400, ErrorCode::kInvalidParameter));
  ASSERT_THAT(Create(&store, "alice"), IsOk());
  EXPECT_THAT(tap.sequences(), IsEmpty());
}

TEST_F(JournalTapTest, TheTapGetsEveryLaterEventOnceInOrderAsTheFeedSeesIt) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(Create(store.get(), "before"), IsOk());
  std::vector<ChangeEvent> feed;
  store->Subscribe([&](const ChangeEvent& event) { feed.push_back(event); });

  RecordingTap tap;
  auto before = store->SetJournalTap(&tap);
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(*before, store->last_sequence());  // nothing after it was tapped yet
  EXPECT_THAT(tap.sequences(), IsEmpty());

  // Users, a service and a role: every kind of event the journal holds.
  ASSERT_THAT(Create(store.get(), "alice"), IsOk());
  ASSERT_THAT(Create(store.get(), "bob"), IsOk());
  UpdateUserRequest update;
  update.friendly_name = "Bob";
  ASSERT_THAT(store->UpdateUser(store->default_conversation_service_sid(), "bob", update), IsOk());
  ASSERT_THAT(store->DeleteUser(store->default_conversation_service_sid(), "alice"), IsOk());
  CreateServiceRequest service;
  service.friendly_name = "games";
  ASSERT_THAT(store->CreateService(service), IsOk());

  ASSERT_EQ(tap.sequences().size(), feed.size());
  std::vector<uint64_t> expected;
  for (uint64_t s = *before + 1; s <= store->last_sequence(); ++s) expected.push_back(s);
  EXPECT_THAT(tap.sequences(), ElementsAreArray(expected));
  const std::vector<std::string> events = tap.events();
  for (size_t i = 0; i < events.size(); ++i) {
    auto decoded = DecodeChangeEvent(events[i]);
    ASSERT_THAT(decoded, IsOk()) << i;
    EXPECT_EQ(decoded->sequence, feed[i].sequence) << i;
    EXPECT_EQ(decoded->entity, feed[i].entity) << i;
    EXPECT_EQ(decoded->op, feed[i].op) << i;
    if (feed[i].user.has_value()) {
      ASSERT_TRUE(decoded->user.has_value()) << i;
      EXPECT_EQ(decoded->user->sid, feed[i].user->sid) << i;
      EXPECT_EQ(decoded->user->identity, feed[i].user->identity) << i;
      EXPECT_EQ(decoded->user->friendly_name, feed[i].user->friendly_name) << i;
      EXPECT_EQ(decoded->user->attributes, feed[i].user->attributes) << i;
      EXPECT_EQ(decoded->user->date_updated, feed[i].user->date_updated) << i;
    }
    if (feed[i].service.has_value()) {
      ASSERT_TRUE(decoded->service.has_value()) << i;
      EXPECT_EQ(decoded->service->sid, feed[i].service->sid) << i;
    }
  }
}

TEST_F(JournalTapTest, AFailedWriteReachesNoTapAndUnsettingStopsTheCalls) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RecordingTap tap;
  ASSERT_THAT(store->SetJournalTap(&tap), IsOk());
  ASSERT_THAT(Create(store.get(), "alice"), IsOk());
  EXPECT_THAT(Create(store.get(), "alice"), IsError(409, ErrorCode::kUserAlreadyExists));
  EXPECT_EQ(tap.sequences().size(), 1u);

  auto unset = store->SetJournalTap(nullptr);
  ASSERT_THAT(unset, IsOk());
  EXPECT_EQ(*unset, store->last_sequence());
  ASSERT_THAT(Create(store.get(), "bob"), IsOk());
  EXPECT_EQ(tap.sequences().size(), 1u);
}

TEST_F(JournalTapTest, TheTapFollowsTheJournalAcrossSegmentsAndCheckpoints) {
  DurableOptions options;
  options.segment_bytes = 16 << 10;  // a new segment every hundred writes or so
  auto store = Open(options);
  ASSERT_NE(store, nullptr);
  RecordingTap tap;
  auto before = store->SetJournalTap(&tap);
  ASSERT_THAT(before, IsOk());
  for (int i = 0; i < 600; ++i) {
    ASSERT_THAT(Create(store.get(), absl::StrCat("user", i)), IsOk());
    if (i % 200 == 199) {
      ASSERT_THAT(store->Checkpoint(), IsOk());
    }
  }
  const std::vector<uint64_t> sequences = tap.sequences();
  ASSERT_EQ(sequences.size(), 600u);
  for (size_t i = 0; i < sequences.size(); ++i) EXPECT_EQ(sequences[i], *before + 1 + i);
  EXPECT_GT(store->durability_stats().checkpoints, 0u);
}

TEST_F(JournalTapTest, ConcurrentWritersReachTheTapInSequenceOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  RecordingTap tap;
  auto before = store->SetJournalTap(&tap);
  ASSERT_THAT(before, IsOk());
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        if (!Create(store.get(), absl::StrCat("w", t, "-", i)).ok()) ++failures;
      }
    });
  }
  for (std::thread& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const std::vector<uint64_t> sequences = tap.sequences();
  ASSERT_EQ(sequences.size(), 1000u);
  for (size_t i = 0; i < sequences.size(); ++i) EXPECT_EQ(sequences[i], *before + 1 + i);
  // Each event's bytes carry its own sequence.
  const std::vector<std::string> events = tap.events();
  for (size_t i = 0; i < events.size(); ++i) {
    auto decoded = DecodeChangeEvent(events[i]);
    ASSERT_THAT(decoded, IsOk());
    EXPECT_EQ(decoded->sequence, sequences[i]);
  }
}

}  // namespace
}  // namespace userstore
