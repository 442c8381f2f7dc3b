// Concurrency tests of `UserStore` (label `concurrency`; run clean under
// ThreadSanitizer): mixed operations from 8 threads, torn reads, page walks
// under concurrent inserts and deletes, linearizable get-or-create, role
// deletion racing with role assignment, and service deletion racing with user
// operations. Every test ends with `CheckInvariants()`.
//
// Each test does a bounded number of operations (no timing assumptions), so a
// slow machine or a sanitizer only makes it slower, never flaky.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/sid.h"

namespace userstore {
namespace {

constexpr int kThreads = 8;

// All threads leave Wait() together; reusable. Built on std atomics so that
// ThreadSanitizer sees the synchronization.
class SpinBarrier {
 public:
  explicit SpinBarrier(int parties) : parties_(parties) {}
  void Wait() {
    const int generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    while (generation_.load(std::memory_order_acquire) == generation) std::this_thread::yield();
  }

 private:
  const int parties_;
  std::atomic<int> arrived_{0};
  std::atomic<int> generation_{0};
};

// Runs `fn(thread_index)` on `n` threads and joins them.
template <typename Fn>
void RunThreads(int n, Fn fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int t = 0; t < n; ++t) threads.emplace_back([&fn, t] { fn(t); });
  for (auto& th : threads) th.join();
}

// Collects unexpected statuses from many threads; reports a few at the end.
class Problems {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (list_.size() < 20) list_.push_back(what);
    ++count_;
  }
  void Expect(const absl::Status& status, std::initializer_list<ErrorCode> allowed,
              const char* op) {
    if (status.ok()) return;
    const ErrorCode code = ErrorCodeOf(status);
    for (ErrorCode a : allowed) {
      if (a == code) return;
    }
    Add(absl::StrCat(op, ": ", status.ToString()));
  }
  void Check() {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(count_, 0) << "first problems:\n  " << absl::StrJoin(list_, "\n  ");
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
  int count_ = 0;
};

class ConcurrencyTest : public ::testing::Test {
 protected:
  ConcurrencyTest() {
    StoreOptions options;
    options.seed = 99;
    // The writes' early prefetch (taking shard reader locks before any other
    // lock) runs in every test here; these stores are far too small to turn
    // it on by themselves.
    options.early_prefetch_users = 0;
    store_ = std::make_unique<UserStore>(options);
  }

  std::string NewService(const std::string& name, bool reachability = false) {
    CreateServiceRequest req;
    req.friendly_name = name;
    absl::StatusOr<Service> s = store_->CreateService(req);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return "";
    if (reachability) {
      UpdateServiceRequest update;
      update.reachability_enabled = true;
      EXPECT_TRUE(store_->UpdateService(s->sid, update).ok());
    }
    return s->sid;
  }

  absl::StatusOr<User> Create(const std::string& service, const std::string& identity,
                              std::optional<std::string> friendly_name = std::nullopt,
                              std::optional<std::string> attributes = std::nullopt) {
    CreateUserRequest req;
    req.identity = identity;
    req.friendly_name = std::move(friendly_name);
    req.attributes = std::move(attributes);
    return store_->CreateUser(service, req);
  }

  void ExpectInvariants() {
    absl::Status s = store_->CheckInvariants();
    EXPECT_TRUE(s.ok()) << s;
  }

