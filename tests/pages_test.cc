// Tests of paging (SEMANTICS 5) through UserStore::ListUsers, ListRoles and
// ListServices: page sizes, clamping per surface, forward and backward walks,
// token stability under deletes and inserts, and token refusal.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using userstore_testing::HasMessage;
using userstore_testing::IsError;
using userstore_testing::IsOk;

class PagesTest : public userstore_testing::StoreTest {
 protected:
  // Creates users "u0".."u{n-1}" and returns their identities in order.
  std::vector<std::string> Populate(int n, std::string service = "") {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(absl::StrCat("u", i));
      MustCreate(out.back(), service);
    }
    return out;
  }

  static ListRequest Request(int64_t page_size, std::string token = "",
                             Surface surface = Surface::kCpp) {
    ListRequest request;
    request.page_size = page_size;
    request.page_token = std::move(token);
    request.surface = surface;
    return request;
  }

  UserPage MustList(const ListRequest& request, std::string service = "") {
    if (service.empty()) service = service_;
    auto page = store_->ListUsers(service, request);
    EXPECT_THAT(page, IsOk());
    return page.ok() ? *page : UserPage();
  }

  static std::vector<std::string> Identities(const UserPage& page) {
    std::vector<std::string> out;
    for (const User& u : page.items) out.push_back(u.identity);
    return out;
  }

  // Walks forward from the first page; returns every page.
  std::vector<UserPage> WalkForward(int64_t page_size, Surface surface = Surface::kCpp) {
    std::vector<UserPage> pages;
    pages.push_back(MustList(Request(page_size, "", surface)));
    while (!pages.back().next_page_token.empty() && pages.size() < 10000) {
      pages.push_back(MustList(Request(page_size, pages.back().next_page_token, surface)));
    }
    return pages;
  }
};

TEST_F(PagesTest, DefaultPageSizeIs50) {
  Populate(60);
  UserPage page = MustList(ListRequest());
  EXPECT_EQ(page.page_size, 50);
  EXPECT_EQ(page.items.size(), 50u);
}

TEST_F(PagesTest, PageSizeIsClampedPerSurface) {
  Populate(120);
  struct Case {
    Surface surface;
    int64_t max;
  };
  for (const Case& c : {Case{Surface::kCpp, 1000}, Case{Surface::kChatV2, 100},
                        Case{Surface::kChatV1, 1000}, Case{Surface::kConversations, 50}}) {
    UserPage page = MustList(Request(5000, "", c.surface));
    EXPECT_EQ(page.page_size, c.max);
    EXPECT_EQ(page.items.size(), static_cast<size_t>(std::min<int64_t>(c.max, 120)));
    UserPage huge = MustList(Request(INT64_MAX, "", c.surface));
    EXPECT_EQ(huge.page_size, c.max);
  }
}

TEST_F(PagesTest, PageSizeBelowOneIsRejected) {
  Populate(3);
  for (int64_t size : {int64_t{0}, int64_t{-1}, INT64_MIN}) {
    EXPECT_THAT(store_->ListUsers(service_, Request(size)),
                IsError(400, ErrorCode::kInvalidParameter));
    EXPECT_THAT(store_->ListRoles(service_, Request(size)),
                IsError(400, ErrorCode::kInvalidParameter));
    EXPECT_THAT(store_->ListServices(Request(size)), IsError(400, ErrorCode::kInvalidParameter));
  }
}

TEST_F(PagesTest, PageSizeOneIsAllowed) {
  Populate(2);
  UserPage page = MustList(Request(1));
  EXPECT_EQ(page.items.size(), 1u);
  EXPECT_FALSE(page.next_page_token.empty());
}

TEST_F(PagesTest, EmptyServiceGivesEmptyPageWithoutTokens) {
  UserPage page = MustList(ListRequest());
  EXPECT_THAT(page.items, IsEmpty());
  EXPECT_EQ(page.next_page_token, "");
  EXPECT_EQ(page.previous_page_token, "");
}

TEST_F(PagesTest, FirstPageHasNoPreviousToken) {
  Populate(10);
  UserPage page = MustList(Request(3));
  EXPECT_EQ(page.previous_page_token, "");
  EXPECT_THAT(page.next_page_token, StartsWith("PA"));
}

