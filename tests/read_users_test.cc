// UserStore::ReadUsers(): for every entry that names a user of the service it
// calls back once, in index order, with exactly the view ReadUser() gives;
// it skips every entry ReadUser() refuses; a service error calls back
// nothing; groups of 16 and the locks they take are invisible to the caller,
// under concurrent writers too.

#include <atomic>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/resources.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using userstore_testing::IsError;
using userstore_testing::IsOk;
using userstore_testing::SameUser;

class ReadUsersTest : public userstore_testing::StoreTest {
 protected:
  // ReadUsers over `users`: the (index, user) pairs it called back with, in
  // call order; its status in `status`.
  std::vector<std::pair<size_t, User>> ReadAll(const std::vector<std::string>& users,
                                               absl::Status* status, std::string service = "") {
    if (service.empty()) service = service_;
    std::vector<absl::string_view> views(users.begin(), users.end());
    std::vector<std::pair<size_t, User>> out;
    *status = store_->ReadUsers(
        service, views, [&](size_t i, const UserView& v) { out.emplace_back(i, v.ToUser()); });
    return out;
  }

  // What ReadUsers must give for `users`: ReadUser's view of every entry it
  // finds, by index.
  std::vector<std::pair<size_t, User>> OneByOne(const std::vector<std::string>& users) {
    std::vector<std::pair<size_t, User>> out;
    for (size_t i = 0; i < users.size(); ++i) {
      (void)store_->ReadUser(service_, users[i],
                             [&](const UserView& v) { out.emplace_back(i, v.ToUser()); });
    }
    return out;
  }

  static void ExpectSame(const std::vector<std::pair<size_t, User>>& got,
                         const std::vector<std::pair<size_t, User>>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].first, want[k].first) << k;
      EXPECT_TRUE(SameUser(got[k].second, want[k].second)) << k;
    }
  }
};

TEST_F(ReadUsersTest, GivesReadUsersViewForEveryEntryItFindsInIndexOrder) {
  // Across three groups of 16, by SID and by identity, with presence set on
  // some (the fetch's presence rule applies as ReadUser applies it).
  UpdateServiceRequest reach;
  reach.reachability_enabled = true;
  ASSERT_THAT(store_->UpdateService(service_, reach), IsOk());
  std::vector<std::string> users;
  for (int i = 0; i < 40; ++i) {
    CreateUserRequest request = WithIdentity(absl::StrCat("player", i));
    request.attributes = absl::StrCat(R"({"seat":)", i, "}");
    if (i % 3 == 0) request.friendly_name = absl::StrCat("P", i);
    const User user = *store_->CreateUser(service_, request);
    if (i % 4 == 0) {
      PresenceUpdate online;
      online.is_online = true;
      ASSERT_THAT(store_->SetPresence(service_, user.sid, online), IsOk());
    }
    users.push_back(i % 2 == 0 ? user.sid : *request.identity);
  }
  absl::Status status;
  const auto got = ReadAll(users, &status);
  ASSERT_THAT(status, IsOk());
  ASSERT_EQ(got.size(), users.size());
  for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(got[k].first, k);
  ExpectSame(got, OneByOne(users));
}

TEST_F(ReadUsersTest, SkipsEveryEntryReadUserRefuses) {
  const User alice = MustCreate("alice");
  const User bob = MustCreate("bob");
  const auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  const User elsewhere = MustCreate("carol", other->sid);
  const User gone = MustCreate("gone");
  ASSERT_THAT(store_->DeleteUser(service_, gone.sid), IsOk());
  std::string upper = alice.sid;
  upper.replace(2, 1, "F");  // SID-shaped, an upper-case digit: names no user
  const std::vector<std::string> users = {
      "nobody",
      alice.sid,
      "US00000000000000000000000000000000",
      upper,
      elsewhere.sid,  // a user of another service
      "carol",        // an identity of another service
      gone.sid,
      "gone",
      std::string("bad\xff", 4),
      std::string("nul\0", 4),
      "",
      "bob",
      alice.sid,  // twice: called back twice
  };
  for (const std::string& user : users) {
    if (user == alice.sid || user == "bob") continue;
    EXPECT_FALSE(store_->GetUser(service_, user).ok()) << user;  // each refused by itself
  }
  absl::Status status;
  const auto got = ReadAll(users, &status);
  ASSERT_THAT(status, IsOk());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, 1u);
  EXPECT_TRUE(SameUser(got[0].second, alice));
  EXPECT_EQ(got[1].first, 11u);
  EXPECT_TRUE(SameUser(got[1].second, bob));
  EXPECT_EQ(got[2].first, 12u);
  EXPECT_TRUE(SameUser(got[2].second, alice));
}