  std::unique_ptr<UserStore> store_;
};

TEST_F(ConcurrencyTest, MixedOperationsFromEightThreads) {
  std::vector<std::string> services = {NewService("one"), NewService("two", true),
                                       store_->default_conversation_service_sid()};
  Problems problems;
  std::atomic<int> created{0}, deleted{0};
  RunThreads(kThreads, [&](int t) {
    std::mt19937_64 rng(1000 + t);
    auto pick = [&](uint64_t n) { return rng() % n; };
    for (int i = 0; i < 1500; ++i) {
      const std::string& svc = services[pick(services.size())];
      // A small identity space shared by all threads: collisions are the point.
      const std::string identity = absl::StrCat("user", pick(40));
      switch (pick(12)) {
        case 0:
        case 1: {
          absl::StatusOr<User> u = Create(svc, identity, "n", R"({"t":1})");
          problems.Expect(u.status(), {ErrorCode::kUserAlreadyExists}, "create");
          if (u.ok()) created.fetch_add(1);
          break;
        }
        case 2:
        case 3: {
          absl::StatusOr<User> u = store_->GetUser(svc, identity);
          problems.Expect(u.status(), {ErrorCode::kNotFound}, "get by identity");
          if (u.ok()) {
            absl::StatusOr<User> by_sid = store_->GetUser(svc, u->sid);
            problems.Expect(by_sid.status(), {ErrorCode::kNotFound}, "get by sid");
            if (by_sid.ok() && by_sid->identity != identity) problems.Add("sid/identity mismatch");
          }
          break;
        }
        case 4:
        case 5: {
          UpdateUserRequest req;
          req.friendly_name = absl::StrCat("t", t, "-", i);
          req.attributes = absl::StrCat(R"({"i":)", i, "}");
          absl::StatusOr<User> u = store_->UpdateUser(svc, identity, req);
          problems.Expect(u.status(), {ErrorCode::kNotFound}, "update");
          if (u.ok() && u->friendly_name != req.friendly_name) problems.Add("update lost");
          break;
        }
        case 6: {
          absl::Status s = store_->DeleteUser(svc, identity);
          problems.Expect(s, {ErrorCode::kNotFound}, "delete");
          if (s.ok()) deleted.fetch_add(1);
          break;
        }
        case 7: {
          ListRequest req;
          req.page_size = 1 + static_cast<int64_t>(pick(15));
          std::set<std::string> seen;
          for (int page = 0; page < 10; ++page) {
            absl::StatusOr<UserPage> p = store_->ListUsers(svc, req);
            problems.Expect(p.status(), {}, "list");
            if (!p.ok()) break;
            for (const User& u : p->items) {
              if (!seen.insert(u.sid).second) problems.Add("list returned a user twice");
              if (u.is_online.has_value()) problems.Add("presence in a list");
            }
            if (p->next_page_token.empty()) break;
            req.page_token = p->next_page_token;
          }
          break;
        }
        case 8: {
          CreateUserRequest req;
          req.identity = identity;
          absl::StatusOr<GetOrCreateResult> r = store_->GetOrCreateUser(svc, req);
          problems.Expect(r.status(), {}, "get-or-create");
          if (r.ok() && r->created) created.fetch_add(1);
          break;
        }
        case 9: {
          PresenceUpdate update;
          update.is_online = pick(2) == 0;
          problems.Expect(store_->SetPresence(svc, identity, update).status(),
                          {ErrorCode::kNotFound}, "presence");
          break;
        }
        case 10:
          problems.Expect(store_->JoinChannel(svc, identity).status(), {ErrorCode::kNotFound},
                          "join");
          break;
        default:
          problems.Expect(store_->LeaveChannel(svc, identity).status(),
                          {ErrorCode::kNotFound, ErrorCode::kInvalidParameter}, "leave");
          break;
      }
      if (t == 0 && i % 300 == 0) {
        // Invariants hold at every instant, not only when the threads stop.
        absl::Status inv = store_->CheckInvariants();
        if (!inv.ok()) problems.Add("CheckInvariants during the run: " + inv.ToString());
      }
    }
  });
  problems.Check();
  int64_t total = 0;
  for (const std::string& svc : services) {
    absl::StatusOr<int64_t> n = store_->CountUsers(svc);
    ASSERT_TRUE(n.ok()) << n.status();
    total += *n;
  }
  EXPECT_EQ(total, created.load() - deleted.load());
  ExpectInvariants();
}

// A writer always changes `friendly_name` and `attributes` together (and both
// presence flags together); a reader must never see one without the other.
TEST_F(ConcurrencyTest, ReadersNeverSeeATornUser) {
  const std::string svc = NewService("torn", /*reachability=*/true);
  constexpr int kUsers = 4;
  std::vector<std::string> sids;
  for (int u = 0; u < kUsers; ++u) {
    absl::StatusOr<User> user = Create(svc, absl::StrCat("p", u), "v0", R"({"v":0})");
    ASSERT_TRUE(user.ok()) << user.status();
    sids.push_back(user->sid);
  }
  auto consistent = [](const User& u) {
    if (!u.friendly_name.has_value() || u.friendly_name->size() < 2) return false;
    if (u.attributes != absl::StrCat(R"({"v":)", u.friendly_name->substr(1), "}")) return false;
    if (u.is_online != u.is_notifiable) return false;
    return u.date_updated >= u.date_created;
  };
  Problems problems;
  std::atomic<int> writers_done{0};
  constexpr int kWriters = 3;
  RunThreads(kThreads, [&](int t) {
    if (t < kWriters) {
      for (int n = 1; n <= 600; ++n) {
        UpdateUserRequest req;
        const int v = n * kWriters + t;
        req.friendly_name = absl::StrCat("v", v);
        req.attributes = absl::StrCat(R"({"v":)", v, "}");
        const std::string& sid = sids[n % kUsers];
        problems.Expect(store_->UpdateUser(svc, sid, req).status(), {}, "update");
        PresenceUpdate presence;
        presence.is_online = presence.is_notifiable = (n % 2 == 0);
        problems.Expect(store_->SetPresence(svc, sid, presence).status(), {}, "presence");
      }
      writers_done.fetch_add(1);
      return;
    }
    int reads = 0;
    while (writers_done.load() < kWriters || reads < 200) {
      ++reads;
      const int u = reads % kUsers;
      // By SID (the one-shard fast path), by identity (the service path) and
      // through a list (presence is null there, so only the text pair).
      absl::StatusOr<User> by_sid = store_->GetUser(svc, sids[u]);
      if (!by_sid.ok() || !consistent(*by_sid)) {
        problems.Add("torn read by SID: " + (by_sid.ok() ? by_sid->attributes : "error"));
      }
      absl::StatusOr<User> by_identity = store_->GetUser(svc, absl::StrCat("p", u));
      if (!by_identity.ok() || !consistent(*by_identity)) problems.Add("torn read by identity");
      // The zero-copy reads check the view itself, under the store's lock.
      bool view_consistent = false;
      const absl::Status viewed =
          store_->ReadUser(svc, reads % 2 == 0 ? sids[u] : absl::StrCat("p", u),
                           [&](const UserView& v) { view_consistent = consistent(v.ToUser()); });
      if (!viewed.ok() || !view_consistent) problems.Add("torn read through ReadUser");
      if (reads % 8 == 0) {
        ListRequest req;
        req.page_size = kUsers;
        absl::StatusOr<UserPage> page = store_->ListUsers(svc, req);
        if (!page.ok() || page->items.size() != kUsers) {
          problems.Add("list failed");
        } else {
          for (User item : page->items) {
            item.is_online = item.is_notifiable;  // null in lists: compare the text pair only
            if (!consistent(item)) problems.Add("torn read in a list");
          }
        }
        absl::StatusOr<PageInfo> visited = store_->VisitUsers(svc, req, [&](const UserView& v) {
          if (!consistent(v.ToUser())) problems.Add("torn read through VisitUsers");
        });
        if (!visited.ok() || visited->item_count != kUsers) problems.Add("visit failed");
      }
    }
  });
  problems.Check();
  ExpectInvariants();
}

// A walker follows page tokens while other threads append users and delete
// others. Every user that existed for the whole walk must appear exactly once,
// and the walk must be in creation order with no duplicates.
TEST_F(ConcurrencyTest, PagesStayConsistentUnderConcurrentInsertsAndDeletes) {
  const std::string svc = NewService("pages");
  // Creation order, from the feed: creates are numbered in commit order.
  std::mutex order_mu;
  std::map<std::string, int64_t> creation_index;
  int64_t next_index = 0;
  store_->Subscribe([&](const ChangeEvent& e) {
    if (e.entity == ChangeEvent::Entity::kUser && e.op == ChangeEvent::Op::kCreate &&
        e.user->service_sid == svc) {
      std::lock_guard<std::mutex> lock(order_mu);
      creation_index[e.user->sid] = next_index++;
    }
  });
  constexpr int kInitial = 300;
  std::vector<std::string> stable, doomed;
  for (int i = 0; i < kInitial; ++i) {
    absl::StatusOr<User> u = Create(svc, absl::StrCat("init", i));
    ASSERT_TRUE(u.ok()) << u.status();
    (i % 3 == 0 ? stable : doomed).push_back(u->sid);
  }
  std::shuffle(doomed.begin(), doomed.end(), std::mt19937(5));

  constexpr int kWalkers = 3;
  constexpr int kWalksEach = 6;
  std::vector<std::vector<std::vector<std::string>>> walks(kWalkers);
  Problems problems;
  SpinBarrier start(kThreads);
  RunThreads(kThreads, [&](int t) {
    start.Wait();
    if (t < kWalkers) {
      std::mt19937_64 rng(t);
      for (int w = 0; w < kWalksEach; ++w) {
        std::vector<std::string> walk;
        ListRequest req;
        req.surface =
            t == 0 ? Surface::kCpp : (t == 1 ? Surface::kChatV2 : Surface::kConversations);
        for (int page = 0; page < 10000; ++page) {
          req.page_size = 1 + static_cast<int64_t>(rng() % 25);
          absl::StatusOr<UserPage> p = store_->ListUsers(svc, req);
          if (!p.ok()) {
            problems.Add("list: " + p.status().ToString());
            break;
          }
          for (const User& u : p->items) walk.push_back(u.sid);
          if (p->next_page_token.empty()) break;
          req.page_token = p->next_page_token;
        }
        walks[t].push_back(std::move(walk));
      }
    } else if (t < kWalkers + 2) {
      // Inserters: new users land at the end.
      for (int i = 0; i < 150; ++i) {
        problems.Expect(Create(svc, absl::StrCat("new", t, "-", i)).status(), {}, "create");
      }
    } else {
      // Deleters: disjoint slices of the doomed users.
      const int deleters = kThreads - kWalkers - 2;
      const int me = t - kWalkers - 2;
      for (size_t i = me; i < doomed.size(); i += deleters) {
        problems.Expect(store_->DeleteUser(svc, doomed[i]), {}, "delete");
      }
    }
  });
  problems.Check();

  std::lock_guard<std::mutex> lock(order_mu);
  for (int t = 0; t < kWalkers; ++t) {
    for (const auto& walk : walks[t]) {
      std::set<std::string> seen;
      int64_t last = -1;
      for (const std::string& sid : walk) {
        ASSERT_TRUE(seen.insert(sid).second) << "duplicate in a walk: " << sid;
        auto it = creation_index.find(sid);
        ASSERT_NE(it, creation_index.end()) << "a walk returned an unknown user";
        ASSERT_GT(it->second, last) << "a walk is out of creation order";
        last = it->second;
      }
      for (const std::string& sid : stable) {
        ASSERT_EQ(seen.count(sid), 1u) << "a user alive for the whole walk was skipped";
      }
    }
  }
  ExpectInvariants();
}

TEST_F(ConcurrencyTest, GetOrCreateIsLinearizable) {
  const std::string svc = NewService("goc");
  constexpr int kRacers = 16;
  constexpr int kRounds = 40;
  std::atomic<int> added_hooks{0};
  store_->AddHook(HookType::kOnUserAdded, [&](const UserEvent&) {
    added_hooks.fetch_add(1);
    return absl::OkStatus();
  });
  SpinBarrier barrier(kRacers);
  std::vector<std::vector<std::string>> sids(kRounds, std::vector<std::string>(kRacers));
  std::vector<std::vector<int>> created(kRounds, std::vector<int>(kRacers));
  Problems problems;
  RunThreads(kRacers, [&](int t) {
    for (int round = 0; round < kRounds; ++round) {
      CreateUserRequest req;
      req.identity = absl::StrCat("shared-", round);
      req.friendly_name = absl::StrCat("by thread ", t);
      req.webhooks_enabled = true;
      barrier.Wait();
      absl::StatusOr<GetOrCreateResult> r = store_->GetOrCreateUser(svc, req);
      if (!r.ok()) {
        problems.Add(r.status().ToString());
        continue;
      }
      sids[round][t] = r->user.sid;
      created[round][t] = r->created ? 1 : 0;
    }
  });
  problems.Check();
  for (int round = 0; round < kRounds; ++round) {
    int makers = 0;
    for (int t = 0; t < kRacers; ++t) {
      EXPECT_EQ(sids[round][t], sids[round][0]) << "round " << round;
      makers += created[round][t];
    }
    EXPECT_EQ(makers, 1) << "round " << round;
  }
  EXPECT_EQ(added_hooks.load(), kRounds);  // onUserAdded fired once per new user
  absl::StatusOr<int64_t> n = store_->CountUsers(svc);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, kRounds);
  ExpectInvariants();
}