TEST_F(PagesTest, SecondPageHasBothTokens) {
  Populate(10);
  UserPage first = MustList(Request(3));
  UserPage second = MustList(Request(3, first.next_page_token));
  EXPECT_THAT(Identities(second), ElementsAreArray({"u3", "u4", "u5"}));
  EXPECT_THAT(second.previous_page_token, StartsWith("PB"));
  EXPECT_THAT(second.next_page_token, StartsWith("PA"));
  UserPage back = MustList(Request(3, second.previous_page_token));
  EXPECT_THAT(Identities(back), ElementsAreArray({"u0", "u1", "u2"}));
  EXPECT_EQ(back.previous_page_token, "");  // nothing precedes u0
  EXPECT_THAT(back.next_page_token, StartsWith("PA"));
}

TEST_F(PagesTest, NextIsEmptyWhenNothingFollows) {
  Populate(100);
  UserPage first = MustList(Request(50));
  ASSERT_FALSE(first.next_page_token.empty());
  UserPage second = MustList(Request(50, first.next_page_token));
  EXPECT_EQ(second.items.size(), 50u);
  EXPECT_EQ(second.next_page_token, "");
  EXPECT_FALSE(second.previous_page_token.empty());
}

TEST_F(PagesTest, WalksForwardAndBackOverManySizes) {
  int created = 0;
  std::vector<std::string> all;
  for (int n : {1, 2, 49, 50, 51, 99, 101, 1000}) {
    while (created < n) {
      all.push_back(absl::StrCat("u", created++));
      MustCreate(all.back());
    }
    for (int64_t size : {1, 7, 50, 1000}) {
      if (size == 1 && n > 101) continue;  // keep the test quick
      std::vector<UserPage> pages = WalkForward(size);
      std::vector<std::string> seen;
      for (const UserPage& p : pages) {
        for (const User& u : p.items) seen.push_back(u.identity);
      }
      ASSERT_EQ(seen, all) << "n=" << n << " size=" << size;
      EXPECT_EQ(pages.size(), static_cast<size_t>((n + size - 1) / size)) << n << "/" << size;
      // Walk back from the last page with its previous tokens.
      for (size_t i = pages.size() - 1; i > 0; --i) {
        ASSERT_FALSE(pages[i].previous_page_token.empty()) << n << "/" << size << "/" << i;
        UserPage back = MustList(Request(size, pages[i].previous_page_token));
        EXPECT_EQ(Identities(back), Identities(pages[i - 1])) << n << "/" << size << "/" << i;
      }
      EXPECT_EQ(pages[0].previous_page_token, "");
      EXPECT_EQ(pages.back().next_page_token, "");
    }
  }
}

TEST_F(PagesTest, TokenStaysValidWhenItsAnchorIsDeleted) {
  Populate(10);
  UserPage first = MustList(Request(3));
  // The forward anchor is u2, the last item of the page.
  ASSERT_THAT(store_->DeleteUser(service_, "u2"), IsOk());
  ASSERT_THAT(store_->DeleteUser(service_, "u3"), IsOk());
  UserPage second = MustList(Request(3, first.next_page_token));
  EXPECT_THAT(Identities(second), ElementsAreArray({"u4", "u5", "u6"}));
}

TEST_F(PagesTest, BackwardTokenStaysValidWhenItsAnchorIsDeleted) {
  Populate(10);
  UserPage first = MustList(Request(3));
  UserPage second = MustList(Request(3, first.next_page_token));
  ASSERT_THAT(store_->DeleteUser(service_, "u3"), IsOk());  // the PB anchor
  ASSERT_THAT(store_->DeleteUser(service_, "u1"), IsOk());
  UserPage back = MustList(Request(3, second.previous_page_token));
  EXPECT_THAT(Identities(back), ElementsAreArray({"u0", "u2"}));
  EXPECT_EQ(back.previous_page_token, "");
}