TEST_F(ReadUsersTest, ServiceErrorsAreReadUsersErrorsAndNothingIsCalledBack) {
  const User alice = MustCreate("alice");
  const std::vector<std::string> users = {alice.sid, "alice"};
  for (const std::string& service :
       {std::string("IS00000000000000000000000000000000"), std::string("not a service"),
        std::string("IS") + std::string(alice.sid.substr(2)), std::string("bad\xff", 4)}) {
    SCOPED_TRACE(service);
    absl::Status status;
    const auto got = ReadAll(users, &status, service);
    EXPECT_TRUE(got.empty());
    absl::Status single = store_->ReadUser(service, "alice", [](const UserView&) {});
    ASSERT_FALSE(single.ok());
    EXPECT_EQ(status, single);
  }
  absl::Status status;
  EXPECT_TRUE(ReadAll({}, &status).empty());  // nothing asked: OK, nothing called
  EXPECT_THAT(status, IsOk());
}

TEST_F(ReadUsersTest, AThrowingReaderPropagatesAndReleasesTheLocks) {
  std::vector<std::string> users;
  for (int i = 0; i < 20; ++i) users.push_back(MustCreate(absl::StrCat("u", i)).sid);
  std::vector<absl::string_view> views(users.begin(), users.end());
  int calls = 0;
  EXPECT_THROW((void)store_->ReadUsers(service_, views,
                                       [&](size_t i, const UserView&) {
                                         ++calls;
                                         if (i == 17) throw std::runtime_error("reader");
                                       }),
               std::runtime_error);
  EXPECT_EQ(calls, 18);
  // Writers need every lock the reader held: the service's and the shards'.
  for (const std::string& sid : users) EXPECT_THAT(store_->DeleteUser(service_, sid), IsOk());
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

// Writers create, update and delete users in this service and in another
// (whose users share the table shards) while readers read batches: every view
// a reader gets is a whole user (its attributes name its identity), and a
// user that was never deleted is always found.
TEST_F(ReadUsersTest, ReadersSeeWholeUsersUnderConcurrentWriters) {
  const auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  constexpr int kStable = 64;
  std::vector<std::string> stable;
  for (int i = 0; i < kStable; ++i) {
    CreateUserRequest request = WithIdentity(absl::StrCat("stable", i));
    request.attributes = absl::StrCat(R"({"who":"stable)", i, R"("})");
    stable.push_back(store_->CreateUser(service_, request)->sid);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      const std::string& service = w == 0 ? service_ : other->sid;
      for (int round = 0; !stop.load(); ++round) {
        const std::string identity = absl::StrCat("churn", round % 50);
        CreateUserRequest request = WithIdentity(identity);
        request.attributes = absl::StrCat(R"({"who":")", identity, R"("})");
        (void)store_->CreateUser(service, request);
        UpdateUserRequest update;
        update.attributes = absl::StrCat(R"({"who":")", identity, R"(","round":)", round, "}");
        (void)store_->UpdateUser(service, identity, update);
        if (round % 3 == 0) (void)store_->DeleteUser(service, identity);
      }
    });
  }
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      std::vector<std::string> users = stable;
      for (int i = 0; i < 50; ++i) users.push_back(absl::StrCat("churn", i));
      std::vector<absl::string_view> views(users.begin(), users.end());
      for (int pass = 0; pass < 200; ++pass) {
        int stable_found = 0;
        const absl::Status s = store_->ReadUsers(service_, views, [&](size_t i, const UserView& v) {
          const std::string who = absl::StrCat(R"({"who":")", v.identity, "\"");
          if (v.attributes.substr(0, who.size()) != who) failures.fetch_add(1);
          if (i < kStable) {
            ++stable_found;
            if (v.sid != stable[i]) failures.fetch_add(1);
          } else if (v.identity != users[i]) {
            failures.fetch_add(1);
          }
        });
        if (!s.ok() || stable_found != kStable) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : readers) t.join();
  stop.store(true);
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace userstore