// Creates in several services at once each take the seeded generator's next
// SID (chosen before the identity check, taken after it): together they
// spend exactly the next values of the sequence, none twice and none
// skipped, and a create refused because its identity is taken spends none.
TEST_F(ConcurrencyTest, ConcurrentCreatesSpendTheSeededSequenceExactly) {
  constexpr int kServices = 4;
  constexpr int kPerThread = 300;
  std::vector<std::string> services;
  for (int s = 0; s < kServices; ++s) services.push_back(NewService(absl::StrCat("seq", s)));
  // Where the sequence stands: the index of the next SID in SidGenerator(99).
  absl::StatusOr<User> marker = Create(services[0], "marker");
  ASSERT_TRUE(marker.ok()) << marker.status();
  internal::SidGenerator generator(99);
  std::optional<internal::Sid128> marker_sid = internal::ParseSid("US", marker->sid);
  ASSERT_TRUE(marker_sid.has_value());
  int skipped = 0;
  while (generator.Next() != *marker_sid) ASSERT_LT(++skipped, 100000);

  SpinBarrier barrier(kThreads);
  std::vector<std::vector<std::string>> sids(kThreads);
  std::atomic<int> refused{0};
  Problems problems;
  RunThreads(kThreads, [&](int t) {
    // Two threads per service; both also try the same "both-i" identities.
    const std::string& service = services[t % kServices];
    barrier.Wait();
    for (int i = 0; i < kPerThread; ++i) {
      for (const std::string& identity :
           {absl::StrCat("own-", t, "-", i), absl::StrCat("both-", i)}) {
        absl::StatusOr<User> user = Create(service, identity);
        if (user.ok()) {
          sids[t].push_back(user->sid);
        } else if (ErrorCodeOf(user.status()) == ErrorCode::kUserAlreadyExists) {
          refused.fetch_add(1);
        } else {
          problems.Add(user.status().ToString());
        }
      }
    }
  });
  problems.Check();
  // Per service, one of its two threads made each "both-i".
  EXPECT_EQ(refused.load(), kServices * kPerThread);

  std::set<std::string> got;
  size_t made = 0;
  for (const auto& list : sids) {
    made += list.size();
    got.insert(list.begin(), list.end());
  }
  EXPECT_EQ(got.size(), made) << "a SID was handed out twice";
  std::set<std::string> expected;
  for (size_t i = 0; i < made; ++i) expected.insert(internal::FormatSid("US", generator.Next()));
  EXPECT_EQ(got, expected);
  ExpectInvariants();
}