TEST_F(PagesTest, UsersCreatedLaterAppearAtTheEnd) {
  Populate(4);
  UserPage first = MustList(Request(3));
  MustCreate("late1");
  MustCreate("late2");
  UserPage second = MustList(Request(3, first.next_page_token));
  EXPECT_THAT(Identities(second), ElementsAreArray({"u3", "late1", "late2"}));
  EXPECT_EQ(second.next_page_token, "");
}

TEST_F(PagesTest, LastPageTokenSeesUsersCreatedAfterIt) {
  Populate(3);
  UserPage first = MustList(Request(2));
  UserPage second = MustList(Request(2, first.next_page_token));
  EXPECT_EQ(second.next_page_token, "");
  MustCreate("late");
  // A token minted for the same page keeps working and now finds "late".
  UserPage again = MustList(Request(1, first.next_page_token));
  EXPECT_THAT(Identities(again), ElementsAreArray({"u2"}));
  UserPage more = MustList(Request(5, again.next_page_token));
  EXPECT_THAT(Identities(more), ElementsAreArray({"late"}));
}

TEST_F(PagesTest, EmptyPageAfterEverythingDeletedKeepsItsPlace) {
  Populate(6);
  UserPage first = MustList(Request(3));
  for (const char* id : {"u3", "u4", "u5"}) ASSERT_THAT(store_->DeleteUser(service_, id), IsOk());
  UserPage second = MustList(Request(3, first.next_page_token));
  EXPECT_THAT(second.items, IsEmpty());
  EXPECT_EQ(second.next_page_token, "");
  ASSERT_THAT(second.previous_page_token, StartsWith("PB"));
  UserPage back = MustList(Request(3, second.previous_page_token));
  EXPECT_THAT(Identities(back), ElementsAreArray({"u0", "u1", "u2"}));
}

TEST_F(PagesTest, TokenWorksWithAnotherPageSize) {
  Populate(10);
  UserPage first = MustList(Request(2));
  UserPage second = MustList(Request(5, first.next_page_token));
  EXPECT_THAT(Identities(second), ElementsAreArray({"u2", "u3", "u4", "u5", "u6"}));
}

