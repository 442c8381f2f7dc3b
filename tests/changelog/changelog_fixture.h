// The fixture of the changelog's leader and follower tests
// (changelog_leader_test.cc, changelog_follower_test.cc): durable stores on a
// simulated disk (kNoSync, strict recovery), leaders and followers over one
// in-memory stream (memory_log.h), and the checks both files share.

#ifndef USERSTORE_TESTS_CHANGELOG_CHANGELOG_FIXTURE_H_
#define USERSTORE_TESTS_CHANGELOG_CHANGELOG_FIXTURE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/changelog/memory_log.h"
#include "tests/durable/durable_testing.h"

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/replication.h"
#include "userstore/user_store.h"

namespace userstore {
namespace changelog_testing {

// `entries`' batches hold `events` events, at most `max_batch` each, with
// consecutive sequences ending at `last_sequence`: each event once.
inline void ExpectEntriesHoldEventsOnceInOrder(const std::vector<ChangelogLog::Entry>& entries,
                                               uint64_t last_sequence, uint64_t events,
                                               size_t max_batch) {
  uint64_t next = 0;
  uint64_t seen = 0;
  for (const auto& entry : entries) {
    auto batch = DecodeChangelogBatch(entry.data);
    ASSERT_TRUE(batch.ok()) << entry.id << ": " << batch.status();
    EXPECT_LE(batch->events.size(), max_batch);
    for (const ChangeEvent& e : batch->events) {
      if (next != 0) {
        ASSERT_EQ(e.sequence, next) << "entry " << entry.id;
      }
      next = e.sequence + 1;
      ++seen;
    }
  }
  EXPECT_EQ(next, last_sequence + 1);
  EXPECT_EQ(seen, events);
}

class ChangelogTest : public ::testing::Test {
 protected:
  DurableOptions Options() const {
    DurableOptions options =
        durable_testing::SimulatedDiskOptions(env_.get(), RecoveryMode::kStrict);
    options.durability = Durability::kNoSync;
    return options;
  }

  std::unique_ptr<UserStore> OpenStore(const std::string& dir) {
    auto store = OpenUserStore(dir, Options());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<ChangelogLog> Log() { return std::make_unique<MemoryLog>(stream_); }

  std::unique_ptr<ChangelogLeader> Lead(UserStore* store, ChangelogOptions options = {}) {
    options.env = env_.get();
    auto leader = ChangelogLeader::Start(store, Log(), options);
    EXPECT_TRUE(leader.ok()) << leader.status();
    return leader.ok() ? std::move(*leader) : nullptr;
  }

  std::unique_ptr<ChangelogFollower> Follow(const std::string& dir) {
    auto follower = ChangelogFollower::Open(dir, Options(), Log());
    EXPECT_TRUE(follower.ok()) << follower.status();
    return follower.ok() ? std::move(*follower) : nullptr;
  }

  // Writes `n` users' worth of creates, updates and deletes.
  static void Work(UserStore* store, const std::string& prefix, int n) {
    const std::string service = store->default_conversation_service_sid();
    for (int i = 0; i < n; ++i) {
      CreateUserRequest create;
      create.identity = absl::StrCat(prefix, i);
      auto user = store->CreateUser(service, create);
      ASSERT_TRUE(user.ok()) << user.status();
      if (i % 3 == 0) {
        UpdateUserRequest update;
        update.friendly_name = absl::StrCat("name ", i);
        ASSERT_TRUE(store->UpdateUser(service, user->sid, update).ok());
      }
      if (i % 5 == 0) {
        ASSERT_TRUE(store->DeleteUser(service, user->sid).ok());
      }
    }
  }

  // The stream's batches hold `events` events, at most `max_batch` each,
  // with consecutive sequences ending at `last_sequence`: each event once.
  void ExpectEventsOnceInOrder(uint64_t last_sequence, uint64_t events, size_t max_batch) {
    ExpectEntriesHoldEventsOnceInOrder(stream_->Entries(), last_sequence, events, max_batch);
  }

  std::unique_ptr<FaultInjectionEnv> env_ = NewFaultInjectionEnv();
  std::shared_ptr<MemoryStream> stream_ = std::make_shared<MemoryStream>();
};

}  // namespace changelog_testing
}  // namespace userstore

#endif  // USERSTORE_TESTS_CHANGELOG_CHANGELOG_FIXTURE_H_