// Deleting a role while other threads assign it: each assignment either lands
// before the delete (and the delete is refused as in use) or fails with
// 50100; role counts stay exact (CheckInvariants).
TEST_F(ConcurrencyTest, RoleDeleteRacesWithAssignment) {
  const std::string svc = NewService("roles");
  std::vector<std::string> users;
  for (int i = 0; i < 16; ++i) {
    absl::StatusOr<User> u = Create(svc, absl::StrCat("r", i));
    ASSERT_TRUE(u.ok());
    users.push_back(u->sid);
  }
  absl::StatusOr<Service> service = store_->GetService(svc);
  ASSERT_TRUE(service.ok());
  const std::string default_role = service->default_service_role_sid;
  Problems problems;
  for (int round = 0; round < 20; ++round) {
    CreateRoleRequest role_req;
    role_req.friendly_name = absl::StrCat("temp", round);
    role_req.type = "deployment";
    role_req.permissions = {"sendMessage"};
    absl::StatusOr<Role> role = store_->CreateRole(svc, role_req);
    ASSERT_TRUE(role.ok()) << role.status();
    std::atomic<bool> role_deleted{false};
    SpinBarrier barrier(kThreads);
    RunThreads(kThreads, [&](int t) {
      barrier.Wait();
      if (t == 0) {
        for (int attempt = 0; attempt < 50 && !role_deleted.load(); ++attempt) {
          absl::Status s = store_->DeleteRole(svc, role->sid);
          problems.Expect(s, {ErrorCode::kRoleInUse}, "delete role");
          if (s.ok()) role_deleted.store(true);
          // Move users off the role so the delete can succeed eventually.
          for (const std::string& user : users) {
            UpdateUserRequest back;
            back.role_sid = default_role;
            problems.Expect(store_->UpdateUser(svc, user, back).status(), {}, "unassign");
          }
        }
        return;
      }
      for (int i = 0; i < 20; ++i) {
        UpdateUserRequest req;
        req.role_sid = role->sid;
        absl::StatusOr<User> u = store_->UpdateUser(svc, users[(t * 7 + i) % users.size()], req);
        problems.Expect(u.status(), {ErrorCode::kRoleNotFound}, "assign");
        if (!u.ok() && !role_deleted.load()) {
          // 50100 before the delete returned is fine only if the delete
          // committed already; check that the role is really gone.
          if (store_->GetRole(svc, role->sid).ok()) problems.Add("50100 for a live role");
        }
      }
    });
    // Whatever the interleaving: a role still assigned still exists.
    ExpectInvariants();
  }
  problems.Check();
}