TEST_F(PagesTest, TokenOfAnotherServiceIsRejected) {
  auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  Populate(5);
  Populate(5, other->sid);
  UserPage mine = MustList(Request(2));
  auto page = store_->ListUsers(other->sid, Request(2, mine.next_page_token));
  EXPECT_THAT(page, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(page, HasMessage("Invalid PageToken"));
}

TEST_F(PagesTest, TokenOfAnotherSurfaceIsRejected) {
  Populate(5);
  UserPage chat = MustList(Request(2, "", Surface::kChatV2));
  EXPECT_THAT(store_->ListUsers(service_, Request(2, chat.next_page_token, Surface::kChatV1)),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(
      store_->ListUsers(service_, Request(2, chat.next_page_token, Surface::kConversations)),
      IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->ListUsers(service_, Request(2, chat.next_page_token, Surface::kCpp)),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->ListUsers(service_, Request(2, chat.next_page_token, Surface::kChatV2)),
              IsOk());
}

TEST_F(PagesTest, TokenOfAnotherCollectionIsRejected) {
  Populate(5);
  auto roles = store_->ListRoles(service_, Request(1));
  ASSERT_THAT(roles, IsOk());
  ASSERT_FALSE(roles->next_page_token.empty());
  EXPECT_THAT(store_->ListUsers(service_, Request(1, roles->next_page_token)),
              IsError(400, ErrorCode::kInvalidParameter));
  UserPage users = MustList(Request(1));
  EXPECT_THAT(store_->ListRoles(service_, Request(1, users.next_page_token)),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->ListServices(Request(1, users.next_page_token)),
              IsError(400, ErrorCode::kInvalidParameter));
}

TEST_F(PagesTest, ForgedAndTruncatedTokensAreRejected) {
  Populate(5);
  const std::string good = MustList(Request(2)).next_page_token;
  ASSERT_GT(good.size(), 4u);
  std::vector<std::string> bad = {"x",
                                  "PA",
                                  "PB",
                                  "PAAAAA",
                                  "PA!!!!",
                                  good.substr(0, good.size() - 1),
                                  good + "A",
                                  "PB" + good.substr(2),
                                  std::string(200, 'A'),
                                  "PA\xFF\xFE",
                                  std::string("PA\0", 3)};
  for (size_t i = 2; i < good.size(); ++i) {
    std::string flipped = good;
    flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
    bad.push_back(flipped);
  }
  for (const std::string& token : bad) {
    EXPECT_THAT(store_->ListUsers(service_, Request(2, token)),
                IsError(400, ErrorCode::kInvalidParameter))
        << token;
  }
}

TEST_F(PagesTest, TokenOfAnotherStoreIsRejected) {
  Populate(5);
  const std::string token = MustList(Request(2)).next_page_token;
  userstore::StoreOptions options;
  options.seed = 1234;
  Reset(options);
  Populate(5);
  EXPECT_THAT(store_->ListUsers(service_, Request(2, token)),
              IsError(400, ErrorCode::kInvalidParameter));
}

TEST_F(PagesTest, TokensAreDeterministicUnderASeed) {
  Populate(5);
  const std::string first = MustList(Request(2)).next_page_token;
  Reset();
  Populate(5);
  EXPECT_EQ(MustList(Request(2)).next_page_token, first);
}

TEST_F(PagesTest, ListOfUnknownServiceIs404) {
  EXPECT_THAT(store_->ListUsers("IS" + std::string(32, 'a'), ListRequest()),
              IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->ListRoles("nope", ListRequest()), IsError(404, ErrorCode::kNotFound));
}

TEST_F(PagesTest, TokenOfDeletedServiceIs404) {
  auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  Populate(5, other->sid);
  const std::string token = MustList(Request(2), other->sid).next_page_token;
  ASSERT_THAT(store_->DeleteService(other->sid), IsOk());
  EXPECT_THAT(store_->ListUsers(other->sid, Request(2, token)), IsError(404, ErrorCode::kNotFound));
}

TEST_F(PagesTest, ListedUsersMatchFetchedUsersExceptPresence) {
  CreateUserRequest request = WithIdentity("alice");
  request.friendly_name = "A";
  request.attributes = "[7]";
  auto alice = store_->CreateUser(service_, request);
  ASSERT_THAT(alice, IsOk());
  UserPage page = MustList(ListRequest());
  ASSERT_EQ(page.items.size(), 1u);
  const User& listed = page.items[0];
  EXPECT_EQ(listed.sid, alice->sid);
  EXPECT_EQ(listed.friendly_name, alice->friendly_name);
  EXPECT_EQ(listed.attributes, "[7]");
  EXPECT_EQ(listed.role_sid, alice->role_sid);
  EXPECT_EQ(listed.date_created, alice->date_created);
}

// Deletes and re-creates scatter the records in memory (freed blocks are
// reused), while the order index keeps creation order: every page of a walk,
// forward and back, at sizes around the walk's prefetch distance, is the
// reference order's slice, and every listed user is the one a fetch returns.
TEST_F(PagesTest, ChurnedStoreListsInCreationOrder) {
  std::vector<std::string> order = Populate(400);
  uint64_t x = 12345;
  int next = 400;
  for (int round = 0; round < 600; ++round) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t victim = static_cast<size_t>((x >> 33) % order.size());
    ASSERT_THAT(store_->DeleteUser(service_, order[victim]), IsOk());
    order.erase(order.begin() + static_cast<std::ptrdiff_t>(victim));
    if (round % 3 != 0) {
      order.push_back(absl::StrCat("u", next++));
      MustCreate(order.back());
    }
  }
  ASSERT_THAT(store_->CheckInvariants(), IsOk());
  for (int64_t size : {1, 7, 8, 9, 50}) {
    std::vector<UserPage> pages = WalkForward(size);
    std::vector<std::string> seen;
    for (const UserPage& p : pages) {
      for (const User& u : p.items) {
        seen.push_back(u.identity);
        auto fetched = store_->GetUser(service_, u.sid);
        ASSERT_THAT(fetched, IsOk());
        EXPECT_EQ(fetched->identity, u.identity);
        EXPECT_EQ(fetched->attributes, u.attributes);
        EXPECT_EQ(fetched->date_created, u.date_created);
      }
    }
    ASSERT_EQ(seen, order) << "size=" << size;
    for (size_t i = pages.size() - 1; i > 0; --i) {
      UserPage back = MustList(Request(size, pages[i].previous_page_token));
      ASSERT_EQ(Identities(back), Identities(pages[i - 1])) << size << "/" << i;
    }
    // The zero-copy walk visits the same users.
    std::vector<std::string> visited;
    std::string token;
    do {
      auto info = store_->VisitUsers(service_, Request(size, token),
                                     [&](const UserView& u) { visited.emplace_back(u.identity); });
      ASSERT_THAT(info, IsOk());
      token = info->next_page_token;
    } while (!token.empty());
    EXPECT_EQ(visited, order) << "size=" << size;
  }
}

TEST_F(PagesTest, DeepPagesStartWhereTheTokenSays) {
  Populate(1000);
  std::vector<UserPage> pages = WalkForward(50);
  ASSERT_EQ(pages.size(), 20u);
  UserPage again = MustList(Request(50, pages[18].next_page_token));
  EXPECT_EQ(again.items.front().identity, "u950");
  EXPECT_EQ(again.items.back().identity, "u999");
}

TEST_F(PagesTest, RolesArePagedInCreationOrder) {
  MustCreateRole("r5", "deployment");
  MustCreateRole("r6", "channel");
  std::vector<std::string> names;
  ListRequest request = Request(4);
  for (;;) {
    auto page = store_->ListRoles(service_, request);
    ASSERT_THAT(page, IsOk());
    for (const Role& r : page->items) names.push_back(r.friendly_name);
    if (page->next_page_token.empty()) break;
    request.page_token = page->next_page_token;
  }
  EXPECT_THAT(names, ElementsAreArray({"service admin", "service user", "channel admin",
                                       "channel user", "r5", "r6"}));
}

TEST_F(PagesTest, RolesPageBackward) {
  MustCreateRole("r5", "deployment");
  auto first = store_->ListRoles(service_, Request(2));
  auto second = store_->ListRoles(service_, Request(2, first->next_page_token));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->items[0].friendly_name, "channel admin");
  auto back = store_->ListRoles(service_, Request(2, second->previous_page_token));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->items[0].friendly_name, "service admin");
  EXPECT_EQ(back->previous_page_token, "");
}

TEST_F(PagesTest, ServicesArePagedInCreationOrder) {
  for (int i = 0; i < 5; ++i)
    ASSERT_THAT(store_->CreateService(Named(absl::StrCat("s", i))), IsOk());
  std::vector<std::string> names;
  ListRequest request = Request(2);
  int pages = 0;
  for (;;) {
    auto page = store_->ListServices(request);
    ASSERT_THAT(page, IsOk());
    ++pages;
    for (const Service& s : page->items) names.push_back(s.friendly_name);
    if (page->next_page_token.empty()) break;
    request.page_token = page->next_page_token;
  }
  EXPECT_EQ(pages, 4);
  EXPECT_THAT(names, ElementsAreArray({"Default Conversations Service", "test service", "s0", "s1",
                                       "s2", "s3", "s4"}));
}

TEST_F(PagesTest, ServiceTokensSurviveServiceDeletion) {
  std::vector<std::string> sids;
  for (int i = 0; i < 4; ++i)
    sids.push_back(store_->CreateService(Named(absl::StrCat("s", i)))->sid);
  auto first = store_->ListServices(Request(3));  // default, test service, s0
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(store_->DeleteService(sids[0]), IsOk());
  ASSERT_THAT(store_->DeleteService(sids[1]), IsOk());
  auto second = store_->ListServices(Request(3, first->next_page_token));
  ASSERT_THAT(second, IsOk());
  ASSERT_EQ(second->items.size(), 2u);
  EXPECT_EQ(second->items[0].friendly_name, "s2");
  EXPECT_EQ(second->items[1].friendly_name, "s3");
}

TEST_F(PagesTest, ServiceTokensAreCheckedForSurface) {
  auto page = store_->ListServices(Request(1, "", Surface::kChatV2));
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(store_->ListServices(Request(1, page->next_page_token, Surface::kChatV1)),
              IsError(400, ErrorCode::kInvalidParameter));
}

}  // namespace
}  // namespace userstore