// A service deleted while 7 threads work on its users: every call returns OK
// or 404, and every call that starts after DeleteService returned is a 404.
TEST_F(ConcurrencyTest, ServiceDeleteConcurrentWithUserOperations) {
  Problems problems;
  for (int round = 0; round < 6; ++round) {
    const std::string svc = NewService(absl::StrCat("doomed", round), round % 2 == 0);
    std::vector<std::string> sids;
    for (int i = 0; i < 40; ++i) {
      absl::StatusOr<User> u = Create(svc, absl::StrCat("d", i));
      ASSERT_TRUE(u.ok());
      sids.push_back(u->sid);
    }
    std::atomic<bool> gone{false};
    std::atomic<int> ops_done{0};
    RunThreads(kThreads, [&](int t) {
      if (t == 0) {
        while (ops_done.load() < 200 + 150 * round) std::this_thread::yield();
        EXPECT_TRUE(store_->DeleteService(svc).ok());
        gone.store(true);
        return;
      }
      std::mt19937_64 rng(t * 31 + round);
      for (int i = 0; i < 400; ++i) {
        const bool after = gone.load();
        const std::string& sid = sids[rng() % sids.size()];
        absl::Status status;
        switch (rng() % 8) {
          case 0:
            status = Create(svc, absl::StrCat("x", t, "-", i)).status();
            break;
          case 1:
            // By SID and by identity: the two one-shard fast paths.
            status =
                store_->GetUser(svc, rng() % 2 == 0 ? sid : absl::StrCat("d", rng() % 40)).status();
            break;
          case 2: {
            UpdateUserRequest req;
            req.attributes = absl::StrCat("[", i, "]");
            status = store_->UpdateUser(svc, sid, req).status();
            break;
          }
          case 3: {
            ListRequest req;
            req.page_size = 7;
            status = store_->ListUsers(svc, req).status();
            break;
          }
          case 4:
            status = store_->JoinChannel(svc, sid).status();
            break;
          case 5: {
            PresenceUpdate p;
            p.is_notifiable = true;
            status = store_->SetPresence(svc, sid, p).status();
            break;
          }
          case 6:
            status = store_->CountUsers(svc).status();
            break;
          default: {
            CreateUserRequest req;
            req.identity = absl::StrCat("d", rng() % 60);
            status = store_->GetOrCreateUser(svc, req).status();
            break;
          }
        }
        ops_done.fetch_add(1);
        // Deleting users is left out so that "OK or 404" is the whole contract.
        if (!status.ok() && ErrorCodeOf(status) != ErrorCode::kNotFound) {
          problems.Add("round " + std::to_string(round) + ": " + status.ToString());
        }
        if (after && ErrorCodeOf(status) != ErrorCode::kNotFound) {
          problems.Add("a call after DeleteService returned did not get 404");
        }
      }
    });
    EXPECT_EQ(ErrorCodeOf(store_->GetService(svc).status()), ErrorCode::kNotFound);
    for (const std::string& sid : sids) {
      EXPECT_EQ(ErrorCodeOf(store_->GetUser(svc, sid).status()), ErrorCode::kNotFound);
    }
    EXPECT_EQ(ErrorCodeOf(store_->GetUser(svc, "d0").status()), ErrorCode::kNotFound);
    ExpectInvariants();
  }
  problems.Check();
}

// Snapshots and invariant walks (which take every lock shared) run while
// writers work on several services; each snapshot is internally consistent:
// every user's service and role come before it.
TEST_F(ConcurrencyTest, SnapshotsDuringWritesAreConsistent) {
  std::vector<std::string> services = {NewService("s1"), NewService("s2")};
  Problems problems;
  std::atomic<int> writers_done{0};
  constexpr int kWriters = kThreads - 2;
  RunThreads(kThreads, [&](int t) {
    if (t < kWriters) {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 400; ++i) {
        const std::string& svc = services[rng() % services.size()];
        const std::string identity = absl::StrCat("w", rng() % 50);
        if (rng() % 3 == 0) {
          problems.Expect(store_->DeleteUser(svc, identity), {ErrorCode::kNotFound}, "delete");
        } else {
          problems.Expect(Create(svc, identity).status(), {ErrorCode::kUserAlreadyExists},
                          "create");
        }
      }
      writers_done.fetch_add(1);
      return;
    }
    while (writers_done.load() < kWriters) {
      if (t == kWriters) {
        UserStore::SnapshotData snap = store_->Snapshot();
        std::set<std::string> services_seen, roles_seen, users_seen;
        for (const ChangeEvent& e : snap.events) {
          if (e.sequence != 0) problems.Add("a snapshot event has a sequence");
          if (e.service) services_seen.insert(e.service->sid);
          if (e.role) {
            if (!services_seen.count(e.role->service_sid)) problems.Add("role before service");
            roles_seen.insert(e.role->sid);
          }
          if (e.user) {
            if (!services_seen.count(e.user->service_sid)) problems.Add("user before service");
            if (!roles_seen.count(e.user->role_sid)) problems.Add("user before its role");
            if (!users_seen.insert(e.user->sid).second) problems.Add("user twice in a snapshot");
          }
        }
        if (snap.sequence > store_->last_sequence()) problems.Add("snapshot from the future");
      } else {
        absl::Status s = store_->CheckInvariants();
        if (!s.ok()) problems.Add("CheckInvariants: " + s.ToString());
      }
    }
  });
  problems.Check();
  ExpectInvariants();
}

}  // namespace
}  // namespace userstore
